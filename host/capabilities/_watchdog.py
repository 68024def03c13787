"""A client-side deadline for blocking driver calls: at the deadline, shut the driver's socket down.

A server that stops answering holds a worker thread in a blocking read for as long as the
kernel keeps the connection; no server-side timeout helps then. One daemon thread per process
keeps a heap of (deadline, action); `guard` arms one for a socket and disarms it on exit.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Alarm:
    """One armed deadline: `fired` tells the guarded code the watchdog acted."""

    __slots__ = ("deadline", "action", "fired", "done")

    def __init__(self, deadline: float, action: Callable[[], None]) -> None:
        self.deadline = deadline
        self.action = action
        self.fired = False
        self.done = False


class Watchdog:
    """One daemon thread that runs each alarm's action when its deadline passes, unless cancelled."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Alarm]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._cancelled = 0
        self._closed = False
        self._wake_at = math.inf
        """When the thread next wakes by itself: an alarm due later needs no notification."""

    def schedule(self, deadline: float, action: Callable[[], None]) -> Alarm:
        """Arms `action` for `deadline` (a `time.monotonic()` value)."""
        alarm = Alarm(deadline, action)
        with self._cond:
            if self._closed:
                raise RuntimeError("the watchdog is closed")
            heapq.heappush(self._heap, (deadline, next(self._seq), alarm))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wasmlet-watchdog", daemon=True)
                self._thread.start()
            elif deadline < self._wake_at:
                self._wake_at = deadline
                self._cond.notify()
        return alarm

    def cancel(self, alarm: Alarm) -> bool:
        """Disarms `alarm`; True when its action already ran (the guarded call was cut off)."""
        with self._cond:
            if not alarm.done:
                alarm.done = True
                self._cancelled += 1
                if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                    self._compact()
            return alarm.fired

    @contextmanager
    def guard(self, deadline: float, fd: int) -> Iterator[Alarm]:
        """Shuts the socket `fd` down at `deadline` so a blocked read or write returns.

        Acts on an `os.dup` of `fd`, closed on exit, so a descriptor number the driver
        closes and reuses meanwhile is never touched."""
        if math.isinf(deadline):
            yield Alarm(deadline, _nothing)
            return
        dup = os.dup(fd)
        alarm = self.schedule(deadline, lambda: _shutdown(dup))
        try:
            yield alarm
        finally:
            self.cancel(alarm)
            os.close(dup)

    def close(self) -> None:
        """Stops the thread; pending alarms never fire."""
        with self._cond:
            self._closed = True
            for _, _, alarm in self._heap:
                alarm.done = True
            self._heap.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def fire_all(self) -> None:
        """Runs every pending alarm's action now (shutdown: nothing guarded may wait any longer)."""
        with self._cond:
            for _, _, alarm in self._heap:
                if not alarm.done:
                    alarm.fired = alarm.done = True
                    try:
                        alarm.action()
                    except Exception:
                        pass
            self._heap.clear()
            self._cancelled = 0

    def pending(self) -> int:
        """Alarms armed and not cancelled (for tests and metrics)."""
        with self._cond:
            return sum(1 for _, _, a in self._heap if not a.done)

    def _compact(self) -> None:
        """Drops cancelled alarms from the heap (called with the lock held)."""
        self._heap = [entry for entry in self._heap if not entry[2].done]
        heapq.heapify(self._heap)
        self._cancelled = 0

    def _run(self) -> None:
        """The thread: sleeps until the earliest deadline, fires it, repeats until closed."""
        with self._cond:
            while not self._closed:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                    self._cancelled = max(0, self._cancelled - 1)
                if not self._heap:
                    self._wake_at = math.inf
                    self._cond.wait()
                    continue
                self._wake_at = self._heap[0][0]
                wait = self._wake_at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, alarm = heapq.heappop(self._heap)
                alarm.fired = alarm.done = True
                try:
                    alarm.action()  # under the lock: `cancel` then closing the dup cannot race it
                except Exception:
                    pass


def _nothing() -> None:
    """The action of an alarm that never fires."""


def _shutdown(fd: int) -> None:
    """Shuts a socket down both ways without closing the descriptor (its owner closes it)."""
    sock = socket.socket(fileno=fd)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()


_process: tuple[int, Watchdog] | None = None
_process_lock = threading.Lock()


def watchdog() -> Watchdog:
    """The process's watchdog, made on first use (and again in a forked child, whose copy has no thread)."""
    global _process
    current = _process
    pid = os.getpid()
    if current is not None and current[0] == pid:
        return current[1]
    with _process_lock:
        if _process is None or _process[0] != pid:
            _process = (pid, Watchdog())
        return _process[1]
