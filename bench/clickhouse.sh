#!/usr/bin/env bash
# Every compiled report kind on the embedded engine next to the same report compiled to ClickHouse SQL and run on chDB
# (ClickHouse's engine, embedded, behind tests/clickhouse/chdb_server.py), whole-process timings of the `liucun` command.
#
#   bench/clickhouse.sh [EVENTS] [REPS] [PATTERN]   # default 10000000 events, 3 repetitions, every shape
#
# Generates EVENTS events of one app (`liucun gen --seed 42 --apps 1`, kept under bench/data/clickhouse-EVENTS),
# imports, compacts and exports them to chDB once (the chDB data stays in that folder), then times each shape on
# both engines, one after the other, median of REPS, and checks that both printed the same JSON in the timed runs.
# Ratio = ClickHouse / embedded: above 1, the embedded engine is faster. PATTERN (a grep -E pattern) keeps only the
# shapes whose name matches it, e.g. `funnel` or `economics`.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
reps=${2:-3}
pattern=${3:-}
cargo build --release -p liucun-cli
bin=$PWD/target/release/liucun
dir=$PWD/bench/data/clickhouse-$n
mkdir -p "$dir"
venv=tests/clickhouse/.venv
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/clickhouse/requirements.txt
rm -f "$dir/port"
"$venv/bin/python" tests/clickhouse/chdb_server.py --port 0 --path "$dir/chdb" --port-file "$dir/port" > "$dir/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT
for _ in $(seq 1 300); do [[ -s "$dir/port" ]] && break; sleep 0.1; done
export LIUCUN_CLICKHOUSE_URL="http://127.0.0.1:$(cat "$dir/port")"
if [ ! -d "$dir/data" ]; then
  "$bin" gen --events "$n" --seed 42 --apps 1 --out "$dir/events.parquet" > /dev/null
  "$bin" --data "$dir/data" import --quiet --project lanting "$dir/events.parquet"
  "$bin" --data "$dir/data" compact > /dev/null
fi
# Exported again when the tables changed (the person properties timeline came with version 2).
if [ ! -e "$dir/exported-2" ]; then
  s=$(date +%s%N)
  "$bin" --data "$dir/data" export clickhouse --quiet
  echo "export: $(( ($(date +%s%N) - s) / 1000000 )) ms"
  touch "$dir/exported-2"
fi
as_of=2025-06-01T00:00:00Z
# Economics prices AI events with the demo's price table and converts the generated CNY payments at one rate.
prices=crates/cli/src/demo_prices.toml
echo '[{"date": "2024-12-01", "from": "CNY", "to": "USD", "rate": "0.1375", "source": "bench"}]' > "$dir/fx.json"
money="--prices $prices --fx $dir/fx.json"

# name | kind | flags (`~` stands for a space inside one argument)
shapes=(
  "day x30 first-time|retention|--type first-time --period day --intervals 30 --from 2025-01-01 --to 2025-01-30"
  "day x30 recurring|retention|--period day --intervals 30 --from 2025-01-01 --to 2025-01-30"
  "week x12 first-ever chat|retention|--type first-ever --target chat_message --period week --intervals 12 --from 2025-01-01 --to 2025-03-31"
  "month x3 cumulative|retention|--type first-time --cumulative --period month --intervals 3 --from 2025-01-01 --to 2025-03-31"
  "day x30 Asia/Shanghai|retention|--type first-time --period day --intervals 30 --from 2025-01-01 --to 2025-01-30 --tz Asia/Shanghai"
  "day x30 where \$ai_model|retention|--type first-time --period day --intervals 30 --from 2025-01-01 --to 2025-01-30 --where \$ai_model~contains~gpt"
  "day x30 by \$ai_model|retention|--period day --intervals 30 --from 2025-01-01 --to 2025-01-30 --breakdown \$ai_model"
  "hour x48|retention|--period hour --intervals 48 --from 2025-01-10T00:00:00 --to 2025-01-11T23:00:00"
  "trends DAU, MAU 90 days|trends|--series any:dau --series any:mau --from 2025-01-01 --to 2025-03-31"
  "trends chat events, weeks|trends|--series chat_message:total --series chat_message:unique_persons --interval week --from all"
  "trends sum of tokens|trends|--series \$ai_generation:sum:\$ai_input_tokens --from 2025-01-01 --to 2025-03-31"
  "trends p90 latency by model|trends|--series \$ai_generation:p90:\$ai_latency --breakdown \$ai_model --from 2025-01-01 --to 2025-03-31"
  "day x30 where person.plan|retention|--type first-time --period day --intervals 30 --from 2025-01-01 --to 2025-01-30 --where person.plan~eq~pro"
  "stickiness, February|stickiness|--from 2025-02-01 --to 2025-02-28"
  "lifecycle, weeks|lifecycle|--interval week --from 2025-01-06 --to 2025-03-30"
  "growth, persons|growth|--milestones 1000,10000,100000"
  "growth, MAU|growth|--metric mau --milestones 1000,10000"
  "funnel view, chat, pay 14d|funnels|--step \$pageview --step chat_message --step payment --window 14d --from 2025-01-01 --to 2025-03-31"
  "funnel strict 30min|funnels|--step chat_message --step \$ai_generation --order strict --window 30min --from 2025-02-01 --to 2025-02-28"
  "funnel by \$ai_model, step 2|funnels|--step chat_message --step \$ai_generation --step payment --breakdown \$ai_model --attribution step --attribution-step 2 --from 2025-01-01 --to 2025-03-31"
  "funnel trends, weeks|funnels|--step \$pageview --step payment --viz trends --interval week --from 2025-01-06 --to 2025-03-30"
  "funnel first-time chat|funnels|--step chat_message --first-time 1 --step payment --window 30d --from 2025-01-01 --to 2025-03-31"
  "economics month x3|economics|--period month --intervals 3 --from 2025-01-01 --to 2025-03-31 $money"
  "economics week x12 by \$ai_model|economics|--period week --intervals 12 --from 2025-01-06 --to 2025-03-30 --breakdown \$ai_model $money"
  "economics day x30, chat target|economics|--period day --intervals 30 --from 2025-01-01 --to 2025-01-30 --target chat_message --cost-per-active-user 0.01 $money"
)

ms() { # median whole-process milliseconds of REPS runs of "$@"; the output of each run goes to the file $1
  local out=$1 t=()
  shift
  for _ in $(seq "$reps"); do
    local s e
    s=$(date +%s%N)
    "$@" > "$out" || { echo "failed: $*" >&2; exit 1; }
    e=$(date +%s%N)
    t+=($(((e - s) / 1000000)))
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

echo "$n events, median of $reps, whole process (ms); $(nproc) cores; $(git rev-parse --short HEAD)"
printf '| %-28s | %10s | %10s | %7s |\n' shape embedded clickhouse ratio
printf '|%s|%s|%s|%s|\n' "------------------------------" "-----------:" "-----------:" "--------:"
for s in "${shapes[@]}"; do
  IFS='|' read -r name kind flags <<< "$s"
  [[ -z "$pattern" ]] || grep -qE -- "$pattern" <<< "$name" || continue
  # shellcheck disable=SC2206
  args=($kind -p lanting $flags --as-of "$as_of" --format json)
  args=("${args[@]//\~/ }")
  e=$(ms "$dir/embedded.json" "$bin" --data "$dir/data" "${args[@]}")
  c=$(ms "$dir/clickhouse.json" "$bin" --data "$dir/data" "${args[@]}" --engine clickhouse)
  cmp -s "$dir/embedded.json" "$dir/clickhouse.json" || { echo "the engines differ for: ${args[*]}" >&2; exit 1; }
  printf '| %-28s | %10s | %10s | %6.2fx |\n' "$name" "$e" "$c" "$(echo "$c / $e" | bc -l)"
done
