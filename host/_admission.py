"""Admission by memory: invocations start only while the memory they may use fits the host's budget.

Each invocation may grow its instance to its manifest's `memory_mb`; a worker
process running many at once could otherwise reach the sum of all of them. The
budget reserves `memory_mb` for every running invocation and makes the next one
wait (in arrival order, at most `wait_s`) until enough is free — so a burst of
memory-hungry requests queues instead of swelling the host.
"""

from __future__ import annotations

import math
from collections import deque

import anyio


class MemoryBudget:
    """Megabytes of guest memory one process lets run at once (`math.inf`: no budget)."""

    def __init__(self, megabytes: float = math.inf) -> None:
        self.total = megabytes
        self.used = 0.0
        self._waiting: deque[tuple[float, anyio.Event]] = deque()

    @property
    def limited(self) -> bool:
        return not math.isinf(self.total)

    async def acquire(self, megabytes: float, wait_s: float) -> float:
        """Reserves `megabytes` (at most the whole budget) and returns what was reserved, for
        `release`; waits in line while it does not fit, and raises `TimeoutError` after `wait_s`."""
        need = min(megabytes, self.total)
        if not self._waiting and self.used + need <= self.total:
            self.used += need
            return need
        ready = anyio.Event()
        entry = (need, ready)
        self._waiting.append(entry)
        try:
            with anyio.fail_after(wait_s):
                await ready.wait()
        except BaseException:
            if entry in self._waiting:
                self._waiting.remove(entry)
                self._admit()  # those behind it may fit now
            else:  # admitted just as the wait ended: hand the reservation back
                self.release(need)
            raise
        return need

    def release(self, megabytes: float) -> None:
        """Gives a reservation back and admits whoever waits first, while they fit."""
        self.used -= megabytes
        self._admit()

    def _admit(self) -> None:
        while self._waiting and self.used + self._waiting[0][0] <= self.total:
            need, ready = self._waiting.popleft()
            self.used += need
            ready.set()
