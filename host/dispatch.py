"""Where an invocation runs: an inline attempt on the event loop, or a worker thread.

A small invocation is cheapest on the loop itself, but only an attempt that can
be thrown away may run there: the caller says so (`Job.may_attempt`: no
capability with effects, no WASI that could block out of the deadline's reach,
no large binary body). The attempt runs under `inline_budget_ms`; past it the
job is stopped, its attempt forgotten, and it runs again in a worker thread. A
job whose attempts overrun (`inline_strikes`, worn down by quick calls) goes
straight to threads. Threads are shared fairly — one function holds at most
half of them — and memory is reserved from the `MemoryBudget` only while a job
runs. Nothing here knows about wasm: a job is a callable, so this is unit-tested
with plain functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio
import anyio.to_thread

from ._admission import MemoryBudget

R = TypeVar("R")
_FORGIVE = 0.05
"""How much of one overrun a quick call wears away."""


class OverBudget(Exception):
    """An attempt ran past its budget and was stopped; nothing it did was kept, so the
    caller may run the invocation again elsewhere."""


class MemoryBusy(Exception):
    """The memory budget stayed full for as long as the job could wait."""


@dataclass(frozen=True)
class Job(Generic[R]):
    """One invocation to place: `run(budget_ms)` runs it (with a budget: an attempt that raises
    `OverBudget` past it)."""

    key: str
    """What strikes are kept by (the component's content hash)."""
    function: str
    """Whose share of the threads it uses."""
    memory_mb: int
    wait_s: float
    """How long it may wait for memory before `MemoryBusy`."""
    may_attempt: bool
    run: Callable[[int | None], R]


class Dispatcher:
    """Places jobs inline or in worker threads (`mode`: auto, thread or inline) and keeps the strikes."""

    def __init__(self, *, mode: str = "auto", inline_budget_ms: int = 10, inline_strikes: int = 3,
                 worker_threads: int = 8, memory: MemoryBudget | None = None,
                 on_overrun: Callable[[str], None] | None = None) -> None:
        if mode not in ("auto", "thread", "inline"):
            raise ValueError(f"unknown dispatch mode {mode!r} (auto, thread or inline)")
        self.mode = mode
        self.inline_budget_ms = inline_budget_ms
        self.inline_strikes = inline_strikes
        self.worker_threads = worker_threads
        self.memory = memory or MemoryBudget()
        self.on_overrun = on_overrun
        self.threads = anyio.CapacityLimiter(worker_threads)
        self.overruns: dict[str, float] = {}
        self._shares: dict[str, anyio.CapacityLimiter] = {}

    async def run(self, job: Job[R]) -> R:
        """Runs `job` where it belongs and returns its result (its errors propagate)."""
        if self.mode == "inline":  # measurement only: every job on the loop, stalls and all
            return job.run(None)
        attempting = self.mode == "auto" and job.may_attempt
        if attempting and self.overruns.get(job.key, 0.0) < self.inline_strikes:
            reserved = self.memory.try_acquire(job.memory_mb)
            if reserved is not None:
                try:
                    result = job.run(self.inline_budget_ms)
                    self._forgive(job.key)
                    return result
                except OverBudget:
                    self.overruns[job.key] = self.overruns.get(job.key, 0.0) + 1.0
                    if self.on_overrun is not None:
                        self.on_overrun(job.function)
                finally:
                    self.memory.release(reserved)
        result, cpu_s = await self._in_thread(job)
        if attempting and cpu_s * 2000 < self.inline_budget_ms:
            self._forgive(job.key)  # it needed well under the budget here too: let it try the loop again
        return result

    async def _in_thread(self, job: Job[R]) -> tuple[R, float]:
        """Runs `job` in a worker thread within its function's share; returns its result and thread CPU time."""
        took: list[float] = []

        def timed() -> R:
            start = time.thread_time()  # this thread's CPU: not the waits for the GIL or a busy machine
            try:
                return job.run(None)
            finally:
                took.append(time.thread_time() - start)

        async with self._share(job.function):  # waiting for a thread holds no memory
            try:
                reserved = await self.memory.acquire(job.memory_mb, job.wait_s)
            except TimeoutError:
                raise MemoryBusy("host memory budget is in use") from None
            try:
                result = await anyio.to_thread.run_sync(timed, limiter=self.threads)
            finally:
                self.memory.release(reserved)
        return result, took[0]

    def _share(self, function: str) -> anyio.CapacityLimiter:
        """One function, however stuck, leaves the other half of the threads to the rest."""
        share = self._shares.get(function)
        if share is None:
            share = self._shares[function] = anyio.CapacityLimiter(max(1, self.worker_threads // 2))
        return share

    def _forgive(self, key: str) -> None:
        """A quick invocation wears a past overrun down (a busy machine can make any call overrun now and then)."""
        score = self.overruns.get(key)
        if score:
            self.overruns[key] = max(0.0, score - _FORGIVE)
