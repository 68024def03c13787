"""Starting real `wasmlet` processes on free loopback ports, and stopping them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

WASMLET = [sys.executable, "-m", "wasmlet.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{read_log(proc)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not healthy after {timeout}s")


def read_log(proc: subprocess.Popen[bytes]) -> str:
    log = getattr(proc, "log_path", None)
    return Path(log).read_text(errors="replace") if log else ""


@contextmanager
def running(args: list[str], health: str, log_path: Path, env: dict[str, str] | None = None,
            cwd: Path | None = None, command: list[str] | None = None,
            ready_timeout: float = 60) -> Iterator[subprocess.Popen[bytes]]:
    """Starts `wasmlet ARGS` (or `command + ARGS`), waits until `health` answers, and always stops it."""
    log = open(log_path, "wb")
    proc = subprocess.Popen((command or WASMLET) + args, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    proc.log_path = str(log_path)  # type: ignore[attr-defined]
    try:
        wait_healthy(health, proc, ready_timeout)
        yield proc
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited after `grace` seconds; then anything
    left in its process group (workers a server forked) is killed too."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def seconds_to_stop(proc: subprocess.Popen[bytes], grace: float = 30) -> float:
    """Stops `proc` (see `stop`) and returns how long it took to exit."""
    start = time.monotonic()
    stop(proc, grace=grace)
    return time.monotonic() - start


def eventually(check: Callable[[], object], timeout: float = 60) -> bool:
    """Polls `check` (HTTP errors count as not yet) until it is true or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False
