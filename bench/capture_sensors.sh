#!/usr/bin/env bash
# Sensors /sa capture throughput next to PostHog /batch/ on the same events (issue 16: /sa must reach 80%).
#
#   bench/capture_sensors.sh [BATCHES] [REPS]      (defaults: 2000 batches of 50 events per run, 3 repetitions)
#
# liucun-load encodes BATCHES batches of 50 events before the clock starts, once as posthog-python /batch/ JSON and
# once as a Sensors mobile SDK sends them (POST /sa?project=TOKEN, form with data_list = base64(gzip(JSON array)),
# gzip=1), then sends them all as fast as fsynced acknowledgements return. Every run gets a fresh data directory
# and a fresh `liucun serve`, and the wires alternate, so neither inherits the other's flush backlog.
# Shapes: small properties (5) and large ones (Sensors Android presets and a 400-character text, about 1 KB), each
# from 1 and from 4 connections. Each figure is the median of REPS runs; ratio = Sensors / PostHog.
# The load generator runs on the same machine as the server: both share its cores.
set -euo pipefail
cd "$(dirname "$0")/.."
batches=${1:-2000}
reps=${2:-3}
cargo build --release -q -p liucun-cli -p liucun-load
bin=$PWD/target/release/liucun
load=$PWD/target/release/liucun-load
tmp=$(mktemp -d)
pid=
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

: > "$tmp/runs.jsonl"
for props in small large; do
  for conns in 1 4; do
    for rep in $(seq "$reps"); do
      for wire in posthog sensors; do
        rm -rf "$tmp/data" "$tmp/addr"
        "$bin" --data "$tmp/data" projects create load >/dev/null
        write=$("$bin" --data "$tmp/data" keys create --project load --kind write)
        "$bin" --data "$tmp/data" serve --bind 127.0.0.1:0 --addr-file "$tmp/addr" 2>>"$tmp/serve.log" &
        pid=$!
        for _ in $(seq 200); do [[ -s "$tmp/addr" ]] && break; sleep 0.05; done
        "$load" --addr "$(cat "$tmp/addr")" --token "$write" --batches "$batches" --batch 50 \
          --connections "$conns" --wire "$wire" --props "$props" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' \
          >> "$tmp/runs.jsonl"
        kill -TERM "$pid"; wait "$pid" || true; pid=
        tail -n 1 "$tmp/runs.jsonl" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("%(props)-5s %(connections)s conn %(wire)-7s %(acked_events_per_second)9.0f events/s  failed %(events_failed)s  body %(mean_body_bytes)s B" % r)'
      done
    done
  done
done
python3 - "$tmp/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print("\n| properties | connections | PostHog /batch/ events/s | Sensors /sa events/s | ratio | body bytes PostHog / Sensors |")
print("|---|---|---|---|---|---|")
for props in ("small", "large"):
    for conns in (1, 4):
        sel = lambda w: [r for r in runs if r["props"] == props and r["connections"] == conns and r["wire"] == w]
        p, s = sel("posthog"), sel("sensors")
        if not p or not s:
            continue
        mp = statistics.median(r["acked_events_per_second"] for r in p)
        ms = statistics.median(r["acked_events_per_second"] for r in s)
        assert all(r["events_failed"] == 0 for r in p + s), "a run had failures"
        print(f"| {props} | {conns} | {mp:,.0f} | {ms:,.0f} | {ms / mp:.2f} | {p[0]['mean_body_bytes']:,} / {s[0]['mean_body_bytes']:,} |")
PY
