#!/usr/bin/env bash
# liucun serve under load, and a report over the API against the same report in-process.
#
#   bench/capture.sh [SECONDS] [REPORT_EVENTS]     (defaults: 30 s per load phase, 1000000 events for the report)
#
# 1. Saturation: liucun-load sends posthog-python-shaped /batch/ requests of 100 events as fast as fsynced
#    acknowledgements return, from 32 connections, for SECONDS.
# 2. Half of 100 000 events/s: the same at a paced 50 000 events/s on a fresh server; latency is measured from each
#    request's scheduled start, so a stall counts against the server instead of slowing the load.
# 3. Retention over the API: REPORT_EVENTS generated events are imported, then one daily first-time retention
#    report is computed 21 times in-process (`liucun retention --repeat 21`) and 21 times over
#    POST /api/v1/projects/P/reports/retention (curl's time_total); medians of runs 2–21 are compared.
# The load generator runs on the same machine as the server: both share its cores.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
report_events=${2:-1000000}
cargo build --release -q -p liucun-cli -p liucun-load
bin=$PWD/target/release/liucun
load=$PWD/target/release/liucun-load
tmp=$(mktemp -d)
pid=
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

start() {
  rm -f "$tmp/addr"
  "$bin" --data "$tmp/data" serve --bind 127.0.0.1:0 --addr-file "$tmp/addr" 2>>"$tmp/serve.log" &
  pid=$!
  for _ in $(seq 200); do [[ -s "$tmp/addr" ]] && break; sleep 0.05; done
  addr=$(cat "$tmp/addr")
}
stop() { kill -TERM "$pid"; wait "$pid"; pid=; }

"$bin" --data "$tmp/data" projects create load >/dev/null
write=$("$bin" --data "$tmp/data" keys create --project load --kind write)
start
echo "== saturation: 100-event batches, 32 connections, ${secs}s"
"$load" --addr "$addr" --token "$write" --rate 0 --connections 32 --duration "$secs" | tee "$tmp/sat.json"
# A fresh server, so the saturation phase's backlog of segment writes does not run during the paced phase.
stop
rm -rf "$tmp/data/wal" "$tmp/data/segments" "$tmp/data/MANIFEST" "$tmp/data/quarantine"
start
echo "== paced at 50000 events/s, 100-event batches, 32 connections, ${secs}s"
"$load" --addr "$addr" --token "$write" --rate 50000 --connections 32 --duration "$secs" | tee "$tmp/half.json"
stop

echo "== retention: in-process vs over the API, $report_events events"
"$bin" gen --events "$report_events" --seed 42 --apps 1 --out "$tmp/events.parquet" > "$tmp/files.tsv"
IFS=$'\t' read -r project path _ < "$tmp/files.tsv"
"$bin" --data "$tmp/data" import --quiet --project "$project" "$path" >/dev/null
"$bin" --data "$tmp/data" compact >/dev/null
"$bin" --data "$tmp/data" retention -p "$project" --type first-time --period day --intervals 30 \
  --from 2025-01-01 --to 2025-01-30 --as-of 2025-06-01T00:00:00Z --format json > "$tmp/report.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); json.dump(r["parameters"], open(sys.argv[2],"w"))' \
  "$tmp/report.json" "$tmp/params.json"
"$bin" --data "$tmp/data" retention --params "$tmp/params.json" --repeat 21 --format json 2>"$tmp/lib.txt" >/dev/null
read_key=$("$bin" --data "$tmp/data" projects create "$project" >/dev/null 2>&1; \
  "$bin" --data "$tmp/data" keys create --project "$project" --kind read)
start
for _ in $(seq 21); do
  curl -s -o /dev/null -w '%{time_total}\n' -X POST -H "Authorization: Bearer $read_key" \
    -H 'Content-Type: application/json' --data @"$tmp/params.json" \
    "http://$addr/api/v1/projects/$project/reports/retention"
done > "$tmp/api.txt"
stop
python3 - "$tmp/lib.txt" "$tmp/api.txt" <<'PY'
import re, statistics, sys
lib = [float(m) for m in re.findall(r"run \d+/\d+: ([0-9.]+) ms", open(sys.argv[1]).read())][1:]
api = [float(x) * 1e3 for x in open(sys.argv[2]).read().split()][1:]
l, a = statistics.median(lib), statistics.median(api)
print(f"in-process median {l:.2f} ms, over the API median {a:.2f} ms, ratio {a / l:.2f}")
PY
