#!/usr/bin/env bash
# liucun vs DuckDB, chDB and Polars on one retention report (see bench/README.md).
#
#   bench/run.sh EVENTS [--reps N] [--engines duckdb,chdb,polars]
#
# Builds the release binary, sets up bench/.venv with the pinned packages of bench/requirements.txt, then runs
# bench/retention.py, which generates and imports bench/data/EVENTS once and prints the timing table.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
    echo "usage: bench/run.sh EVENTS [--reps N] [--engines duckdb,chdb,polars]" >&2
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

exec "$venv/bin/python" bench/retention.py "$@"
