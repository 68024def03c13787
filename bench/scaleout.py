"""Several `wasmlet serve` hosts sharing one PostgreSQL registry, on this one machine.

Measures, in one run: the first request on a host that has never compiled a function (beside its
second request); throughput of the examples' hello on 1, 2 and 3 hosts (one wrk per host, the
connections split between them, all at once); how long an alias move made through one host takes
to be served by all three (each host polled by its own client); and the registry transactions
PostgreSQL counts while the three hosts serve (steady state: should be none but the watchers' pings).

Run alone (it needs PostgreSQL on 127.0.0.1:5432 and wrk): .venv/bin/python bench/scaleout.py
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import psycopg
from _common import Serve, Wrk, build_guest, cpu_model, examples, wrk
from pgdb import new_pg_database

from wasmlet.registry.postgres import describe

RELEASE = '[config]\nrelease = "{}"\n'



def transactions(url: str) -> int:
    """Transactions PostgreSQL has counted in this database (committed and rolled back)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
                           ).fetchone()
    return int(row[0]) if row else 0


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def first_requests(hosts: list[Serve], name: str) -> list[tuple[float, float]]:
    """(first, second) request milliseconds on each host that has not compiled `name` yet."""
    out = []
    for host in hosts:
        timings = []
        for _ in range(2):
            start = time.perf_counter()
            status, body = get(host.port, f"/{name}/latest/")
            timings.append((time.perf_counter() - start) * 1000)
            assert status == 200, body[:200]
        out.append((timings[0], timings[1]))
    return out


def throughput(hosts: list[Serve], path: str, connections: int, seconds: int) -> list[Wrk]:
    """One wrk per host, all at once, `connections` split between them."""
    each = max(1, connections // len(hosts))
    with ThreadPoolExecutor(len(hosts)) as pool:
        return list(pool.map(lambda h: wrk(f"{h.base}{path}", seconds, each), hosts))


def _served_at(port: int, expected: bytes, give_up: float) -> float | None:
    """When `port` first answers the probe's `stable` alias with `expected` (polling back to back)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        while time.perf_counter() < give_up:
            conn.request("GET", "/probe/stable/config?key=release")
            if conn.getresponse().read() == expected:
                return time.perf_counter()
        return None
    finally:
        conn.close()


def propagation(hosts: list[Serve], moves: int) -> list[float]:
    """Milliseconds from an alias move's admin answer (through each host in turn) until all hosts
    serve the new target."""
    out: list[float] = []
    with ThreadPoolExecutor(len(hosts)) as pool:
        for i in range(moves):
            target, expected = ("v1", b'Some("one")') if i % 2 else ("v2", b'Some("two")')
            hosts[i % len(hosts)].admin.put("/v1/functions/probe/aliases/stable", json={"version": target}
                                            ).raise_for_status()
            answered = time.perf_counter()
            seen = list(pool.map(lambda h, e=expected, t=answered: _served_at(h.port, e, t + 10), hosts))
            if any(t is None for t in seen):
                raise RuntimeError(f"move {i}: not every host serves {target} after 10 s")
            out.append(max(0.0, (max(t for t in seen if t is not None) - answered) * 1000))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=24)
    parser.add_argument("--moves", type=int, default=200)
    args = parser.parse_args()

    wasm = {lang: path.read_bytes() for lang, path in examples().items()}
    probe = build_guest("probe-rust", Path(__file__).resolve().parent.parent / "tests/guests/probe-rust", "rust",
                        Path(__file__).resolve().parent.parent / "wit", "function").read_bytes()
    print(f"CPU: {cpu_model()}; 2 cores shared by every host, wrk and PostgreSQL")
    with new_pg_database(args.postgres, "wasmlet_bench") as url, tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        print(f"registry: PostgreSQL at {describe(url)}")
        config = f'[registry]\ntype = "postgres"\nurl = "{url}"\n'
        hosts = [Serve(Path(tmp) / f"host{i}" / "data", access_log=False, config=config) for i in range(3)]
        for i, host in enumerate(hosts):
            host.data.parent.mkdir(parents=True)
            stack.enter_context(host.up(Path(tmp) / f"host{i}.log"))
        hosts[0].deploy("hello", wasm["rust"])
        hosts[0].deploy("hello-py", wasm["python"])
        hosts[0].deploy("probe", probe, RELEASE.format("one"))
        hosts[0].deploy("probe", probe, RELEASE.format("two"))
        hosts[0].admin.put("/v1/functions/probe/aliases/stable", json={"version": "v1"}).raise_for_status()
        time.sleep(0.5)

        print("\nfirst request on a host that never compiled the function (ms: first / second)")
        for name in ("hello", "hello-py"):
            timings = first_requests(hosts, name)
            print(f"  {name:9} " + "  ".join(f"host{i}: {a:7.1f} / {b:5.1f}" for i, (a, b) in enumerate(timings)))

        before = transactions(url)
        time.sleep(args.seconds)
        idle = transactions(url) - before - 1
        print(f"\nregistry transactions in {args.seconds} s with 3 hosts idle (the watchers' pings): {idle}")
        print(f"\nthroughput, {args.connections} connections split over the hosts, {args.seconds} s (req/s)")
        for name in ("hello", "hello-py"):
            row = []
            for n in (1, 2, 3):
                before = transactions(url)
                runs = throughput(hosts[:n], f"/{name}/latest/", args.connections, args.seconds)
                during = transactions(url) - before - 1  # less this function's own reading
                total = sum(r.rps for r in runs)
                served = int(total * args.seconds)
                row.append(f"{n} host{'s' if n > 1 else ' '}: {total:7.0f} (p99 {max(r.p99 for r in runs):5.1f} ms; "
                           f"{during} registry transactions for ~{served} requests)")
            print(f"  {name:9} " + "\n            ".join(row))

        latencies = propagation(hosts, args.moves)
        qs = statistics.quantiles(latencies, n=100, method="inclusive")
        print(f"\npropagation over {args.moves} alias moves (admin answered -> all 3 hosts serve it): "
              f"p50 {qs[49]:.1f} ms, p99 {qs[98]:.1f} ms, max {max(latencies):.1f} ms")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
