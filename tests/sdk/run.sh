#!/usr/bin/env bash
# Run the SDK end-to-end suite against a liucun binary.
#
#   tests/sdk/run.sh [pytest args…]
#
# LIUCUN_BIN selects the binary (default: target/debug/liucun). The virtual environment in
# tests/sdk/.venv is created on first use and reused afterwards; the exit code is pytest's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
# Cheap when everything is already installed at the pinned versions. pip runs as a module so no
# script shebang (which records the venv's absolute path) is involved.
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"

# The suite exercises posthog-python's default wire protocol and compression.
unset POSTHOG_CAPTURE_MODE POSTHOG_CAPTURE_COMPRESSION
export LIUCUN_BIN="${LIUCUN_BIN:-$repo/target/debug/liucun}"

cd "$repo"
exec "$venv/bin/python" -m pytest -q tests/sdk "$@"
