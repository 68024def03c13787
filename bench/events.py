"""A message-triggered hello on NATS JetStream: end-to-end latency (publish → the function's reply
arrives, one message at a time) and throughput (N messages published at once → every reply), for the
Rust and Python probes on one `wasmlet serve --workers 2`.

Run alone: .venv/bin/python bench/events.py   (needs NATS with JetStream on 127.0.0.1:4222)
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, Serve, build_guest, cpu_model


async def measure(url: str, prefix: str, lang: str, latency_n: int, burst: int) -> tuple[list[float], float]:
    import nats

    nc = await nats.connect(url)
    subject = f"{prefix}.hello.{lang}"
    replies: asyncio.Queue[float] = asyncio.Queue()

    async def take(msg: Any) -> None:
        replies.put_nowait(time.perf_counter())

    await nc.subscribe(f"{subject}.reply", cb=take)
    js = nc.jetstream()
    for _ in range(20):  # warm up: compiled, threads started
        await js.publish(subject, b"warm")
        await asyncio.wait_for(replies.get(), 60)
    latencies = []
    for i in range(latency_n):
        started = time.perf_counter()
        await js.publish(subject, f"l{i}".encode())
        latencies.append((await asyncio.wait_for(replies.get(), 60)) - started)
    started = time.perf_counter()
    await asyncio.gather(*(js.publish(subject, f"b{i}".encode()) for i in range(burst)))
    last = started
    for _ in range(burst):
        last = await asyncio.wait_for(replies.get(), 120)
    await nc.close()
    return latencies, burst / (last - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--latency", type=int, default=200, help="messages sent one at a time")
    parser.add_argument("--burst", type=int, default=2000, help="messages published at once")
    args = parser.parse_args()
    probes = {lang: build_guest(f"probe-{lang}", ROOT / f"tests/guests/probe-{lang}", lang, ROOT / "wit", "function")
              for lang in ("rust", "python")}
    tmp = Path(tempfile.mkdtemp(prefix="wasmlet-bench-events-"))
    tag = secrets.token_hex(4)
    stream, prefix = f"WASMLET_BENCH_{tag}", f"b{tag}"
    config = (f'[messaging.events]\ntype = "nats"\nurl = "{args.nats}"\nstream = "{stream}"\n'
              f'subjects = ["{prefix}.hello.*"]\n')
    s = Serve(tmp / "data", workers=2, access_log=False, config=config)
    rows = []
    try:
        with s.up(tmp / "serve.log"):
            for lang, wasm in probes.items():
                s.deploy(f"hello-{lang}", wasm.read_bytes(),
                         f'[messaging]\npublish = ["events:{prefix}.hello.>"]\n[[triggers.message]]\n'
                         f'source = "events"\nsubject = "{prefix}.hello.{lang}"\n')
            time.sleep(3)  # the runners pick the triggers up
            for lang in probes:
                latencies, rate = asyncio.run(measure(args.nats, prefix, lang, args.latency, args.burst))
                latencies.sort()
                rows.append((lang, statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99) - 1] * 1000,
                             rate))
                print(f"  {lang}: done", file=sys.stderr, flush=True)
    finally:
        async def cleanup() -> None:
            import nats

            nc = await nats.connect(args.nats)
            await nc.jetstream().delete_stream(stream)
            await nc.close()

        asyncio.run(cleanup())
    print(f"CPU: {cpu_model()}\n")
    print("| message-triggered hello (JetStream, `serve --workers 2`) | latency p50 | latency p99 | throughput |")
    print("|---|---:|---:|---:|")
    for lang, p50, p99, rate in rows:
        print(f"| {lang} probe: publish → reply | {p50:.2f} ms | {p99:.2f} ms | {rate:,.0f} messages/s |")


if __name__ == "__main__":
    main()
