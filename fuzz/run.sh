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
# cargo-fuzz is used from PATH when present, else installed into the repository's .tools/ (ignored by git), never
# globally. libFuzzer's own output (tens of thousands of status lines) goes to fuzz/target/logs/<target>.log; this
# script prints a few summary lines per target, and the whole log when the target fails.
#
# Crash inputs go to fuzz/artifacts/<target>/; replay one with
#   cargo fuzz run --fuzz-dir fuzz --sanitizer none --debug-assertions <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${1:-60}"

tools="$root/.tools"
export PATH="$tools/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz into $tools (once)"
  cargo install cargo-fuzz --locked --quiet --root "$tools"
fi
logs="$root/fuzz/target/logs"
mkdir -p "$logs"

# libFuzzer adds the inputs it finds to the first corpus directory, so the committed seeds stay as they are and
# the grown corpus lives in the fuzz crate's own (ignored) target directory between runs.
for target in capture properties; do
  grown="$root/fuzz/target/corpus/$target"
  mkdir -p "$grown"
  log="$logs/$target.log"
  status=0
  cargo fuzz run --fuzz-dir fuzz --sanitizer none --debug-assertions "$target" \
    "$grown" "$root/fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  if [[ $status -ne 0 ]]; then
    echo "fuzz target $target FAILED (exit $status); its whole log ($log):"
    cat "$log"
    exit "$status"
  fi
  # The final status line ("#N DONE cov: … corp: …") and the final stats: runs, speed, memory.
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | tail -n 1 | awk '{print $2}' || true)
  speed=$(grep -E '^stat::average_exec_per_sec' "$log" | tail -n 1 | awk '{print $2}' || true)
  rss=$(grep -E '^stat::peak_rss_mb' "$log" | tail -n 1 | awk '{print $2}' || true)
  echo "fuzz target $target ok: ${runs:-?} runs in ${seconds}s (${speed:-?}/s, peak ${rss:-?} MB); ${done_line:-no final status line}"
  echo "  full log: $log ($(wc -l <"$log") lines)"
done
