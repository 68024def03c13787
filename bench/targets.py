"""wasmlet's own performance targets, over real HTTP (no peers needed):
cold start, first request with a warm and a cold compile cache, body echo,
footprint with 1,000 deployed idle functions, and the orders service on SQLite.

Run: .venv/bin/python bench/targets.py   (needs wrk; builds the guests first)
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from _common import ROOT, Serve, build_guest, free_port, guests, rss_mb, wait_http, wrk
from servers import WASMLET, stop

Row = tuple[str, str, str]


def first_request(base: str, path: str) -> tuple[float, float]:
    """Milliseconds for the first request to a function and the one after it, each on an open
    keep-alive connection with the standard library's client (httpx alone adds about a millisecond)."""
    conn = http.client.HTTPConnection(*base.removeprefix("http://").split(":"), timeout=300)
    try:
        times = []
        for url in ("/_wasmlet/health", path, path):
            t = time.perf_counter()
            conn.request("GET", url)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200, body
            times.append((time.perf_counter() - t) * 1000)
        return times[1], times[2]
    finally:
        conn.close()


def first_requests(s: Serve, tmp: Path, starts: int, langs: tuple[str, ...] = ("rust", "python"),
                   path: str = "/hello") -> dict[str, str]:
    """The first request to each `hello-LANG` in `starts` fresh server processes: the median, the range
    and the next request's median (one process start is one sample, so take a few). The registry
    holds a function `warmup` (another component) that each start calls first."""
    samples: dict[str, list[tuple[float, float]]] = {lang: [] for lang in langs}
    for i in range(starts):
        with s.up(tmp / f"serve-first-{i}.log"):
            # the server itself is warm (a thread started, a function called); these functions are not
            httpx.get(f"{s.base}/warmup/latest/hello", timeout=300)
            for lang, found in samples.items():
                found.append(first_request(s.base, f"/hello-{lang}/latest{path}"))
    out = {}
    for lang, found in samples.items():
        firsts, nexts = sorted(f for f, _ in found), sorted(n for _, n in found)
        spread = f", {firsts[0]:.1f}–{firsts[-1]:.1f} over {starts} starts" if starts > 1 else ""
        out[lang] = f"{firsts[len(firsts) // 2]:.1f} ms{spread} (next request {nexts[len(nexts) // 2]:.1f} ms)"
    return out


def measure() -> list[Row]:
    """Every figure of this benchmark, as (what, case, result) rows."""
    wasm = guests()
    orders = build_guest("orders-rust", ROOT / "guest-rust/examples/orders", "rust", ROOT / "wit", "function")
    rows: list[tuple[str, str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="wasmlet-bench-"))
    try:
        # 1. process start -> first response (dev server, Rust hello): one start warms the compile
        # cache, then the median of five
        starts = []
        for _ in range(6):
            port = free_port()
            t = time.perf_counter()
            dev = subprocess.Popen([*WASMLET, "dev", "--bind", f"127.0.0.1:{port}", "-m", f"probe:{wasm['rust']}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                wait_http(f"http://127.0.0.1:{port}/probe/latest/hello", poll=0.001)
                starts.append((time.perf_counter() - t) * 1000)
            finally:
                stop(dev)
        starts = sorted(starts[1:])
        rows.append(("cold start", "process start -> first response (Rust hello, compile cache warm)",
                     f"{starts[2]:.0f} ms, {starts[0]:.0f}–{starts[-1]:.0f} over 5 starts"))

        # 2. first request to a deployed, never-invoked function; warm and cold compile cache
        s = Serve(tmp / "data")
        with s.up(tmp / "serve1.log"):
            for lang in ("rust", "python"):
                s.deploy(f"hello-{lang}", wasm[lang].read_bytes())  # validating compiles: the cache is warm now
            s.deploy("warmup", orders.read_bytes())  # another component: warms threads, not these functions
        for lang, result in first_requests(s, tmp, starts=5).items():
            rows.append(("first request", f"{lang}, compile cache warm", result))
        shutil.rmtree(s.data / "compiled")
        for lang, result in first_requests(s, tmp, starts=1).items():
            rows.append(("first request", f"{lang}, compile cache cold", result))
        with s.up(tmp / "serve3.log"):
            # 3. body echo round trips over HTTP
            with httpx.Client(base_url=s.base, timeout=120) as c:
                for size, label in ((1024, "1 KB"), (100 * 1024, "100 KB"), (1 << 20, "1 MB")):
                    text = json.dumps({"data": "x" * (size - 12)}).encode()[:size]
                    binary = bytes(range(256)) * (size // 256)
                    for kind, payload in (("JSON", text), ("binary", binary)):
                        for lang in ("rust", "python"):
                            url = f"/hello-{lang}/latest/echo"
                            assert c.post(url, content=payload).content == payload
                            times = []
                            for _ in range(5 if size >= 1 << 20 else 20):
                                t = time.perf_counter()
                                c.post(url, content=payload)
                                times.append((time.perf_counter() - t) * 1000)
                            times.sort()
                            rows.append(("echo", f"{lang}, {label} {kind}", f"{times[len(times) // 2]:.1f} ms"))

        # 4. footprint: 1,000 deployed idle functions (nothing compiled or instantiated until called)
        f = Serve(tmp / "data-1000")
        with f.up(tmp / "serve4.log"):
            blob = wasm["rust"].read_bytes()
            for i in range(1000):
                f.deploy(f"fn{i:04d}", blob)
        with f.up(tmp / "serve5.log") as proc:
            rows.append(("footprint", "RSS, fresh process, 1,000 deployed idle functions", f"{rss_mb(proc.pid):.0f} MB"))
            for i in range(0, 1000, 100):
                httpx.get(f"{f.base}/fn{i:04d}/latest/hello", timeout=60)
            under = wrk(f"{f.base}/fn0000/latest/hello", seconds=6, connections=64, rss_of=proc.pid)
            rows.append(("footprint", "RSS under load (10 of them called, wrk -c64 on one)", f"{under.rss_mb:.0f} MB"))

        # 5. the orders service on SQLite, GET /orders with 100 rows
        o = Serve(tmp / "data-orders")
        with o.up(tmp / "serve6.log"):
            o.deploy("orders", orders.read_bytes(), '[config]\ndatabase = "default"\n[sql]\ndatabases = ["default"]\n')
            with httpx.Client(base_url=f"{o.base}/orders/latest", timeout=60) as c:
                c.get("/init").raise_for_status()
                batch = [{"order_id": i, "product_id": i % 7, "quantity": 1 + i % 5, "amount": i * 1.25,
                          "shipping": 3.5, "tax": 1.0, "shipping_address": f"{i} Main Street"} for i in range(100)]
                c.post("/create_orders", json=batch).raise_for_status()
                assert len(c.get("/orders").json()) == 100
            rows.append(("orders", "GET /orders (100 rows, SQLite, Rust), wrk -c16",
                         f"{wrk(f'{o.base}/orders/latest/orders', seconds=5).rps:,.0f} req/s"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    rows = measure()
    print("| what | case | result |")
    print("|---|---|---:|")
    for what, case, result in rows:
        print(f"| {what} | {case} | {result} |")


if __name__ == "__main__":
    main()
