#!/usr/bin/env bash
# Retention across window shapes, two liucun binaries side by side on one data directory (before/after a change).
#
#   bench/retention_shapes.sh DATA_DIR PROJECT BIN_BEFORE BIN_AFTER [REPS]     # REPS defaults to 3
#
# For each shape: the whole-process time of each binary (median of REPS cold runs, alternating), the warm time
# (`--repeat 5`, median of runs 2-5 as printed on stderr), and a byte comparison of the two JSON outputs; a
# difference stops the script. Shapes: daily first-time over the whole history in UTC, Asia/Shanghai and
# Asia/Kolkata (a half-hour offset, read per event), weekly and monthly, the 30 x 30 window, recurring, a named
# returning event, cumulative, and first-ever. Data: any directory, e.g. bench/data/economics-N/data (project
# lanting) or bench/data/N/liucun, both 90 days from 2025-01-01.
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: bench/retention_shapes.sh DATA_DIR PROJECT BIN_BEFORE BIN_AFTER [REPS]" >&2
  exit 2
fi
data=$1 project=$2 before=$3 after=$4 reps=${5:-3}
as_of=2025-06-01T00:00:00Z
all="--from 2025-01-01 --to 2025-03-31"
shapes=(
  "day 90x31 first-time|--type first-time --period day --intervals 31 $all"
  "day 90x31 Asia/Shanghai|--type first-time --period day --intervals 31 $all --tz Asia/Shanghai"
  "day 90x31 Asia/Kolkata|--type first-time --period day --intervals 31 $all --tz Asia/Kolkata"
  "week x12 first-time|--type first-time --period week --intervals 12 $all"
  "month x3 first-time|--type first-time --period month --intervals 3 $all"
  "day 30x30 first-time|--type first-time --period day --intervals 30 --from 2025-01-01 --to 2025-01-30"
  "day 90x31 recurring|--type recurring --period day --intervals 31 $all"
  "day 90x31 returning chat_message|--type first-time --period day --intervals 31 $all --returning chat_message"
  "day 90x31 cumulative|--type first-time --period day --intervals 31 $all --cumulative"
  "day 90x31 first-ever|--type first-ever --period day --intervals 31 $all"
)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cold() { # median whole-process ms of REPS runs of BIN ARGS..., output kept in $out/$tag
  local tag=$1 bin=$2; shift 2
  local t=()
  for _ in $(seq "$reps"); do
    local s e
    s=$(date +%s%N)
    "$bin" --data "$data" retention -p "$project" "$@" --as-of "$as_of" --format json > "$out/$tag"
    e=$(date +%s%N)
    t+=($(((e - s) / 1000000)))
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

warm() { # median of the in-process runs 2-5 (ms)
  local bin=$1; shift
  "$bin" --data "$data" retention -p "$project" "$@" --as-of "$as_of" --format json --repeat 5 2>&1 > /dev/null \
    | awk '/^run [2-5]\/5:/ {print $3}' | sort -n | awk '{a[NR]=$1} END {printf "%.1f", (a[2]+a[3])/2}'
}

echo "$data ($project), median of $reps cold runs, whole process; warm: median of in-process runs 2-5; $(nproc) cores"
echo "before: $before; after: $after"
echo
echo "| shape | before cold (ms) | after cold (ms) | cold ratio | before warm (ms) | after warm (ms) | warm ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for s in "${shapes[@]}"; do
  IFS='|' read -r name flags <<< "$s"
  # shellcheck disable=SC2086
  b=$(cold before "$before" $flags)
  # shellcheck disable=SC2086
  a=$(cold after "$after" $flags)
  if ! cmp -s "$out/before" "$out/after"; then
    echo "$name: the two binaries print different reports" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  bw=$(warm "$before" $flags)
  # shellcheck disable=SC2086
  aw=$(warm "$after" $flags)
  printf '| %s | %s | %s | %.2fx | %s | %s | %.2fx |\n' "$name" "$b" "$a" "$(echo "$b / $a" | bc -l)" \
    "$bw" "$aw" "$(echo "$bw / $aw" | bc -l)"
done
