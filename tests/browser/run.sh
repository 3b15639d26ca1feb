#!/usr/bin/env bash
# Browser tests of the dashboard: headless Chromium against a real `liucun serve` over the demo data.
#
#   tests/browser/run.sh                  # uses target/debug/liucun (cargo build -p liucun-cli first)
#   LIUCUN_BIN=path/to/liucun tests/browser/run.sh
#   CHROMIUM=/path/to/chromium tests/browser/run.sh   # default /usr/bin/chromium (Debian package `chromium`)
#
# Screenshots of every page land in tests/browser/screenshots/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${LIUCUN_BIN:-target/debug/liucun}"
case "$bin" in
  /*) ;;
  *) bin="$root/$bin" ;;
esac
if [ ! -x "$bin" ]; then
  echo "no liucun binary at $bin: run cargo build -p liucun-cli, or set LIUCUN_BIN" >&2
  exit 2
fi
if [ ! -d "$here/node_modules" ]; then
  (cd "$here" && npm ci --silent)
fi

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

data="$tmp/demo/data"
if ! "$bin" demo --dir "$tmp/demo" --events 60000 >"$tmp/demo.log" 2>&1; then
  cat "$tmp/demo.log" >&2
  exit 1
fi

# A read key per demo project; the demo imports events without registering the projects keys belong to.
keys=""
for project in lanting qiuyue moxi tingfeng baicao; do
  if ! "$bin" --data "$data" projects list | cut -f1 | grep -qx "$project"; then
    "$bin" --data "$data" projects create "$project" >/dev/null
  fi
  key="$("$bin" --data "$data" keys create --project "$project" --kind read)"
  keys="${keys:+$keys,}$key"
done
# A write token, for the test that sends events capture quarantines; a project without events, for the page that
# explains how to send some.
write_token="$("$bin" --data "$data" keys create --project lanting --kind write)"
"$bin" --data "$data" projects create kongbai >/dev/null
empty_key="$("$bin" --data "$data" keys create --project kongbai --kind read)"

"$bin" --data "$data" serve --bind 127.0.0.1:0 --addr-file "$tmp/addr" \
  --prices "$tmp/demo/demo-prices.toml" --fx "$tmp/demo/demo-fx.json" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 200); do
  [ -s "$tmp/addr" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ ! -s "$tmp/addr" ]; then
  echo "liucun serve did not start:" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi

export LIUCUN_URL="http://$(cat "$tmp/addr")"
export LIUCUN_KEYS="$keys"
export LIUCUN_EMPTY_KEY="$empty_key"
export LIUCUN_WRITE_TOKEN="$write_token"
export LIUCUN_BIN="$bin"
export LIUCUN_TEST_DATA="$data"
export LIUCUN_TEST_TMP="$tmp"
cd "$here"
status=0
node --test --test-concurrency=1 dashboard.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- last lines of the server log ---" >&2
  tail -n 40 "$tmp/server.log" >&2
fi
exit "$status"
