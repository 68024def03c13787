"""HTTP throughput of the hello function: ASGI servers and dispatch modes, side by side.

Uses wrk (Debian package) on loopback, fresh instance per request everywhere.
Run: .venv/bin/python bench/http_servers.py [--duration 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _common import ROOT, free_port, guests, wrk
from servers import stop

PY = str(Path(sys.executable))


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT, start_new_session=True)  # stop() ends the whole group (granian forks workers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/hello/latest/hello", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    wasm = guests()
    variants = [
        ("uvicorn+httptools (asyncio), auto", "uvicorn", "auto", "asyncio"),
        ("uvicorn+httptools (asyncio), threads", "uvicorn", "thread", "asyncio"),
        ("uvicorn+httptools (uvloop), auto", "uvicorn", "auto", "uvloop"),
        ("hypercorn (asyncio), auto", "hypercorn", "auto", ""),
        ("granian, auto", "granian", "auto", ""),
    ]
    rows = []
    for lang in ("rust", "python"):
        for label, server, dispatch, loop in variants:
            if server == "granian" and not (Path(PY).parent / "granian").exists():
                print("granian is not installed (pip install granian): skipped", file=sys.stderr)
                continue
            port = free_port()
            env = {"BENCH_WASM": str(wasm[lang]), "BENCH_NAME": "hello", "BENCH_DISPATCH": dispatch,
                   "PYTHONPATH": str(ROOT / "bench")}
            if server == "uvicorn":
                cmd = [PY, "-m", "uvicorn", "_app:app", "--port", str(port), "--http", "httptools",
                       "--loop", loop, "--no-access-log", "--log-level", "warning"]
            elif server == "hypercorn":
                cmd = [PY, "-m", "hypercorn", "_app:app", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
            else:
                cmd = [str(Path(PY).parent / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
                       "--port", str(port), "--log-level", "warning", "_app:app"]
            proc = start(cmd, env, port)
            try:
                r = wrk(f"http://127.0.0.1:{port}/hello/latest/hello", args.duration, args.connections, strict=False)
            finally:
                stop(proc, grace=10)
            rows.append((lang, label, r.rps, r.p50, r.p99, r.timeouts))
            print(f"{lang:6} {label:36} {r.rps:9.0f} req/s  p50 {r.p50:7.2f} ms  p99 {r.p99:7.2f} ms", file=sys.stderr)
    print(f"\nwrk -t2 -c{args.connections} -d{args.duration}s, hello function, fresh instance per request\n")
    print("| guest | server, dispatch | req/s | p50 | p99 | timeouts (2 s) | vs the default |")
    print("|---|---|---:|---:|---:|---:|---:|")
    base = {lang: rps for lang, label, rps, *_ in rows if label == variants[0][0]}
    for lang, label, rps, p50, p99, timeouts in rows:
        print(f"| {lang} | {label} | {rps:,.0f} | {p50:.2f} ms | {p99:.2f} ms | {timeouts} | {rps / base[lang]:.2f}× |")


if __name__ == "__main__":
    main()
