"""The side-by-side benchmark: wasmlet against `wasmtime serve` and plain uvicorn, in one run.

Every server gets the same load from wrk on loopback (1, 16 and 64 connections),
a fresh instance per request everywhere. Then wasmlet's own figures (cold start,
first request, body echo, footprint, orders) from `bench/targets.py`. Prints
Markdown (also written to `.wasmlet/bench/report.md`).

Run: bash bench/run.sh   (sets up, installs wrk, then runs this)
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT, Serve, Wrk, cpu_model, examples, free_port, guests, wait_http, wrk
from peers import DEFAULT_PEERS, WASMTIME_BIN, WORK, peer_components, wasmtime_cli
from servers import stop
from targets import measure

PY = sys.executable


@dataclass
class Target:
    """One server and the URL of its hello; a wrk result per connection count and round."""

    key: str
    label: str
    url: str
    pid: int
    runs: dict[int, list[Wrk]] = field(default_factory=dict)

    def result(self, connections: int) -> Wrk:
        """The median round (by requests/s) at this connection count."""
        runs = sorted(self.runs[connections], key=lambda r: r.rps)
        return runs[len(runs) // 2]


@contextmanager
def process(cmd: list[str], health: str, log: Path) -> Iterator[int]:
    """Starts a peer server and stops it (and whatever it forked) afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT / "bench",
                                start_new_session=True)
        try:
            wait_http(health)
            yield proc.pid
        finally:
            stop(proc, grace=10)


def measure_all(targets: list[Target], connections: list[int], seconds: int, rounds: int) -> None:
    """Every server under the same loads, interleaved round by round, so that a change in the
    machine's speed during the run (a shared VM's steal time) falls on all of them alike."""
    for t in targets:
        wrk(t.url, seconds=2, connections=16)  # warm-up: compile caches, page faults, thread pools
    for r in range(rounds):
        for c in connections:
            for t in targets:
                result = wrk(t.url, seconds=seconds, connections=c, rss_of=t.pid)
                t.runs.setdefault(c, []).append(result)
                print(f"  round {r + 1} {t.label:42} c={c:<3} {result.rps:9,.0f} req/s  p50 {result.p50:7.2f} ms  "
                      f"p99 {result.p99:7.2f} ms  RSS {result.rss_mb:5.0f} MB", file=sys.stderr, flush=True)


def cold_start(cmd: list[str], url: str, log: Path, cache_home: Path) -> float:
    """Milliseconds from process start to the first 200 answer; both hosts keep their compile
    caches under XDG_CACHE_HOME, so a fresh `cache_home` means a cold cache."""
    t = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
                                env={**os.environ, "XDG_CACHE_HOME": str(cache_home)})
        try:
            wait_http(url, timeout=300)
            return (time.perf_counter() - t) * 1000
        finally:
            stop(proc, grace=10)


def round_ratios(ours: Target, peer: Target, connections: int) -> list[float]:
    """wasmlet ÷ peer within each round (measured back to back), sorted."""
    return sorted(a.rps / b.rps for a, b in zip(ours.runs[connections], peer.runs[connections]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=Path, default=Path(os.environ.get("WASMLET_BENCH_PEERS", DEFAULT_PEERS)),
                        help="directory with the peer inputs: wit/, python-hello/, tiny-hello/")
    parser.add_argument("--duration", type=int, default=6, help="seconds per wrk run")
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per server and load")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="wasmlet serve --workers and uvicorn --workers (default: one per core)")
    parser.add_argument("--skip-targets", action="store_true", help="only the side-by-side table")
    args = parser.parse_args()
    conns = [int(c) for c in args.connections.split(",")]

    ours = guests()
    realistic = examples()
    peers = peer_components(args.peers)
    wasmtime_exe = str(wasmtime_cli())
    tmp = Path(tempfile.mkdtemp(prefix="wasmlet-bench-"))
    lines: list[str] = []
    say = lines.append
    try:
        # ---------------------------------------------------------------- throughput
        with ExitStack() as up:
            s = Serve(tmp / "data", workers=args.workers, access_log=False)
            pid = up.enter_context(s.up(tmp / "wasmlet.log")).pid
            for lang in ("rust", "python"):
                s.deploy(f"hello-{lang}", ours[lang].read_bytes())
                s.deploy(f"example-{lang}", realistic[lang].read_bytes())
            targets = [Target(f"wasmlet-{lang}", f"wasmlet, {lang} probe hello", f"{s.base}/hello-{lang}/latest/hello", pid)
                       for lang in ("python", "rust")]
            targets += [Target(f"example-{lang}", f"wasmlet, {lang} examples' hello",
                               f"{s.base}/example-{lang}/latest/api/capitalize/hello-world", pid)
                        for lang in ("python", "rust")]
            # the same examples on a host with the instance pool ([server] instance_pool), in the same run
            pooled = Serve(tmp / "data-pooled", workers=args.workers, access_log=False,
                           config="[server]\ninstance_pool = true\n")
            ppid = up.enter_context(pooled.up(tmp / "wasmlet-pooled.log")).pid
            for lang in ("rust", "python"):
                pooled.deploy(f"example-{lang}", realistic[lang].read_bytes())
            targets += [Target(f"pooled-{lang}", f"wasmlet with instance_pool, {lang} examples' hello",
                               f"{pooled.base}/example-{lang}/latest/api/capitalize/hello-world", ppid)
                        for lang in ("python", "rust")]
            for kind, label in (("python", "wasmtime serve, componentize-py hello"),
                                ("tiny", "wasmtime serve, tiny hello (no runtime)")):
                url = f"http://127.0.0.1:{free_port()}/"
                cmd = [wasmtime_exe, "serve", "-Scli", "--addr", url[7:-1], str(peers[kind])]
                targets.append(Target(f"wasmtime-{kind}", label, url,
                                      up.enter_context(process(cmd, url, tmp / f"wasmtime-{kind}.log"))))
            url = f"http://127.0.0.1:{free_port()}/"
            cmd = [PY, "-m", "uvicorn", "_plain:app", "--port", url.rsplit(":", 1)[1][:-1], "--workers",
                   str(args.workers), "--http", "httptools", "--loop", "uvloop", "--no-access-log",
                   "--log-level", "warning"]
            targets.append(Target("uvicorn", f"uvicorn, plain ASGI hello ({args.workers} workers)", url,
                                  up.enter_context(process(cmd, url, tmp / "uvicorn.log"))))
            measure_all(targets, conns, args.duration, args.rounds)
        by = {t.key: t for t in targets}
        w_py, w_rs = by["wasmlet-python"], by["wasmlet-rust"]
        e_py, e_rs = by["example-python"], by["example-rust"]
        p_py, p_tiny, ceiling = by["wasmtime-python"], by["wasmtime-tiny"], by["uvicorn"]

        say("## Side by side: hello world, fresh instance per request\n")
        say(f"`wrk -t2 -cN -d{args.duration}s --latency` (`-t1` at one connection) on loopback, on the same "
            f"machine as the servers; all servers up at once and measured in turn, {args.rounds} rounds, "
            "the median round shown. wasmlet: `wasmlet serve --workers "
            f"{args.workers} --no-access-log`; `wasmtime serve -Scli` ({WASMTIME_BIN}); uvicorn+httptools+uvloop "
            f"with {args.workers} workers. RSS sampled halfway through each run (all processes of the server).\n")
        say("| server | conns | req/s | p50 | p99 | RSS |")
        say("|---|---:|---:|---:|---:|---:|")
        for t in targets:
            for c in conns:
                r = t.result(c)
                say(f"| {t.label} | {c} | {r.rps:,.0f} | {r.p50:.2f} ms | {r.p99:.2f} ms | {r.rss_mb:.0f} MB |")
        say("\nRatios: wasmlet ÷ peer in each round (the two measured back to back), the median round "
            "and the range over all rounds; p99 from the median rounds above.\n")
        say("| comparison | conns | req/s ratio | range | p99 wasmlet / peer |")
        say("|---|---:|---:|---:|---:|")
        for ours_t, peer, name in (
                (e_py, p_py, "Python examples' hello: wasmlet ÷ wasmtime serve (componentize-py hello)"),
                (e_rs, p_tiny, "Rust examples' hello: wasmlet ÷ wasmtime serve (tiny, no runtime)"),
                (w_py, p_py, "Python probe hello: wasmlet ÷ wasmtime serve (componentize-py)"),
                (w_rs, p_tiny, "Rust probe hello: wasmlet ÷ wasmtime serve (tiny, no runtime)"),
                (w_rs, ceiling, "Rust probe hello: wasmlet ÷ plain uvicorn (no wasm)"),
                (by["pooled-python"], e_py, "Python examples' hello: instance_pool ÷ default"),
                (by["pooled-rust"], e_rs, "Rust examples' hello: instance_pool ÷ default")):
            for c in conns:
                a, b = ours_t.result(c), peer.result(c)
                ratios = round_ratios(ours_t, peer, c)
                say(f"| {name} | {c} | **{ratios[len(ratios) // 2]:.2f}×** | {ratios[0]:.2f}–{ratios[-1]:.2f} "
                    f"| {a.p99:.1f} / {b.p99:.1f} ms |")

        # ---------------------------------------------------------------- cold start vs the peer
        say("\n## Cold start: process start → first response\n")
        say("Each host started twice on a fresh compile cache (`XDG_CACHE_HOME`, where both keep it): "
            "the first start compiles, the second finds the compiled artifact.\n")
        say("| server | hello | first start (cache cold) | second start (cache warm) |")
        say("|---|---|---:|---:|")
        for host, lang in (("wasmlet", "rust"), ("wasmtime", "tiny"), ("wasmlet", "python"), ("wasmtime", "python")):
            cache_home = tmp / f"cache-{host}-{lang}"
            times = []
            for attempt in range(2):
                port = free_port()
                if host == "wasmlet":
                    cmd = [str(Path(PY).parent / "wasmlet"), "dev", "--bind", f"127.0.0.1:{port}",
                           "-m", f"h:{ours[lang]}"]
                    url, label = f"http://127.0.0.1:{port}/h/latest/hello", "wasmlet dev"
                else:
                    cmd = [wasmtime_exe, "serve", "-Scli", "--addr", f"127.0.0.1:{port}", str(peers[lang])]
                    url, label = f"http://127.0.0.1:{port}/", "wasmtime serve"
                times.append(cold_start(cmd, url, tmp / f"cold-{host}-{lang}-{attempt}.log", cache_home))
            name = "componentize-py" if host == "wasmtime" and lang == "python" else lang
            say(f"| {label} | {name} | {times[0]:,.0f} ms | {times[1]:,.0f} ms |")

        # ---------------------------------------------------------------- wasmlet's own targets
        if not args.skip_targets:
            say("\n## wasmlet's own targets\n")
            say("| what | case | result |")
            say("|---|---|---:|")
            for what, case, result in measure():
                say(f"| {what} | {case} | {result} |")

        say("\n## Machine\n")
        say(f"{os.cpu_count()} cores ({cpu_model()}), {_mem_gib():.0f} GiB, {platform.platform()}, "
            f"CPython {platform.python_version()}, wasmtime-py {importlib.metadata.version('wasmtime')}, "
            f"{subprocess.run([wasmtime_exe, '--version'], capture_output=True, text=True).stdout.strip()}.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = "\n".join(lines) + "\n"
    (WORK / "report.md").write_text(report)
    print(report)



def _mem_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


if __name__ == "__main__":
    main()
