#!/usr/bin/env bash
# Import throughput of liucun, DuckDB and Polars on the same files, NDJSON and Parquet, whole-process timings.
#
#   bench/import_peers.sh [EVENTS]                    # default 10000000
#   bench/import_peers.sh --files NDJSON PARQUET      # a given pair of event files instead (e.g. a sample)
#
# Generates EVENTS events of one app with `liucun gen --seed 42 --apps 1` in both formats (once, kept under
# bench/data/import-EVENTS, shared with bench/import.sh), sets up bench/.venv with the DuckDB, Polars and PyArrow
# versions pinned in bench/requirements.txt, then runs, one after the other and each as a whole process timed by
# /usr/bin/time:
#   liucun   `liucun --data TMP import --quiet --project bench FILE`
#   duckdb   `bench/import_peers.py import duckdb FILE TMP`
#   polars   `bench/import_peers.py import polars FILE TMP`
# Each run writes into a fresh directory under bench/data (the disk the inputs are on), which is removed afterwards.
# The peers parse, extract two typed properties, dedupe by uuid and write day-partitioned zstd Parquet sorted by
# (distinct_id, timestamp); what they skip that liucun does (validation, canonical JSON, content digests, fsync ...)
# is listed in bench/import_peers.py. Every output is read back afterwards (untimed) and its row count checked.
# Times include process start-up: the Python interpreter and the engine's module import for the peers.
# Ratio = engine wall time / liucun wall time, so 2.00x means half liucun's throughput.
# LIUCUN_BIN=path uses that binary instead of building target/release/liucun. Needs a few GB of disk and memory.
set -euo pipefail

usage() {
  echo "usage: bench/import_peers.sh [EVENTS] | bench/import_peers.sh --files NDJSON PARQUET" >&2
  exit 2
}
n=10000000
ndjson= parquet=
while [ $# -gt 0 ]; do
  case $1 in
    --files) [ $# -ge 3 ] || usage
             ndjson=$(realpath -e "$2") parquet=$(realpath -e "$3"); shift 3 ;;
    [0-9]*) n=$1; shift ;;
    *) usage ;;
  esac
done
cd "$(dirname "$0")/.."

if [ -n "${LIUCUN_BIN:-}" ]; then
  bin=$LIUCUN_BIN
else
  cargo build --release -p liucun-cli
  bin=target/release/liucun
fi

venv=bench/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import duckdb, polars, pyarrow' 2> /dev/null; then
  # Only these three of bench/requirements.txt (bench/run.sh installs them all). DuckDB must know COPY's ORDER_BY.
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    $(grep -E '^(duckdb|polars|pyarrow)==' bench/requirements.txt)
fi
py=$venv/bin/python

if [ -z "$ndjson" ]; then
  dir=bench/data/import-$n
  mkdir -p "$dir"
  for ext in parquet ndjson; do
    if [ ! -f "$dir/events.$ext" ]; then
      "$bin" gen --events "$n" --seed 42 --apps 1 --out "$dir/events.$ext" > /dev/null
    fi
  done
  ndjson=$dir/events.ndjson parquet=$dir/events.parquet
fi

# Events per file, counted here: events/s is taken over each file's own rows. Reading both files whole also puts
# them in the page cache, so no engine pays the first read from disk.
declare -A file=([ndjson]=$ndjson [parquet]=$parquet) rows
rows[ndjson]=$(wc -l < "$ndjson")
rows[parquet]=$("$py" -c 'import sys, pyarrow.parquet as pq; print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)' \
  "$parquet")
cat "$parquet" > /dev/null

mkdir -p bench/data
work=$(mktemp -d bench/data/import-peers.XXXXXX)
trap 'rm -rf "$work"' EXIT

# liucun's read-back: the project's events, days and segments from `inspect --json`; exit 1 unless ROWS events.
liucun_check='import json, sys
p = json.load(sys.stdin)["projects"][0]
print("%d rows, %d days in %d segments" % (p["events"], len(p["days"]), p["segments"]))
sys.exit(p["events"] != int(sys.argv[1]))'

# run ENGINE FORMAT: times one import into a fresh directory, then reads it back (untimed). Sets wall, user, sys,
# rss_kb and check (the read-back line).
run() {
  local engine=$1 fmt=$2 out=$work/out status=0
  rm -rf "$out"
  if [ "$engine" = liucun ]; then
    /usr/bin/time -o "$work/time" -f '%e %U %S %M' \
      "$bin" --data "$out" import --quiet --project bench "${file[$fmt]}" > /dev/null
    check=$("$bin" --data "$out" inspect --json | "$py" -c "$liucun_check" "${rows[$fmt]}") || status=$?
  else
    /usr/bin/time -o "$work/time" -f '%e %U %S %M' \
      "$py" bench/import_peers.py import "$engine" "${file[$fmt]}" "$out"
    check=$("$py" bench/import_peers.py check "$engine" "$out" --expect "${rows[$fmt]}") || status=$?
  fi
  if [ "$status" != 0 ]; then
    echo "$fmt $engine: unexpected output: $check" >&2
    exit 1
  fi
  read -r wall user sys rss_kb < "$work/time"
  rm -rf "$out"
}

echo "events: ndjson ${rows[ndjson]} (${file[ndjson]}), parquet ${rows[parquet]} (${file[parquet]})"
printf '%-8s %-7s %8s %8s %7s %9s %12s %9s\n' format engine 'wall s' 'user s' 'sys s' 'RSS MiB' events/s 'vs liucun'
checks=()
for fmt in ndjson parquet; do
  base=
  for engine in liucun duckdb polars; do
    run "$engine" "$fmt"
    base=${base:-$wall}
    "$py" -c 'import sys
fmt, engine, n, wall, user, sys_, rss_kb, base = sys.argv[1:]
n, wall, base = int(n), float(wall), float(base)
print(f"{fmt:<8} {engine:<7} {wall:8.2f} {float(user):8.2f} {float(sys_):7.2f} {int(rss_kb) / 1024:9,.0f} "
      f"{n / wall:12,.0f} {wall / base:8.2f}x")' "$fmt" "$engine" "${rows[$fmt]}" "$wall" "$user" "$sys" "$rss_kb" "$base"
    checks+=("$fmt $engine: $check")
  done
done
echo
echo "read back:"
printf '  %s\n' "${checks[@]}"
