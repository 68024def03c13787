"""Admission by memory: invocations start only while the memory they may use fits the host's budget.

Each invocation may grow its instance to its manifest's `memory_mb`; a worker
process running many at once could otherwise reach the sum of all of them. The
budget reserves `memory_mb` for every running invocation and makes the next one
wait (in arrival order, bounded by the caller's own deadline) until enough is
free — so a burst of memory-hungry requests queues instead of swelling the host.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class MemoryBudget:
    """Megabytes of guest memory one process lets run at once (`math.inf`: no budget)."""

    def __init__(self, megabytes: float = math.inf) -> None:
        self.total = megabytes
        self.used = 0.0
        self._waiting: deque[tuple[float, anyio.Event]] = deque()

    @asynccontextmanager
    async def reserve(self, megabytes: float) -> AsyncIterator[None]:
        """Holds `megabytes` (at most the whole budget) for the duration of the block; waits while they
        do not fit. Cancellation (the caller's deadline) while waiting gives up the place in line."""
        need = min(megabytes, self.total)
        if self._waiting or self.used + need > self.total:
            ready = anyio.Event()
            entry = (need, ready)
            self._waiting.append(entry)
            try:
                await ready.wait()
            except BaseException:
                if entry in self._waiting:
                    self._waiting.remove(entry)
                else:  # admitted just as it was cancelled: give the reservation back
                    self._release(need)
                raise
        else:
            self.used += need
        try:
            yield
        finally:
            self._release(need)

    def _release(self, need: float) -> None:
        self.used -= need
        while self._waiting and self.used + self._waiting[0][0] <= self.total:
            first, ready = self._waiting.popleft()
            self.used += first
            ready.set()
