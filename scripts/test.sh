#!/usr/bin/env bash
# Sets up (scripts/setup.sh), lints, type-checks and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check host bindgen tests bench guest-python
bash scripts/typecheck.sh
.venv/bin/python -m pytest "$@"
