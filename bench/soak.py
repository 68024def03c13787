"""A bounded soak: `wasmlet serve --workers 2` under a mix of well-behaved and hostile functions.

The mix: the hello example, a guest that spins past its deadline (504), one that panics (500),
one that allocates until its memory limit (500), a table/memory bomb without any SDK, and SQL
(insert + select on SQLite). Reports requests, answers by status, and for each worker its RSS
and open files before, after and at the peak, sampled every second.

Run: .venv/bin/python bench/soak.py [--minutes 5] [--concurrency 16] [--memory-budget-mb N] [--instance-pool]
     (at most 10 minutes; loopback only)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import httpx
from _common import ROOT, Serve, build_guest, cpu_model, guests

MIX = [  # (path, weight)
    ("/hello/latest/api/capitalize/soak", 40),
    ("/probe/latest/loop", 3),
    ("/probe/latest/panic", 10),
    ("/probe/latest/alloc", 5),
    ("/bombs/latest/table", 5),
    ("/bombs/latest/grow", 5),
    ("/sqlprobe/latest/sql", 20),
    ("/pyprobe/latest/alloc", 2),
]


def _workers(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in children.read_text().split()] if children.exists() else [pid]


def _sample(pid: int) -> tuple[float, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(status.split("VmRSS:")[1].split()[0]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


async def _load(base: str, seconds: float, concurrency: int, counts: collections.Counter[str]) -> None:
    paths = [p for p, w in MIX for _ in range(w)]
    sql = json.dumps({"db": "default", "statement": "INSERT INTO t (v) VALUES (?)", "params": ["x" * 100]})
    deadline = time.monotonic() + seconds

    async def one(index: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            i = index
            while time.monotonic() < deadline:
                path = paths[i % len(paths)]
                i += 7
                try:
                    if path.endswith("/sql"):
                        r = await client.post(path, content=sql)
                    else:
                        r = await client.get(path)
                    counts[str(r.status_code)] += 1
                except httpx.HTTPError as exc:
                    counts[type(exc).__name__] += 1

    await asyncio.gather(*(one(i) for i in range(concurrency)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--memory-budget-mb", type=int, default=None,
                        help="[server] memory_budget_mb for the run (default: wasmlet's own default)")
    parser.add_argument("--instance-pool", action="store_true", help="[server] instance_pool = true for the run")
    args = parser.parse_args()
    minutes = min(args.minutes, 10.0)
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from guests import build_wat

    probes = guests()
    hello = build_guest("hello-rust", ROOT / "guest-rust/examples/hello", "rust", ROOT / "wit", "function")
    bombs = build_wat("bombs")
    with tempfile.TemporaryDirectory() as tmp:
        settings = ([] if args.memory_budget_mb is None else [f"memory_budget_mb = {args.memory_budget_mb}"]) + \
            (["instance_pool = true"] if args.instance_pool else [])
        config = "[server]\n" + "".join(f"{line}\n" for line in settings) if settings else ""
        serve = Serve(Path(tmp) / "data", workers=2, access_log=False, config=config)
        with serve.up(Path(tmp) / "server.log") as proc:
            serve.deploy("hello", hello.read_bytes(), "[limits]\nmemory_mb = 16\n")
            serve.deploy("probe", probes["rust"].read_bytes(), "[limits]\ntimeout_ms = 500\nmemory_mb = 64\n")
            serve.deploy("pyprobe", probes["python"].read_bytes(), "[limits]\ntimeout_ms = 2000\nmemory_mb = 64\n")
            serve.deploy("bombs", bombs.read_bytes(), "[limits]\ntimeout_ms = 1000\nmemory_mb = 64\n")
            serve.deploy("sqlprobe", probes["python"].read_bytes(), "[sql]\ndatabases = [\"default\"]\n[limits]\nmemory_mb = 64\n")
            with httpx.Client(base_url=serve.base, timeout=120) as c:  # compile everything once first
                for path in ("/hello/latest/", "/probe/latest/hello", "/pyprobe/latest/hello", "/bombs/latest/x"):
                    c.get(path)
                create = json.dumps({"db": "default", "statement":
                                     "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"})
                assert c.post("/sqlprobe/latest/sql", content=create).status_code == 200
            workers = _workers(proc.pid)
            before = {w: _sample(w) for w in workers}
            peak = dict(before)
            counts: collections.Counter[str] = collections.Counter()
            timeline: list[tuple[int, list[float]]] = []
            started = time.monotonic()

            async def run() -> None:
                load = asyncio.create_task(_load(serve.base, minutes * 60, args.concurrency, counts))
                while not load.done():
                    await asyncio.sleep(1)
                    now = {w: _sample(w) for w in workers}
                    for w, (rss, fds) in now.items():
                        peak[w] = (max(peak[w][0], rss), max(peak[w][1], fds))
                    elapsed = int(time.monotonic() - started)
                    if elapsed % 30 == 0:
                        timeline.append((elapsed, [round(now[w][0]) for w in workers]))
                await load

            asyncio.run(run())
            time.sleep(2)
            after = {w: _sample(w) for w in workers}
    total = sum(counts.values())
    budget = "default" if args.memory_budget_mb is None else f"{args.memory_budget_mb} MB"
    print(f"# soak: {minutes:g} min, {args.concurrency} connections, `wasmlet serve --workers 2`, "
          f"memory budget {budget}, "
          f"CPU: {cpu_model()}, Python {platform.python_version()}")
    print(f"requests: {total} ({total / (minutes * 60):.0f}/s); by status: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    print("| worker | RSS before | RSS after | RSS peak | open files before / after / peak |")
    print("|---|---:|---:|---:|---:|")
    for i, w in enumerate(workers):
        print(f"| {i} | {before[w][0]:.0f} MB | {after[w][0]:.0f} MB | {peak[w][0]:.0f} MB | "
              f"{before[w][1]} / {after[w][1]} / {peak[w][1]} |")
    print("RSS every 30 s (MB per worker): " + "; ".join(f"{t}s {v}" for t, v in timeline))



if __name__ == "__main__":
    main()
