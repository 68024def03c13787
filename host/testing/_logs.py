"""Guest log lines caught per harness: the host logs them on `wasmlet.guest.*`; each goes to the harness
whose request (or `invoke`) produced it, found through a context variable worker threads inherit."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

GUEST_LOGGER = "wasmlet.guest"
_LEVELS = {5: "trace", logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn", logging.ERROR: "error"}


@dataclass(frozen=True)
class LogLine:
    """One line a function logged (through `log`, or to stdout/stderr), as the host wrote it."""

    level: str
    """`trace`, `debug`, `info`, `warn` or `error` (stdout/stderr lines are `info`)."""
    message: str
    """The text, control characters escaped the way the host's log shows them."""
    function: str
    stream: str
    """`log` (the log hostcall), `stdout/stderr`, or `host` (the host's own note, e.g. lines dropped)."""
    request_id: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


class LogSink:
    """The lines one harness caught."""

    def __init__(self) -> None:
        self.lines: list[LogLine] = []
        self.lock = threading.Lock()

    def add(self, record: logging.LogRecord) -> None:
        level = _LEVELS.get(record.levelno, logging.getLevelName(record.levelno).lower())
        line = LogLine(level, record.getMessage(), str(getattr(record, "function", "")),
                       str(getattr(record, "stream", "log")), str(getattr(record, "request_id", "")))
        with self.lock:
            self.lines.append(line)


_current: contextvars.ContextVar[LogSink | None] = contextvars.ContextVar("wasmlet_testing_sink", default=None)


class _Handler(logging.Handler):
    """Hands each guest record to the sink of the harness running in this context."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = _current.get()
        if sink is not None:
            sink.add(record)


_handler = _Handler(level=1)
_users = 0
_saved_level = logging.NOTSET
_install_lock = threading.Lock()


def start_capture() -> None:
    """Attaches the handler and lets every guest level through while at least one harness is open."""
    global _users, _saved_level
    with _install_lock:
        if _users == 0:
            logger = logging.getLogger(GUEST_LOGGER)
            _saved_level = logger.level
            logger.setLevel(1)
            logger.addHandler(_handler)
        _users += 1


def stop_capture() -> None:
    """Undoes `start_capture` once the last harness closes."""
    global _users
    with _install_lock:
        _users -= 1
        if _users == 0:
            logger = logging.getLogger(GUEST_LOGGER)
            logger.removeHandler(_handler)
            logger.setLevel(_saved_level)


@contextlib.contextmanager
def capturing(sink: LogSink) -> Iterator[None]:
    """Guest lines logged in this context (and threads started from it) go to `sink`."""
    token = _current.set(sink)
    try:
        yield
    finally:
        _current.reset(token)
