#!/usr/bin/env bash
# The one benchmark command: sets up, installs wrk if missing, then runs the
# side-by-side benchmark and wasmlet's own targets (bench/run.py; flags pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v wrk >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq wrk >/dev/null
fi
exec .venv/bin/python bench/run.py "$@"
