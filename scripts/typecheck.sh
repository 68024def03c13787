#!/usr/bin/env bash
# mypy --strict on host/ and bindgen/ under their import names (wasmlet, wasmlet_bindgen).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/typecheck
ln -sfn ../../host build/typecheck/wasmlet
ln -sfn ../../bindgen build/typecheck/wasmlet_bindgen
MYPYPATH=build/typecheck .venv/bin/mypy -p wasmlet -p wasmlet_bindgen
