#!/usr/bin/env bash
# Import throughput of liucun on generated data: NDJSON and Parquet, whole-process timings.
#
#   bench/import.sh [EVENTS]        # default 10000000
#
# Generates EVENTS events of one app with `liucun gen --seed 42 --apps 1` in both formats (once, kept under
# bench/data/import-EVENTS), imports each into a fresh data directory and prints events/s. Needs a few GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
cargo build --release -p liucun-cli
bin=target/release/liucun
dir=bench/data/import-$n
mkdir -p "$dir"
for ext in parquet ndjson; do
  if [ ! -f "$dir/events.$ext" ]; then
    "$bin" gen --events "$n" --seed 42 --apps 1 --out "$dir/events.$ext" > /dev/null
  fi
done
for ext in parquet ndjson; do
  rm -rf "$dir/data-$ext"
  start=$(date +%s.%N)
  "$bin" --data "$dir/data-$ext" import --quiet --project bench "$dir/events.$ext"
  end=$(date +%s.%N)
  python3 -c "import sys; n=$n; s=$end-$start; print(f'$ext: {n} events in {s:.1f} s = {n/s:,.0f} events/s (whole process)')"
  rm -rf "$dir/data-$ext"
done
