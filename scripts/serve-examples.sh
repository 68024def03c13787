#!/usr/bin/env bash
# Sets up, builds the example functions and serves them with `wasmlet dev` on
# 127.0.0.1:3000 (Rust hello at /hello/latest/, Python hello at /hello-py/latest/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p .wasmlet/examples
.venv/bin/wasmlet build guest-rust/examples/hello -o .wasmlet/examples/hello-rust.wasm
.venv/bin/wasmlet build guest-python/examples/hello -o .wasmlet/examples/hello-python.wasm
exec .venv/bin/wasmlet dev --bind "${WASMLET_BIND:-127.0.0.1:3000}" \
  -m hello:.wasmlet/examples/hello-rust.wasm \
  -m hello-py:.wasmlet/examples/hello-python.wasm
