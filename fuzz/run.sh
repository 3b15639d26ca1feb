#!/usr/bin/env bash
# Runs each fuzz target (`capture`, then `properties`) for SECONDS (default 60) with one worker, on the stable toolchain, and fails on any
# crash, panic, broken invariant, timeout or out-of-memory. Usage: bash fuzz/run.sh [SECONDS]
#
# Stable recipe: `--sanitizer none`. cargo-fuzz's default AddressSanitizer is enabled with `-Zsanitizer=address`,
# which only nightly accepts. Without a sanitizer it passes only stable flags (`-Cpasses=sancov-module`,
# `-Cllvm-args=-sanitizer-coverage-*`, `--cfg fuzzing`), so neither nightly nor RUSTC_BOOTSTRAP is needed. The
# workspace denies unsafe code, so the coverage-guided search and the target's assertions are what find bugs here.
# `--debug-assertions` keeps overflow checks on in the optimised build: an overflow in time arithmetic is a bug.
#
# Crash inputs go to fuzz/artifacts/<target>/; replay one with
#   cargo fuzz run --fuzz-dir fuzz --sanitizer none --debug-assertions <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${1:-60}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# libFuzzer adds the inputs it finds to the first corpus directory, so the committed seeds stay as they are and
# the grown corpus lives in the fuzz crate's own (ignored) target directory between runs.
for target in capture properties; do
  grown="$root/fuzz/target/corpus/$target"
  mkdir -p "$grown"
  cargo fuzz run --fuzz-dir fuzz --sanitizer none --debug-assertions "$target" \
    "$grown" "$root/fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
