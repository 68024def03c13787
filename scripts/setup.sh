#!/usr/bin/env bash
# Installs everything wasmlet needs on a fresh Debian machine: the Rust wasm
# toolchain and the crates the Rust SDK uses from Debian's packages (when no
# rustup toolchain with the wasm32 target is present), and a virtualenv with
# wasmlet and its pinned tools.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES="rustc cargo libstd-rust-dev-wasm32 librust-serde-dev librust-serde-json-dev librust-serde-derive-dev librust-form-urlencoded-dev"
has_rustup_wasm() {
  command -v rustup >/dev/null 2>&1 && rustc --print sysroot 2>/dev/null | xargs -I{} test -d {}/lib/rustlib/wasm32-unknown-unknown
}
if ! has_rustup_wasm && ! dpkg -s $DEBIAN_PACKAGES >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $DEBIAN_PACKAGES >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true

# The JavaScript/TypeScript toolchain (componentize-js, esbuild, tsc), pinned in guest-js/package-lock.json.
if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
  if [ ! -d guest-js/node_modules/@bytecodealliance/componentize-js ] || [ guest-js/package-lock.json -nt guest-js/node_modules/.package-lock.json ]; then
    (cd guest-js && npm ci --no-audit --no-fund --loglevel=error)
  fi
else
  echo "setup: Node.js 20+ and npm not found: JavaScript/TypeScript functions will not build (everything else will)" >&2
fi
