#!/usr/bin/env bash
# Sets up (scripts/setup.sh), lints, type-checks and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check host bindgen tests bench guest-python
bash scripts/typecheck.sh
# --durations: CI's log names the slowest tests, so the suite's time (target: under 15 minutes) stays visible
.venv/bin/python -m pytest --durations=15 "$@"
