"""Standard wasi:http components on wasmlet beside `wasmtime serve`, in one run.

The componentize-py hello of `../shared/bench-peers` (the same component on both hosts), and
wasmlet's own Python examples' hello for the ratio it reaches today: req/s with wrk in interleaved
rounds (`wasmlet serve --workers 2`, `wasmtime serve` with its defaults, both a fresh instance per
request), the in-process cost of one invocation, and a 1 MB body echo (the componentize-py echo of
tests/guests/wasi-http-python, through each host). Run it alone: it loads both cores.

    .venv/bin/python bench/wasi_http.py [--rounds 3] [--seconds 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from _common import Serve, cpu_model, examples, free_port, running, wrk
from wasi_http import build_python_echo, build_python_hello, wasmtime_serve

from wasmlet.bindings import faas
from wasmlet.capabilities import InvocationContext
from wasmlet.engine import Engine
from wasmlet.runtime import Runtime


def in_process_ms(wasm: Path, path: str = "/", n: int = 200) -> float:
    """The median cost of one invocation through `Runtime.invoke`, no HTTP."""
    with Engine() as engine:
        runtime = Runtime(engine)
        fn = runtime.load_file(wasm)
        request = faas.Request("GET", path, "", [("host", "bench")], faas.BodyText(""), "/bench/v1")
        times = []
        for _ in range(n):
            start = time.perf_counter()
            runtime.invoke(fn, faas.EventHttp(request), ctx=InvocationContext(function="bench"))
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times[n // 10:])


def echo_ms(url: str, body: bytes, n: int = 10) -> float:
    with httpx.Client(timeout=60) as client:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            resp = client.post(url, content=body)
            times.append((time.perf_counter() - start) * 1000)
            assert resp.status_code == 200 and resp.content == body, resp.status_code
        return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    hello, echo = build_python_hello(), build_python_echo()
    own = examples()["python"]
    exe = str(wasmtime_serve())
    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores")
    print(f"in process, one invocation: componentize-py wasi:http hello {in_process_ms(hello):.2f} ms; "
          f"wasmlet Python examples' hello {in_process_ms(own, '/api/capitalize/x'):.2f} ms")
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        serve = Serve(Path(tmp) / "data", workers=2, access_log=False)
        ref_port, ref_echo_port = free_port(), free_port()
        with serve.up(Path(tmp) / "serve.log"), \
                running(["serve", "-Scli", "--addr", f"127.0.0.1:{ref_port}", str(hello)],
                        f"http://127.0.0.1:{ref_port}/", Path(tmp) / "ref.log", command=[exe], ready_timeout=180), \
                running(["serve", "-Scli", "--addr", f"127.0.0.1:{ref_echo_port}", str(echo)],
                        f"http://127.0.0.1:{ref_echo_port}/", Path(tmp) / "ref-echo.log", command=[exe],
                        ready_timeout=180):
            for name, wasm in (("hello", hello), ("echo", echo), ("own", own)):
                serve.deploy(name, wasm.read_bytes(), "[limits]\nmemory_mb = 128\n")
            targets = {
                "wasmlet: componentize-py wasi:http hello": f"{serve.base}/hello/latest/",
                "wasmtime serve: componentize-py wasi:http hello": f"http://127.0.0.1:{ref_port}/",
                "wasmlet: Python examples' hello": f"{serve.base}/own/latest/api/capitalize/x",
            }
            for url in targets.values():  # warm: each worker compiles or maps its cache once
                for _ in range(8):
                    httpx.get(url, timeout=120)
            for conns in (1, 16):
                for rnd in range(args.rounds):
                    for label, url in targets.items():
                        r = wrk(url, args.seconds, conns)
                        results.setdefault(f"{label} @{conns}", []).append(r.rps)
                        print(f"round {rnd + 1} {conns:>2} conns  {label:<50} {r.rps:8.1f} req/s  p50 {r.p50:.1f} ms")
            body = os.urandom(1 << 20)
            ours = echo_ms(f"{serve.base}/echo/latest/echo", body)
            theirs = echo_ms(f"http://127.0.0.1:{ref_echo_port}/echo", body)
            print(f"1 MB echo (componentize-py echo): wasmlet {ours:.1f} ms, wasmtime serve {theirs:.1f} ms")
    for conns in (1, 16):
        ours = statistics.median(results[f"wasmlet: componentize-py wasi:http hello @{conns}"])
        theirs = statistics.median(results[f"wasmtime serve: componentize-py wasi:http hello @{conns}"])
        own_rps = statistics.median(results[f"wasmlet: Python examples' hello @{conns}"])
        print(f"{conns:>2} conns: wasi:http hello {ours:.0f} vs {theirs:.0f} req/s = {ours / theirs:.2f}x; "
              f"wasmlet's own Python hello {own_rps:.0f} req/s = {own_rps / theirs:.2f}x of the same peer")


if __name__ == "__main__":
    main()
