#!/usr/bin/env bash
# The economics report next to the retention report on the same data and window shape, whole-process timings.
#
#   bench/economics.sh [EVENTS] [REPS]        # default 10000000 events, 3 repetitions
#
# Generates EVENTS events of one app (`liucun gen --seed 42 --apps 1`, kept under bench/data/economics-EVENTS),
# imports and compacts them once, then times each shape: `liucun economics` (priced with the demo's price table)
# and `liucun retention` (first-time, same period, intervals, window, time zone and breakdown), one after the other, median
# of REPS. Economics is timed twice: "first" with the costing records cache emptied before the run (the run that
# derives them, as after new data or new price tables), then the median of REPS runs that read them.
# Ratio = economics / retention: economics.md asks for at most 2.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
reps=${2:-3}
cargo build --release -p liucun-cli
bin=$PWD/target/release/liucun
dir=bench/data/economics-$n
mkdir -p "$dir"
if [ ! -d "$dir/data" ]; then
  "$bin" gen --events "$n" --seed 42 --apps 1 --out "$dir/events.parquet" > /dev/null
  "$bin" --data "$dir/data" import --quiet --project lanting "$dir/events.parquet"
  "$bin" --data "$dir/data" compact > /dev/null
fi
prices=crates/cli/src/demo_prices.toml
as_of=2025-06-01T00:00:00Z

# name | flags of both reports (window, zone, breakdown) | economics-only flags
shapes=(
  "month x3|--period month --intervals 3 --from 2025-01-01 --to 2025-03-31|"
  "week x12|--period week --intervals 12 --from 2025-01-01 --to 2025-03-31|"
  "day x30|--period day --intervals 30 --from 2025-01-01 --to 2025-01-30|"
  "month x3 Asia/Shanghai|--period month --intervals 3 --from 2025-01-01 --to 2025-03-31 --tz Asia/Shanghai|"
  "month x3 by \$ai_model|--period month --intervals 3 --from 2025-01-01 --to 2025-03-31 --breakdown \$ai_model|"
  "month x3 by person country|--period month --intervals 3 --from 2025-01-01 --to 2025-03-31 --breakdown person:country|"
)

ms() { # median whole-process milliseconds of REPS runs of "$@"
  local t=()
  for _ in $(seq "$reps"); do
    local s e
    s=$(date +%s%N)
    "$@" > /dev/null
    e=$(date +%s%N)
    t+=($(((e - s) / 1000000)))
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

echo "$n events, median of $reps, whole process (ms); $(nproc) cores; $(git rev-parse --short HEAD)"
printf '| %-28s | %10s | %10s | %10s | %6s | %6s |\n' shape 'econ first' economics retention first ratio
printf '|%s|%s|%s|%s|%s|%s|\n' "------------------------------" "-----------:" "-----------:" "-----------:" "-------:" "-------:"
for s in "${shapes[@]}"; do
  IFS='|' read -r name window extra <<< "$s"
  rm -rf "$dir/data/derived"
  # shellcheck disable=SC2086
  f=$(reps=1 ms "$bin" --data "$dir/data" economics -p lanting $window $extra --prices "$prices" --as-of "$as_of" --format json)
  # shellcheck disable=SC2086
  e=$(ms "$bin" --data "$dir/data" economics -p lanting $window $extra --prices "$prices" --as-of "$as_of" --format json)
  # shellcheck disable=SC2086
  r=$(ms "$bin" --data "$dir/data" retention -p lanting --type first-time $window --as-of "$as_of" --format json)
  printf '| %-28s | %10s | %10s | %10s | %5.2fx | %5.2fx |\n' "$name" "$f" "$e" "$r" \
    "$(echo "$f / $r" | bc -l)" "$(echo "$e / $r" | bc -l)"
done
