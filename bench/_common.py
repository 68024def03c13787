"""Helpers the benchmarks share: our guests, real `wasmlet serve` processes, wrk and RSS."""

from __future__ import annotations

import http.client
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from guests import build_guest  # noqa: E402
from servers import free_port, running  # noqa: E402

TOKEN = "bench"
__all__ = ["ROOT", "Serve", "Wrk", "build_guest", "cpu_model", "free_port", "guests", "rss_mb", "running", "tree_rss_mb",
           "wait_http", "wrk"]


def guests() -> dict[str, Path]:
    """The probe guests (`/hello`, `/echo`) in Rust and Python, built once per source content."""
    return {
        "rust": build_guest("probe-rust", ROOT / "tests/guests/probe-rust", "rust", ROOT / "wit", "function"),
        "python": build_guest("probe-python", ROOT / "tests/guests/probe-python", "python", ROOT / "wit", "function"),
    }


def examples() -> dict[str, Path]:
    """The examples' hello in Rust and Python (router, logging middleware, one log line per request):
    what a user's function looks like, unlike the bare probes."""
    return {
        "rust": build_guest("hello-rust", ROOT / "guest-rust/examples/hello", "rust", ROOT / "wit", "function"),
        "python": build_guest("hello-python", ROOT / "guest-python/examples/hello", "python", ROOT / "wit", "function"),
    }


def cpu_model() -> str:
    """The CPU's model name, to print beside every figure (machines of one kind differ)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def rss_mb(pid: int) -> float:
    """Resident memory of one process."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (forked workers)."""
    total = rss_mb(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        total += tree_rss_mb(int(child))
    return total


@dataclass(frozen=True)
class Wrk:
    """One wrk run: throughput and latency percentiles (milliseconds)."""

    rps: float
    p50: float
    p99: float
    rss_mb: float | None = None
    """Resident memory of the server, sampled halfway through the run (when asked for)."""
    timeouts: int = 0
    """Requests wrk gave up on (2 s without an answer); only when not `strict`."""


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, seconds: int = 5, connections: int = 16, rss_of: int | None = None, strict: bool = True) -> Wrk:
    """Runs wrk on loopback; any non-2xx answer or socket error fails the run (timeouts are
    only counted when not `strict`). With `rss_of`, samples that process tree's RSS halfway through."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    threads = min(2, connections)
    proc = subprocess.Popen(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                            stdout=subprocess.PIPE, text=True)
    rss = None
    if rss_of is not None:
        time.sleep(seconds / 2)
        rss = tree_rss_mb(rss_of)
    out, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"wrk failed on {url}:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    counts = [int(n) for n in errors.groups()] if errors else [0, 0, 0, 0]
    if bad or any(counts[:3]) or (strict and counts[3]):
        raise RuntimeError(f"{url}: wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    return Wrk(rps, _ms(p50), _ms(p99), rss, counts[3])


def wait_http(url: str, timeout: float = 120, poll: float = 0.005) -> None:
    """Polls `url` every `poll` seconds until it answers 200 (with the standard library's client:
    a new httpx client per poll would add tens of milliseconds to a start-up figure)."""
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=5)
        try:
            conn.request("GET", parts.path or "/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(poll)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s")


class Serve:
    """A real `wasmlet serve` process with its admin API, deploying through HTTP."""

    def __init__(self, data: Path, workers: int = 1, access_log: bool = True, config: str = "") -> None:
        self.data = data
        self.workers = workers
        self.access_log = access_log
        self.config = config
        """The text of a `wasmlet.toml` to serve with (none when empty)."""
        self.port, self.admin_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin = httpx.Client(base_url=f"http://127.0.0.1:{self.admin_port}",
                                  headers={"authorization": f"Bearer {TOKEN}"}, timeout=300)

    @contextmanager
    def up(self, log: Path) -> Iterator[subprocess.Popen[bytes]]:
        args = ["serve", "--bind", f"127.0.0.1:{self.port}", "--admin-bind", f"127.0.0.1:{self.admin_port}",
                "--data-dir", str(self.data), "--workers", str(self.workers)]
        if not self.access_log:
            args.append("--no-access-log")
        if self.config:
            path = self.data.parent / "wasmlet.toml"
            path.write_text(self.config)
            args += ["--config", str(path)]
        with running(args, f"{self.base}/_wasmlet/health", log, env={"WASMLET_ADMIN_TOKEN": TOKEN}) as proc:
            deadline = time.monotonic() + 60
            while True:  # with several workers, the admin API (worker 0) may come up after the first worker
                try:
                    self.admin.get("/v1/functions")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield proc

    def deploy(self, name: str, wasm: bytes, manifest: str = "") -> None:
        resp = self.admin.post(f"/v1/functions/{name}/versions", data={"manifest": manifest},
                               files={"component": ("c.wasm", wasm, "application/wasm")})
        resp.raise_for_status()
