#!/usr/bin/env bash
# Sets up, then serves the example functions with `wasmlet dev` on 127.0.0.1:3000, built from
# source and rebuilt on every save: Rust, Python and TypeScript hello (/hello/latest/,
# /hello-py/latest/, /hello-js/latest/) and the orders service on the embedded SQLite database
# (/orders/latest/orders, /orders-py/latest/orders, /orders-js/latest/orders).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/wasmlet dev --bind "${WASMLET_BIND:-127.0.0.1:3000}" --data-dir "${WASMLET_DATA_DIR:-.wasmlet/data}" \
  -m hello:guest-rust/examples/hello \
  -m hello-py:guest-python/examples/hello \
  -m orders:guest-rust/examples/orders \
  -m orders-py:guest-python/examples/orders \
  -m hello-js:guest-js/examples/hello \
  -m orders-js:guest-js/examples/orders
