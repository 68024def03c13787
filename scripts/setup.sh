#!/usr/bin/env bash
# Installs everything wasmlet needs on a fresh Debian machine: the Rust wasm
# toolchain from Debian's packages, and a virtualenv with wasmlet and its tools.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d /usr/lib/rustlib/wasm32-unknown-unknown ] && ! rustc --print sysroot 2>/dev/null | xargs -I{} test -d {}/lib/rustlib/wasm32-unknown-unknown; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rustc cargo libstd-rust-dev-wasm32 \
    librust-serde-dev librust-serde-json-dev librust-serde-derive-dev >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
