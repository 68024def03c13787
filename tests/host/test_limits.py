"""Limits a hostile guest must not get past: memory, tables, instances, output and log floods,
and the memory of failed invocations (freed at once, not when the collector runs)."""

from __future__ import annotations

import logging
import os
import resource
import threading
from pathlib import Path

import pytest

from wasmlet import BodyText, EventHttp, GuestTrap, Limits, OutOfMemory, Request, Runtime, Timeout
from wasmlet.capabilities import InvocationContext
from wasmlet.runtime import MAX_TABLE_ELEMENTS


def get(runtime: Runtime, wasm: Path, path: str, limits: Limits | None = None,
        ctx: InvocationContext | None = None) -> str:
    fn = runtime.load_file(wasm)
    response = runtime.invoke(fn, EventHttp(Request("GET", path.split("?")[0], path.partition("?")[2], [],
                                                     BodyText(""), "/t/1")), limits=limits, ctx=ctx)
    assert isinstance(response.body, BodyText)
    return response.body.value


def rss_mb() -> int:
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) // 1024


def peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def test_table_growth_is_capped(runtime: Runtime, wat_wasm: dict[str, Path]) -> None:
    """Unlimited, this guest grows its table until the host has used gigabytes (8 bytes an element)."""
    before = peak_mb()
    assert get(runtime, wat_wasm["bombs"], "/table", Limits(memory_mb=64, timeout_ms=5000)) == "limited"
    assert peak_mb() - before < 50, "the table grew past its cap"
    assert MAX_TABLE_ELEMENTS * 8 < 16 << 20


def test_memory_growth_stops_at_memory_mb(runtime: Runtime, wat_wasm: dict[str, Path]) -> None:
    """The guest touches every page it is given: the host's peak grows by about memory_mb, not more."""
    before = peak_mb()
    assert get(runtime, wat_wasm["bombs"], "/grow", Limits(memory_mb=96, timeout_ms=5000)) == "limited"
    grown = peak_mb() - before
    assert grown < 96 + 40, f"peak grew {grown} MB for a 96 MB limit"


def test_extra_memories_are_refused(runtime: Runtime, wat_wasm: dict[str, Path]) -> None:
    """Twenty memories of 60 MB each would be 1.2 GB per request: one memory per instance only."""
    with pytest.raises(GuestTrap, match="more than wasmlet allows one instance"):
        get(runtime, wat_wasm["memories"], "/", Limits(memory_mb=64))


@pytest.mark.parametrize("lang", ["rust", "python"])
def test_failed_invocations_free_their_memory_at_once(runtime: Runtime, probe_wasm: dict[str, Path],
                                                       lang: str) -> None:
    """Each trap used to keep its store (~60 MB) until the garbage collector ran."""
    import gc

    gc.disable()
    try:
        get(runtime, probe_wasm[lang], "/hello")
        start = rss_mb()
        for _ in range(8):
            with pytest.raises(OutOfMemory):
                get(runtime, probe_wasm[lang], "/alloc", Limits(memory_mb=64))
        assert rss_mb() - start < 100, f"{rss_mb() - start} MB still held after 8 failed invocations"
    finally:
        gc.enable()


def test_a_spinning_guest_is_stopped(runtime: Runtime, wat_wasm: dict[str, Path]) -> None:
    with pytest.raises(Timeout):
        get(runtime, wat_wasm["bombs"], "/spin", Limits(timeout_ms=200))


def test_log_flood_is_capped_and_cannot_forge_lines(runtime: Runtime, probe_wasm: dict[str, Path],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wasmlet.guest")
    ctx = InvocationContext("flood", logger=logging.getLogger("wasmlet.guest.flood"))
    assert get(runtime, probe_wasm["python"], "/log-flood?n=5000", Limits(max_log_lines=100), ctx) == "logged 5000"
    lines = [r for r in caplog.records if r.name == "wasmlet.guest.flood"]
    assert len(lines) == 101, len(lines)  # 100 kept, then one line saying how many were dropped
    assert "4900 guest log line(s) dropped" in lines[-1].getMessage()
    for record in lines[:-1]:
        message = record.getMessage()
        assert "\n" not in message and "\x1b" not in message and "\\n2026-01-01" in message


def test_stdout_flood_is_bounded(runtime: Runtime, probe_wasm: dict[str, Path],
                                 caplog: pytest.LogCaptureFixture) -> None:
    """200 MB written to stdout: the capture file keeps at most its limit (plus what 50 ms adds)."""
    import threading

    caplog.set_level(logging.INFO, logger="wasmlet.guest")
    shm_before, peak, done = _shm_used_mb(), [0], threading.Event()

    def sample() -> None:  # tmpfs use while the guest writes
        while not done.wait(0.01):
            peak[0] = max(peak[0], _shm_used_mb())

    sampler = threading.Thread(target=sample)
    sampler.start()
    ctx = InvocationContext("printer", logger=logging.getLogger("wasmlet.guest.printer"))
    try:
        assert get(runtime, probe_wasm["python"], "/print-flood?mb=200",
                   Limits(max_log_bytes=1 << 20, timeout_ms=20_000), ctx) == "printed 200 MB"
    finally:
        done.set()
        sampler.join()
    kept = sum(len(r.getMessage()) for r in caplog.records if r.name == "wasmlet.guest.printer")
    assert kept <= (1 << 20) + 200, kept
    assert any("dropped" in r.getMessage() for r in caplog.records if r.name == "wasmlet.guest.printer")
    assert peak[0] - shm_before < 100, f"the capture held {peak[0] - shm_before} MB of tmpfs"


def _shm_used_mb() -> int:
    if not os.path.isdir("/dev/shm"):
        return 0
    st = os.statvfs("/dev/shm")
    return (st.f_blocks - st.f_bfree) * st.f_frsize // (1 << 20)


@pytest.mark.anyio
async def test_memory_budget_queues_in_order_and_times_out() -> None:
    import anyio

    from wasmlet._admission import MemoryBudget

    budget = MemoryBudget(100)
    first = await budget.acquire(64, 1)
    order: list[str] = []

    async def waiter(name: str, mb: int) -> None:
        got = await budget.acquire(mb, 5)
        order.append(name)
        await anyio.sleep(0.05)
        budget.release(got)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter, "a", 64)
        await anyio.sleep(0.01)
        tg.start_soon(waiter, "b", 10)  # fits now, but waits behind a: first come, first served
        await anyio.sleep(0.05)
        assert order == [] and budget.used == 64
        with pytest.raises(TimeoutError):
            await budget.acquire(64, 0.05)
        budget.release(first)
    assert sorted(order) == ["a", "b"] and budget.used == 0  # admitted together, once a fitted
    assert await budget.acquire(500, 1) == 100  # a reservation never exceeds the whole budget


@pytest.mark.anyio
async def test_memory_budget_bounds_concurrent_memory_bombs(runtime: Runtime, wat_wasm: dict[str, Path]) -> None:
    """Eight 96 MB bombs at once would take the host ~800 MB; a 200 MB budget lets two run at a time."""
    import anyio
    import httpx

    from wasmlet.asgi import Host, HostSettings
    from wasmlet.manifest import Manifest
    from wasmlet.registry import MemoryRegistry

    registry = MemoryRegistry()
    registry.put("bomb", wat_wasm["bombs"].read_bytes(), Manifest.from_toml("[limits]\nmemory_mb = 96\n"))
    host = Host(runtime, registry, HostSettings(memory_budget_mb=200, dispatch="thread"))
    before, peak, done = rss_mb(), [0], threading.Event()

    def sample() -> None:  # the process's RSS while the bombs run
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://t", timeout=60) as c:
            statuses: list[int] = []

            async def bomb() -> None:
                statuses.append((await c.get("/bomb/latest/grow")).status_code)

            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(bomb)
    finally:
        done.set()
        sampler.join()
    assert statuses == [200] * 8
    assert peak[0] - before < 2 * 96 + 60, f"RSS grew {peak[0] - before} MB under a 200 MB budget"
    assert host.memory.used == 0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_a_guest_blocked_inside_wasi_holds_neither_the_loop_nor_every_thread(
        tmp_path: Path, wat_wasm: dict[str, Path], probe_wasm: dict[str, Path]) -> None:
    """Red-team finding: a component sleeping 20 s in `wasi:io/poll` (out of the epoch deadline's
    reach) ran inline and froze the event loop, eight of them took every worker thread, and
    SIGTERM waited the full 20 s."""
    import shutil
    import time

    import httpx
    from servers import free_port, running, seconds_to_stop

    shutil.copy(wat_wasm["sleeper"], tmp_path / "sleeper.wasm")
    (tmp_path / "sleeper.toml").write_text("[limits]\ntimeout_ms = 1000\n")
    shutil.copy(probe_wasm["python"], tmp_path / "py.wasm")
    shutil.copy(probe_wasm["rust"], tmp_path / "rust.wasm")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["dev", "--bind", f"127.0.0.1:{port}", "--grace", "1", "-m", f"sleeper:{tmp_path / 'sleeper.wasm'}",
            "-m", f"py:{tmp_path / 'py.wasm'}", "-m", f"rust:{tmp_path / 'rust.wasm'}"]
    sleepers: list[threading.Thread] = []
    with running(args, f"{base}/_wasmlet/health", tmp_path / "log", cwd=tmp_path) as proc:
        assert httpx.get(f"{base}/sleeper/latest/awake", timeout=60).text == "awake"
        assert httpx.get(f"{base}/py/latest/hello", timeout=120).status_code == 200  # compiled
        for _ in range(8):
            sleepers.append(threading.Thread(target=_get_quietly, args=(f"{base}/sleeper/latest/sleep",)))
            sleepers[-1].start()
        time.sleep(0.5)  # the sleepers are blocked in WASI now
        for url in (f"{base}/_wasmlet/health", f"{base}/rust/latest/hello", f"{base}/py/latest/hello"):
            start = time.monotonic()
            assert httpx.get(url, timeout=30).status_code == 200, url
            assert time.monotonic() - start < 3, f"{url} waited {time.monotonic() - start:.1f}s behind the sleepers"
        took = seconds_to_stop(proc)
    for t in sleepers:
        t.join(timeout=30)
    assert took < 8, f"SIGTERM took {took:.1f}s with guests asleep in WASI (grace 1 s)"


def _get_quietly(url: str) -> None:
    import httpx

    try:
        httpx.get(url, timeout=30)
    except httpx.HTTPError:
        pass
