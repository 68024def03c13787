"""The JavaScript/TypeScript guest beside the Rust and Python ones: component size and build time
(cold, no build cache), first request to a deployed function with a warm and a cold compile cache,
req/s of the three examples' hello on one `wasmlet serve --workers 2` in interleaved rounds, and
edit → new response in `wasmlet dev` for a scaffolded TypeScript function.

Run alone: .venv/bin/python bench/js.py   (needs wrk and Node.js; builds the guests first)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import ROOT, Serve, build_guest, cpu_model, free_port, running, wrk
from targets import first_requests

from wasmlet.build import build_js, build_python, build_rust

LANGS = ("rust", "python", "js")
SOURCES = {lang: ROOT / f"guest-{lang}/examples/hello" for lang in LANGS}



def build_cold(tmp: Path) -> dict[str, tuple[Path, float]]:
    """Each examples' hello built from scratch (no build cache, fresh cargo target): path, seconds."""
    out: dict[str, tuple[Path, float]] = {}
    for lang in LANGS:
        wasm = tmp / f"hello-{lang}.wasm"
        started = time.perf_counter()
        if lang == "rust":
            build_rust(SOURCES[lang], wasm, target_dir=tmp / "cargo-target")
        elif lang == "python":
            build_python(SOURCES[lang], wasm, cache_dir=tmp / "build-cache")
        else:
            build_js(SOURCES[lang], wasm, cache_dir=tmp / "build-cache")
        out[lang] = (wasm, time.perf_counter() - started)
    return out


def edit_to_response(tmp: Path) -> float:
    """`wasmlet new ts`, `wasmlet dev`, then save a changed greeting and poll until it is served."""
    subprocess.run([sys.executable, "-m", "wasmlet.cli", "new", "ts", "live", "--dir", str(tmp)], check=True,
                   capture_output=True)
    app = tmp / "live" / "src" / "app.ts"
    port = free_port()
    base = f"http://127.0.0.1:{port}/live/latest/hello/you"
    env = {"WASMLET_BUILD_CACHE": str(tmp / "dev-build-cache")}
    with running(["dev", "--bind", f"127.0.0.1:{port}", str(tmp / "live")], f"http://127.0.0.1:{port}/_wasmlet/health",
                 tmp / "dev.log", env=env, ready_timeout=300):
        assert httpx.get(base, timeout=30).text == "Hello, you!"
        app.write_text(app.read_text().replace("`Hello, ${req.params.name}!`", "`Howdy, ${req.params.name}!`"))
        started = time.perf_counter()
        while httpx.get(base, timeout=30).text != "Howdy, you!":
            time.sleep(0.02)
            if time.perf_counter() - started > 120:
                raise SystemExit("the edit was not served within 120 s")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wasmlet-bench-js-"))
    try:
        built = build_cold(tmp)
        print(f"CPU: {cpu_model()}, {os.cpu_count()} cores\n")
        print("| examples' hello | component | build from scratch |")
        print("|---|---:|---:|")
        for lang, (wasm, seconds) in built.items():
            print(f"| {lang} | {wasm.stat().st_size / 1e6:.1f} MB | {seconds:.1f} s |")

        s = Serve(tmp / "data", workers=2, access_log=False)
        with s.up(tmp / "serve.log") as proc:
            for lang, (wasm, _) in built.items():
                s.deploy(f"hello-{lang}", wasm.read_bytes())
            for lang in LANGS:
                httpx.get(f"{s.base}/hello-{lang}/latest/api/capitalize/warm", timeout=60).raise_for_status()
                wrk(f"{s.base}/hello-{lang}/latest/api/capitalize/hello-world", seconds=2, connections=16)
            runs: dict[tuple[str, int], list[float]] = {}
            for r in range(args.rounds):
                for conns in (1, 16):
                    for lang in LANGS:
                        result = wrk(f"{s.base}/hello-{lang}/latest/api/capitalize/hello-world",
                                     seconds=args.duration, connections=conns, rss_of=proc.pid)
                        runs.setdefault((lang, conns), []).append(result.rps)
                        print(f"  round {r + 1} {lang:6} c={conns:<3} {result.rps:9,.0f} req/s", file=sys.stderr,
                              flush=True)
        print("\n| examples' hello, `serve --workers 2` | 1 conn | 16 conns |")
        print("|---|---:|---:|")
        for lang in LANGS:
            print(f"| {lang} | " + " | ".join(f"{statistics.median(runs[(lang, c)]):,.0f} req/s" for c in (1, 16)) + " |")

        # first request to a deployed, never-invoked function (warm, then cold compile cache), a fresh
        # process per sample; `warmup` is another component that each start calls first
        probe = build_guest("probe-rust", ROOT / "tests/guests/probe-rust", "rust", ROOT / "wit", "function")
        with s.up(tmp / "serve-warmup.log"):
            s.deploy("warmup", probe.read_bytes())
        warm = first_requests_of(s, tmp, starts=5)
        shutil.rmtree(s.data / "compiled", ignore_errors=True)
        cold = first_requests_of(s, tmp, starts=1)
        print("\n| first request to a deployed function | compile cache warm | compile cache cold |")
        print("|---|---:|---:|")
        for lang in LANGS:
            print(f"| {lang} | {warm[lang]} | {cold[lang]} |")
        print(f"\nedit → new response in `wasmlet dev` (TypeScript scaffold): {edit_to_response(tmp):.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def first_requests_of(s: Serve, tmp: Path, starts: int) -> dict[str, str]:
    """bench/targets.py's first-request measure over the three examples' hello."""
    return first_requests(s, tmp, starts, langs=LANGS, path="/api/capitalize/hello-world")


if __name__ == "__main__":
    main()
