"""Admission by memory: invocations run only while the memory they may use fits the host's budget.

Each invocation may grow its instance to its manifest's `memory_mb`; a worker
process running many at once could otherwise reach the sum of all of them. The
budget reserves `memory_mb` for every running invocation and makes the next one
wait (in arrival order, at most `wait_s`) until enough is free — so a burst of
memory-hungry requests queues instead of swelling the host. Module calls reserve
from worker threads without waiting (`try_acquire`); the loop's waiters notice
what threads give back within 50 ms.
"""

from __future__ import annotations

import math
import threading
from collections import deque

import anyio

_POLL_S = 0.05


class MemoryBudget:
    """Megabytes of guest memory one process lets run at once (`math.inf`: no budget)."""

    def __init__(self, megabytes: float = math.inf) -> None:
        self.total = megabytes
        self.used = 0.0
        self._lock = threading.Lock()
        self._waiting: deque[tuple[float, anyio.Event]] = deque()

    @property
    def limited(self) -> bool:
        return not math.isinf(self.total)

    def try_acquire(self, megabytes: float) -> float | None:
        """Reserves `megabytes` (at most the whole budget) if they fit now and nobody waits; any thread."""
        need = min(megabytes, self.total)
        with self._lock:
            if self._waiting or self.used + need > self.total:
                return None
            self.used += need
            return need

    async def acquire(self, megabytes: float, wait_s: float) -> float:
        """Reserves `megabytes` and returns what was reserved, for `release`; waits in line while
        they do not fit, and raises `TimeoutError` after `wait_s` (call it on the event loop)."""
        got = self.try_acquire(megabytes)
        if got is not None:
            return got
        need = min(megabytes, self.total)
        ready = anyio.Event()
        entry = (need, ready)
        with self._lock:
            self._waiting.append(entry)
        try:
            with anyio.fail_after(wait_s):
                while not ready.is_set():
                    with anyio.move_on_after(_POLL_S):
                        await ready.wait()
                    with self._lock:
                        self._admit()  # room a worker thread gave back
        except BaseException:
            with self._lock:
                if entry in self._waiting:
                    self._waiting.remove(entry)
                    self._admit()  # those behind it may fit now
                    raise
            self.release(need)  # admitted just as the wait ended: hand the reservation back
            raise
        return need

    def release(self, megabytes: float, *, from_thread: bool = False) -> None:
        """Gives a reservation back; on the loop, admits whoever waits first while they fit."""
        with self._lock:
            self.used -= megabytes
            if not from_thread:
                self._admit()

    def _admit(self) -> None:
        """Admits waiters in order while they fit (call with the lock held, on the event loop)."""
        while self._waiting and self.used + self._waiting[0][0] <= self.total:
            need, ready = self._waiting.popleft()
            self.used += need
            ready.set()
