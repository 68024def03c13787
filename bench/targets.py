"""wasmlet's own performance targets, over real HTTP (no peers needed):
cold start, first request with a warm and a cold compile cache, body echo,
footprint with 1,000 deployed idle functions, and the orders service on SQLite.

Run: .venv/bin/python bench/targets.py   (needs wrk; builds the guests first)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import build_guest  # noqa: E402
from servers import free_port, running  # noqa: E402

TOKEN = "bench"


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]


class Serve:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.port, self.admin_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin = httpx.Client(base_url=f"http://127.0.0.1:{self.admin_port}",
                                  headers={"authorization": f"Bearer {TOKEN}"}, timeout=300)

    @contextmanager
    def up(self, log: Path) -> Iterator[subprocess.Popen[bytes]]:
        args = ["serve", "--bind", f"127.0.0.1:{self.port}", "--admin-bind", f"127.0.0.1:{self.admin_port}",
                "--data-dir", str(self.data)]
        with running(args, f"{self.base}/_wasmlet/health", log, env={"WASMLET_ADMIN_TOKEN": TOKEN}) as proc:
            yield proc

    def deploy(self, name: str, wasm: bytes, manifest: str = "") -> None:
        resp = self.admin.post(f"/v1/functions/{name}/versions", data={"manifest": manifest},
                               files={"component": ("c.wasm", wasm, "application/wasm")})
        resp.raise_for_status()


def first_request_ms(client: httpx.Client, url: str) -> float:
    """One request on an open connection (a new httpx client alone costs tens of ms)."""
    client.get("/_wasmlet/health").raise_for_status()
    t = time.perf_counter()
    resp = client.get(url)
    assert resp.status_code == 200, resp.text
    return (time.perf_counter() - t) * 1000


def wrk(url: str, seconds: int = 5, connections: int = 16, script: str | None = None) -> float:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> None:
    wasm = {
        "rust": build_guest("probe-rust", ROOT / "tests/guests/probe-rust", "rust", ROOT / "wit", "function"),
        "python": build_guest("probe-python", ROOT / "tests/guests/probe-python", "python", ROOT / "wit", "function"),
    }
    orders = build_guest("orders-rust", ROOT / "guest-rust/examples/orders", "rust", ROOT / "wit", "function")
    rows: list[tuple[str, str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="wasmlet-bench-"))
    try:
        # 1. process start -> first response (dev server, Rust hello, compile cache warm from earlier runs)
        port = free_port()
        t = time.perf_counter()
        with running(["dev", "--bind", f"127.0.0.1:{port}", "-m", f"probe:{wasm['rust']}"],
                     f"http://127.0.0.1:{port}/probe/latest/hello", tmp / "dev.log"):
            rows.append(("cold start", "process start -> first response (Rust hello)",
                         f"{(time.perf_counter() - t) * 1000:.0f} ms"))

        # 2. first request to a deployed, never-invoked function; warm and cold compile cache
        s = Serve(tmp / "data")
        with s.up(tmp / "serve1.log"):
            for lang in ("rust", "python"):
                s.deploy(f"hello-{lang}", wasm[lang].read_bytes())  # validating compiles: the cache is warm now
            s.deploy("warmup", orders.read_bytes())  # another component: warms threads, not these functions
        with s.up(tmp / "serve2.log"), httpx.Client(base_url=s.base, timeout=120) as c:
            # the server itself is warm (threads started, connection open); the functions are not
            c.get("/warmup/latest/hello")
            for lang in ("rust", "python"):
                ms = first_request_ms(c, f"/hello-{lang}/latest/hello")
                rows.append(("first request", f"{lang}, compile cache warm", f"{ms:.1f} ms"))
        shutil.rmtree(s.data / "compiled")
        with s.up(tmp / "serve3.log"), httpx.Client(base_url=s.base, timeout=120) as c0:
            c0.get("/warmup/latest/hello")
            for lang in ("rust", "python"):
                ms = first_request_ms(c0, f"/hello-{lang}/latest/hello")
                rows.append(("first request", f"{lang}, compile cache cold", f"{ms:.1f} ms"))

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
            wrk(f"{f.base}/fn0000/latest/hello", seconds=5)
            rows.append(("footprint", "RSS after 10 called and 5 s under wrk -c16", f"{rss_mb(proc.pid):.0f} MB"))

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
                         f"{wrk(f'{o.base}/orders/latest/orders', seconds=5):,.0f} req/s"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| what | case | result |")
    print("|---|---|---:|")
    for what, case, result in rows:
        print(f"| {what} | {case} | {result} |")


if __name__ == "__main__":
    main()
