#!/usr/bin/env bash
# liucun vs DuckDB, chDB and Polars on the retention report or the trends reports (see bench/README.md).
#
#   bench/run.sh [retention|trends] EVENTS [--reps N] [--engines duckdb,chdb,polars] [--cases A,B] [--cold-only ENGINES]
#
# Builds the release binary, sets up bench/.venv with the pinned packages of bench/requirements.txt, then runs
# bench/retention.py (the default) or bench/trends.py, which generate and import bench/data/EVENTS once and print
# the timing tables.
set -euo pipefail
cd "$(dirname "$0")/.."

report=retention
case "${1:-}" in
    retention | trends) report=$1; shift ;;
esac
if [ $# -lt 1 ]; then
    echo "usage: bench/run.sh [retention|trends] EVENTS [--reps N] [--engines duckdb,chdb,polars] [--cases A,B] [--cold-only ENGINES]" >&2
    exit 2
fi

cargo build --release -p liucun-cli

venv=bench/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# Reinstall only when requirements.txt changed since the last install.
if ! cmp -s bench/requirements.txt "$venv/.installed-requirements.txt"; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
    cp bench/requirements.txt "$venv/.installed-requirements.txt"
fi

exec "$venv/bin/python" "bench/$report.py" "$@"
