"""The dispatcher without wasm: where jobs run, strikes and forgiveness, thread shares, memory."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from wasmlet._admission import MemoryBudget
from wasmlet.dispatch import Dispatcher, Job, MemoryBusy, OverBudget

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    """A job body that records where and with what budget it ran, overrunning on request."""

    def __init__(self, overrun: bool = False, seconds: float = 0.0) -> None:
        self.overrun, self.seconds = overrun, seconds  # an overrunning job burns ~10 ms of CPU in a thread
        self.calls: list[tuple[str, int | None]] = []

    def __call__(self, budget_ms: int | None) -> str:
        where = "loop" if threading.current_thread() is threading.main_thread() else "thread"
        self.calls.append((where, budget_ms))
        if self.overrun:
            if budget_ms is not None:
                raise OverBudget()
            end = time.thread_time() + 0.01
            while time.thread_time() < end:
                pass
        if self.seconds:
            time.sleep(self.seconds)
        return where


def job(run: Recorder, may_attempt: bool = True, function: str = "f", memory_mb: int = 10,
        wait_s: float = 5) -> Job[str]:
    return Job("sha", function, memory_mb, wait_s, may_attempt, run)


async def test_quick_jobs_run_on_the_loop_and_effectful_ones_in_threads() -> None:
    d = Dispatcher(inline_budget_ms=10)
    quick = Recorder()
    assert await d.run(job(quick)) == "loop" and quick.calls == [("loop", 10)]
    effectful = Recorder()
    assert await d.run(job(effectful, may_attempt=False)) == "thread" and effectful.calls == [("thread", None)]
    assert await Dispatcher(mode="thread").run(job(Recorder())) == "thread"
    assert await Dispatcher(mode="inline").run(job(Recorder())) == "loop"
    with pytest.raises(ValueError, match="unknown dispatch mode"):
        Dispatcher(mode="fast")


async def test_an_overrun_reruns_in_a_thread_and_strikes_send_it_there_at_once() -> None:
    overran: list[str] = []
    d = Dispatcher(inline_budget_ms=10, inline_strikes=2, on_overrun=overran.append)
    slow = Recorder(overrun=True)
    assert await d.run(job(slow)) == "thread"
    assert slow.calls == [("loop", 10), ("thread", None)] and overran == ["f"]
    await d.run(job(slow))  # second strike
    slow.calls.clear()
    await d.run(job(slow))  # struck out: no attempt
    assert slow.calls == [("thread", None)] and d.overruns["sha"] == 2.0


async def test_quick_calls_wear_strikes_away() -> None:
    d = Dispatcher(inline_budget_ms=10, inline_strikes=1)
    d.overruns["sha"] = 1.0
    for _ in range(20):  # quick runs in threads (well under half the budget of CPU) forgive
        await d.run(job(Recorder()))
    assert d.overruns["sha"] < 1.0
    assert await d.run(job(Recorder())) == "loop"


async def test_one_function_holds_at_most_half_the_threads() -> None:
    d = Dispatcher(mode="thread", worker_threads=4)
    running: list[int] = []
    peak = [0]
    lock = threading.Lock()

    def busy(budget_ms: int | None) -> str:
        with lock:
            running.append(1)
            peak[0] = max(peak[0], len(running))
        time.sleep(0.05)
        with lock:
            running.pop()
        return "done"

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(d.run, Job("sha", "greedy", 1, 5, False, busy))
        await anyio.sleep(0.02)
        start = time.monotonic()
        assert await d.run(job(Recorder(), may_attempt=False, function="other")) == "thread"
        assert time.monotonic() - start < 0.04  # a thread was free for another function
    assert peak[0] == 2


async def test_memory_is_reserved_only_while_running_and_waits_are_bounded() -> None:
    budget = MemoryBudget(100)
    d = Dispatcher(mode="thread", memory=budget)
    assert await d.run(job(Recorder(), memory_mb=60)) == "thread" and budget.used == 0
    held = await budget.acquire(60, 1)
    with pytest.raises(MemoryBusy):
        await d.run(job(Recorder(), memory_mb=60, wait_s=0.1))
    budget.release(held)
    inline = Dispatcher(memory=budget)  # no room for an attempt: it waits in a thread instead
    held = await budget.acquire(95, 1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(inline.run, job(Recorder(), memory_mb=10))
        await anyio.sleep(0.1)
        budget.release(held)
    assert budget.used == 0
