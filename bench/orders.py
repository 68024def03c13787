"""The orders microservice against a plain Python service doing the same query: `GET /orders`
with 100 rows on SQLite, the Rust and the Python guest on `wasmlet serve --workers 2`, and a plain
ASGI app with sqlite3 on uvicorn (2 workers, httptools, uvloop); wrk -c16, interleaved rounds.

Run alone: .venv/bin/python bench/orders.py   (needs wrk; builds the guests first)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import httpx
from _common import ROOT, Serve, build_guest, free_port, wait_http, wrk
from run import Target, process

MANIFEST = '[config]\ndatabase = "default"\n[sql]\ndatabases = ["default"]\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="wasmlet serve --workers and uvicorn --workers")
    args = parser.parse_args()
    wasm = {lang: build_guest(f"orders-{lang}", ROOT / f"guest-{lang}/examples/orders", lang, ROOT / "wit", "function")
            for lang in ("rust", "python")}
    tmp = Path(tempfile.mkdtemp(prefix="wasmlet-orders-"))
    s = Serve(tmp / "data", workers=args.workers, access_log=False)
    with s.up(tmp / "serve.log") as proc:
        for lang in ("rust", "python"):
            s.deploy(f"orders-{lang}", wasm[lang].read_bytes(), MANIFEST)
        with httpx.Client(base_url=f"{s.base}/orders-rust/latest", timeout=60) as c:
            c.get("/init").raise_for_status()
            batch = [{"order_id": i, "product_id": i % 7, "quantity": 1 + i % 5, "amount": i * 1.25, "shipping": 3.5,
                      "tax": 1.0, "shipping_address": f"{i} Main Street"} for i in range(100)]
            c.post("/create_orders", json=batch).raise_for_status()
        expected = httpx.get(f"{s.base}/orders-rust/latest/orders").json()
        assert len(expected) == 100 and httpx.get(f"{s.base}/orders-python/latest/orders").json() == expected
        port = free_port()
        url = f"http://127.0.0.1:{port}/orders"
        env_db = str(tmp / "data" / "sql-default.sqlite3")  # the `default` label of `serve --data-dir`
        os.environ["ORDERS_DB"] = env_db
        cmd = [sys.executable, "-m", "uvicorn", "_orders_plain:app", "--port", str(port), "--workers", str(args.workers),
               "--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
        with process(cmd, url, tmp / "plain.log") as plain_pid:
            wait_http(url)
            assert httpx.get(url).json() == expected
            targets = [Target("rust", "wasmlet, Rust orders", f"{s.base}/orders-rust/latest/orders", proc.pid),
                       Target("python", "wasmlet, Python orders", f"{s.base}/orders-python/latest/orders", proc.pid),
                       Target("plain", f"plain ASGI + sqlite3 (uvicorn, {args.workers} workers)", url, plain_pid)]
            for t in targets:
                wrk(t.url, seconds=2, connections=16)
            for r in range(args.rounds):
                for t in targets:
                    result = wrk(t.url, seconds=args.duration, connections=16, rss_of=t.pid)
                    t.runs.setdefault(16, []).append(result)
                    print(f"  round {r + 1} {t.label:44} {result.rps:9,.0f} req/s  p99 {result.p99:7.2f} ms",
                          file=sys.stderr, flush=True)
    print("| server | req/s (median round) | p99 | ÷ plain, per round (median, range) |")
    print("|---|---:|---:|---:|")
    plain = targets[2]
    for t in targets:
        ratios = sorted(a.rps / b.rps for a, b in zip(t.runs[16], plain.runs[16]))
        r = t.result(16)
        print(f"| {t.label} | {r.rps:,.0f} | {r.p99:.1f} ms | {ratios[len(ratios) // 2]:.2f}× "
              f"({ratios[0]:.2f}–{ratios[-1]:.2f}) |")


if __name__ == "__main__":
    main()
