"""Per-invocation cost: the generated call path against wasmtime-py's own (naive) path.

Every invocation gets a fresh store and instance. Prints a Markdown table.
Run: .venv/bin/python bench/invoke.py   (builds the probe guests first if needed)
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime.component import Record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from guests import build_guest  # noqa: E402

from wasmlet import Engine, EventHttp, InvocationContext, Request, Runtime, body_bytes, body_from_bytes  # noqa: E402
from wasmlet.runtime import default_imports  # noqa: E402


def timed(fn: Callable[[], Any], budget_s: float = 1.5, max_n: int = 2000) -> float:
    """Median seconds per call."""
    fn()
    samples = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < max_n and (time.perf_counter() < deadline or len(samples) < 3):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def naive_event(path: str, body: bytes | str) -> Any:
    req = Record()
    req.method, req.path, req.query, req.headers, req.body, req.mount = "POST", path, "", [], body, "/probe/bench"
    from wasmtime.component import Variant

    return Variant("http", req)


def main() -> None:
    wasm = {
        "rust": build_guest("probe-rust", ROOT / "tests/guests/probe-rust", "rust", ROOT / "wit", "function"),
        "python": build_guest("probe-python", ROOT / "tests/guests/probe-python", "python", ROOT / "wit", "function"),
    }
    rows = []
    with Engine(cache_dir=ROOT / ".wasmlet" / "bench-cache") as engine:
        rt = Runtime(engine)

        def generated(fn: Any, path: str, payload: bytes) -> Callable[[], Any]:
            ev = EventHttp(Request("POST", path, "", [], body_from_bytes(payload), "/probe/bench"))
            ctx = InvocationContext("bench")
            return lambda: body_bytes(rt.invoke(fn, ev, ctx=ctx).body)

        def naive(fn: Any, path: str, payload: bytes) -> Callable[[], Any]:
            body: bytes | str
            try:
                body = payload.decode()
            except UnicodeDecodeError:
                body = payload
            ev = naive_event(path, body)
            ctx = InvocationContext("bench")

            def run() -> Any:
                store = wasmtime.Store(engine.wasm)
                store.set_epoch_deadline(engine.ticks(60_000))
                if fn.uses_wasi:
                    store.set_wasi(wasmtime.WasiConfig())
                rt._tls.stack = [default_imports(ctx)]
                inst = rt.linker.instantiate(store, fn.component)
                func = inst.get_func(store, "handle")
                assert func is not None
                return func(store, ev)

            return run

        for lang in ("rust", "python"):
            fn = rt.load_file(wasm[lang])
            cases: list[tuple[str, str, bytes]] = [("hello", "/hello", b"")]
            for size, label in ((1024, "1 KB"), (100 * 1024, "100 KB"), (1 << 20, "1 MB")):
                cases.append((f"echo {label} text", "/echo", (b"x" * size)))
                cases.append((f"echo {label} binary", "/echo", bytes(range(256)) * (size // 256)))
            for name, path, payload in cases:
                assert body_bytes(rt.invoke(fn, EventHttp(Request("POST", path, "", [], body_from_bytes(payload),
                                                                  "/p")), ctx=InvocationContext("b")).body) \
                    == (payload if path == "/echo" else f"hello from {lang}".encode())
                budget = 0.5 if len(payload) >= 100 * 1024 and "binary" in name else 1.5
                gen = timed(generated(fn, path, payload), budget)
                nai = timed(naive(fn, path, payload), budget, max_n=3 if len(payload) >= 1 << 20 else 2000)
                rows.append((lang, name, gen, nai))
    print(f"wasmtime-py {wasmtime.__version__ if hasattr(wasmtime, '__version__') else ''}".strip())
    print()
    print("| guest | case | generated path | naive path | speed-up |")
    print("|---|---|---:|---:|---:|")
    for lang, name, gen, nai in rows:
        print(f"| {lang} | {name} | {fmt(gen)} | {fmt(nai)} | {nai / gen:.1f}× |")


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    main()
