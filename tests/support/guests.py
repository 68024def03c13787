"""Guests built from source for tests and benchmarks, once per source content (cached by hash)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from wasmlet._build_js import JsBuildError, find_node
from wasmlet.build import BuildError, _tool, build_js, build_python, build_rust, find_rust

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / ".wasmlet" / "test-build"
CARGO_TARGET = ROOT / ".wasmlet" / "cargo-target"
BUILD_CACHE = ROOT / ".wasmlet" / "build-cache"
"""The checkout's own input-addressed build cache: a fresh clone builds every guest with its own tools,
never from components another checkout left in the user's cache."""
REQUIRE = os.environ.get("WASMLET_TEST_REQUIRE_ALL") == "1" or os.environ.get("CI") == "true"
"""In CI every service and toolchain must be there: what would be a skip is a failure."""


def unavailable(reason: str) -> None:
    """Skips with a clear reason on a user's machine; fails in CI, where everything must be present."""
    if REQUIRE:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for base in paths:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()
                                                       and "target" not in p.parts and "__pycache__" not in p.parts
                                                       and "node_modules" not in p.parts)
        for p in files:
            h.update(str(p.relative_to(ROOT)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _toolchain_missing(language: str) -> str | None:
    """Why `language` guests cannot be built here, asked of the toolchain itself (not read from a
    compiler error: rustc says "not found in this scope" for every unresolved name)."""
    try:
        if language == "rust":
            find_rust()
            _tool("wasm-tools")
        elif language == "js":
            find_node()
        else:
            _tool("componentize-py")
    except (BuildError, JsBuildError) as exc:
        return str(exc)
    return None


def build_guest(name: str, src: Path, language: str, wit: Path, world: str) -> Path:
    """Builds a guest once per source content; later runs reuse the component."""
    sdk = {"rust": [ROOT / "guest-rust" / "src", ROOT / "guest-rust" / "Cargo.toml"],
           "js": [ROOT / "guest-js" / "src", ROOT / "guest-js" / "tools", ROOT / "guest-js" / "package-lock.json",
                  ROOT / "host" / "_build_js.py"]}
    deps = [src, wit] + sdk.get(language, [ROOT / "guest-python" / "wasmlet_guest", ROOT / "host" / "build.py"])
    out = BUILD_DIR / f"{name}-{_digest(*deps)}.wasm"
    if out.exists():
        return out
    missing = _toolchain_missing(language)
    if missing is not None:
        unavailable(missing)
    if language == "rust":
        build_rust(src, out, world=world, wit=wit, target_dir=CARGO_TARGET)
    elif language == "js":
        build_js(src, out, world=world, wit=wit, cache_dir=BUILD_CACHE)
    else:
        build_python(src, out, world=world, wit=wit, cache_dir=BUILD_CACHE)
    return out


WAT_CONTRACT = ROOT / "wit" / "versions" / "0.2.0"
"""The contract the hand-written WAT guests are written for: their `handle` spells out the canonical
ABI's flattened parameters, which only a frozen contract keeps (the host serves it through its adapter)."""


def build_wat(name: str) -> Path:
    """A hand-written component from `tests/guests/wat/NAME.wat` (no SDK, no language runtime), for
    world `function`, or for its own world in `NAME-world.wit` (with the WASI parts in `wasi-wit/`)."""
    wat = ROOT / "tests" / "guests" / "wat"
    src, own_world = wat / f"{name}.wat", wat / f"{name}-world.wit"
    out = BUILD_DIR / f"wat-{name}-{_digest(src, WAT_CONTRACT, wat / 'wasi-wit')}.wasm"
    if out.exists():
        return out
    wasm_tools = _tool("wasm-tools")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    core, embedded = out.with_suffix(".core"), out.with_suffix(".embedded")
    subprocess.run([wasm_tools, "parse", str(src), "-o", str(core)], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        wit, world = WAT_CONTRACT, "function"
        if own_world.exists():  # its world includes ours and adds WASI imports
            wit, world = Path(tmp), "sleeper"
            shutil.copy(own_world, wit / "world.wit")
            (wit / "deps").mkdir()
            shutil.copytree(WAT_CONTRACT, wit / "deps" / "wasmlet-faas")
            for dep in (wat / "wasi-wit").glob("*.wit"):
                (wit / "deps" / dep.stem).mkdir()
                shutil.copy(dep, wit / "deps" / dep.stem / dep.name)
        subprocess.run([wasm_tools, "component", "embed", str(wit), "--world", world, str(core),
                        "-o", str(embedded)], check=True)
    subprocess.run([wasm_tools, "component", "new", str(embedded), "-o", str(out)], check=True)
    core.unlink()
    embedded.unlink()
    return out
