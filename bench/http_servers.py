"""HTTP throughput of the hello function: ASGI servers and dispatch modes, side by side.

Uses wrk (Debian package) on loopback, fresh instance per request everywhere.
Run: .venv/bin/python bench/http_servers.py [--duration 5]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import build_guest  # noqa: E402
from servers import free_port, stop  # noqa: E402

PY = str(Path(sys.executable))


def wrk(url: str, seconds: int, connections: int) -> tuple[float, str, str]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses")
    return rps, p50, p99


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
    wasm = {
        "rust": build_guest("probe-rust", ROOT / "tests/guests/probe-rust", "rust", ROOT / "wit", "function"),
        "python": build_guest("probe-python", ROOT / "tests/guests/probe-python", "python", ROOT / "wit", "function"),
    }
    variants = [
        ("uvicorn+httptools, threads", "uvicorn", "thread"),
        ("uvicorn+httptools, inline", "uvicorn", "inline"),
        ("hypercorn (asyncio), threads", "hypercorn", "thread"),
        ("granian, threads", "granian", "thread"),
    ]
    rows = []
    for lang in ("rust", "python"):
        for label, server, dispatch in variants:
            port = free_port()
            env = {"BENCH_WASM": str(wasm[lang]), "BENCH_NAME": "hello", "BENCH_DISPATCH": dispatch,
                   "PYTHONPATH": str(ROOT / "bench")}
            if server == "uvicorn":
                cmd = [PY, "-m", "uvicorn", "_app:app", "--port", str(port), "--http", "httptools",
                       "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
            elif server == "hypercorn":
                cmd = [PY, "-m", "hypercorn", "_app:app", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
            else:
                cmd = [str(Path(PY).parent / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
                       "--port", str(port), "--log-level", "warning", "_app:app"]
            proc = start(cmd, env, port)
            try:
                rps, p50, p99 = wrk(f"http://127.0.0.1:{port}/hello/latest/hello", args.duration, args.connections)
            finally:
                stop(proc, grace=10)
            rows.append((lang, label, rps, p50, p99))
            print(f"{lang:6} {label:32} {rps:9.0f} req/s  p50 {p50:>8}  p99 {p99:>8}", file=sys.stderr)
    print(f"\nwrk -t2 -c{args.connections} -d{args.duration}s, hello function, fresh instance per request\n")
    print("| guest | server, dispatch | req/s | p50 | p99 | vs uvicorn threads |")
    print("|---|---|---:|---:|---:|---:|")
    base = {lang: rps for lang, label, rps, _, _ in rows if label.startswith("uvicorn+httptools, threads")}
    for lang, label, rps, p50, p99 in rows:
        print(f"| {lang} | {label} | {rps:,.0f} | {p50} | {p99} | {rps / base[lang]:.2f}× |")


if __name__ == "__main__":
    main()
