#!/usr/bin/env bash
# Run the ClickHouse equality suite (crates/cli/tests/clickhouse.rs) against a real ClickHouse engine.
#
#   tests/clickhouse/run.sh [cargo test args…]
#
# With LIUCUN_CLICKHOUSE_URL set, the suite runs against that server. Otherwise this script installs chDB (embedded
# ClickHouse, pinned in requirements.txt) into tests/clickhouse/.venv on first use, starts chdb_server.py (ClickHouse's
# HTTP interface in front of it) on a free port with its data in a temporary directory, runs the suite, and stops it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

if [[ -z "${LIUCUN_CLICKHOUSE_URL:-}" ]]; then
    venv="$here/.venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
    tmp="$(mktemp -d)"
    "$venv/bin/python" "$here/chdb_server.py" --port 0 --path "$tmp/chdb" --port-file "$tmp/port" \
        > "$tmp/server.log" 2>&1 &
    server=$!
    trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
    for _ in $(seq 1 300); do
        [[ -s "$tmp/port" ]] && break
        if ! kill -0 "$server" 2>/dev/null; then
            echo "the chDB server did not start:" >&2
            cat "$tmp/server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    [[ -s "$tmp/port" ]] || { echo "the chDB server did not report its port" >&2; exit 1; }
    export LIUCUN_CLICKHOUSE_URL="http://127.0.0.1:$(cat "$tmp/port")"
    # chDB reads any local file, as the segments recipe of docs/clickhouse.md needs.
    export LIUCUN_CLICKHOUSE_READS_LOCAL_FILES=1
fi
echo "ClickHouse at $LIUCUN_CLICKHOUSE_URL"
cargo test -p liucun-cli --test clickhouse "$@" -- --test-threads 2
