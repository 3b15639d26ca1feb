#!/usr/bin/env bash
# The floor under Parquet import, next to liucun import, on the same file and in the same run.
#
#   bench/import_floor.sh [EVENTS] [RUNS]     # defaults 10000000 and 3
#
# The floor is `copy_floor` (crates/store/examples/copy_floor.rs): it reads the Parquet file and writes its columns
# back with the segment writer's settings, one row group per core, and does nothing else. No importer that reads
# the file and writes zstd Parquet with arrow-rs can beat it on the same machine. Runs alternate (floor, import)
# RUNS times; each line is one whole process, with its user and system CPU time. Uses the data of bench/import.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
runs=${2:-3}
cargo build --release -p liucun-cli -p liucun-store --example copy_floor
bin=target/release/liucun
dir=bench/data/import-$n
mkdir -p "$dir"
if [ ! -f "$dir/events.parquet" ]; then
  "$bin" gen --events "$n" --seed 42 --apps 1 --out "$dir/events.parquet" > /dev/null
fi
timed() {
  local name=$1
  shift
  /usr/bin/time -f "$name %e %U %S" -o "$dir/time.txt" "$@" > /dev/null
  read -r _ wall user sys < "$dir/time.txt"
  python3 -c "n=$n; w=$wall; print(f'$name: {w:.2f} s wall, {$user+$sys:.1f} s CPU, {n/w:,.0f} events/s')"
  echo "$name $wall" >> "$dir/floor-runs.txt"
}
rm -f "$dir/floor-runs.txt"
for _ in $(seq "$runs"); do
  rm -rf "$dir/floor-out" "$dir/data-floor"
  timed floor target/release/examples/copy_floor "$dir/events.parquet" "$dir/floor-out"
  timed import "$bin" --data "$dir/data-floor" import --quiet --project bench "$dir/events.parquet"
done
rm -rf "$dir/floor-out" "$dir/data-floor" "$dir/time.txt"
python3 - "$dir/floor-runs.txt" "$n" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, wall = line.split()
    runs.setdefault(name, []).append(float(wall))
n = int(sys.argv[2])
floor, imp = statistics.median(runs["floor"]), statistics.median(runs["import"])
print(f"medians: floor {n/floor:,.0f} events/s, import {n/imp:,.0f} events/s; import takes {imp/floor:.2f}x the floor")
PY
