"""Guest stdout/stderr captured per invocation into a file, with its size bounded while it runs.

WASI writes to a plain file (a tmpfs file where /dev/shm exists); a guest writing
in a loop could fill the machine's memory before its deadline. A watcher wakes
every 20 ms while captures are open and frees (punches out) everything past a
capture's limit, so each capture holds at most its limit plus 20 ms of writes.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
import threading

_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None
_PUNCH_HOLE_KEEP_SIZE = 0x02 | 0x01
_INTERVAL_S = 0.02


def _fallocate() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        fn = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    return fn


_FALLOCATE = _fallocate()


class Capture:
    """One invocation's output file: `path` goes to WASI, `collect()` reads at most `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.fd, self.path = tempfile.mkstemp(prefix="wasmlet-out-", dir=_DIR)
        self.limit = limit
        self.overflowed = False
        _watcher.add(self)

    def trim(self) -> None:
        """Frees what was written past the limit (the file keeps its size, as holes)."""
        size = os.fstat(self.fd).st_size
        if size > self.limit:
            self.overflowed = True
            if _FALLOCATE is not None:
                _FALLOCATE(self.fd, _PUNCH_HOLE_KEEP_SIZE, self.limit, size - self.limit)

    def collect(self) -> tuple[bytes, bool]:
        """What the guest wrote (first `limit` bytes) and whether it wrote more; removes the file."""
        _watcher.discard(self)
        try:
            size = os.fstat(self.fd).st_size
            data = os.pread(self.fd, self.limit, 0) if self.limit else b""
            return data, self.overflowed or size > self.limit
        finally:
            os.close(self.fd)
            os.unlink(self.path)

    def discard(self) -> None:
        """Removes the file unread (an attempt that is thrown away)."""
        _watcher.discard(self)
        os.close(self.fd)
        os.unlink(self.path)


class _Watcher:
    """Trims open captures every 20 ms; its thread runs only while captures are open."""

    def __init__(self) -> None:
        self._open: set[Capture] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, capture: Capture) -> None:
        with self._lock:
            self._open.add(capture)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wasmlet-capture", daemon=True)
                self._thread.start()

    def discard(self, capture: Capture) -> None:
        with self._lock:
            self._open.discard(capture)

    def _run(self) -> None:
        wake = threading.Event()
        while True:
            wake.wait(_INTERVAL_S)
            with self._lock:
                if not self._open:
                    self._thread = None  # nothing to watch: the thread ends; the next capture starts one
                    return
                captures = list(self._open)
            for capture in captures:
                try:
                    capture.trim()
                except OSError:
                    pass  # closed meanwhile


_watcher = _Watcher()
