"""What a hostcall knows about the invocation it serves: who, until when, with what limits."""

from __future__ import annotations

import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..manifest import Limits

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_control(text: str) -> str:
    """Control characters as visible escapes (`\\n`, `\\x1b`): guest text can never start
    a forged line in the host's log."""
    def one(m: re.Match[str]) -> str:
        c = m.group()
        if c in _NAMED:
            return _NAMED[c]
        return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"

    return _CONTROL.sub(one, text)


_stop_at = [math.inf]
"""When the host stopped: every invocation's deadline is at most this (see `stop_invocations`)."""


def stop_invocations() -> None:
    """Ends every invocation's time now: hostcalls that check their deadline fail from here on
    (shutdown after the grace period)."""
    _stop_at[0] = time.monotonic()


def stopping() -> bool:
    """The host has stopped every invocation (see `stop_invocations`)."""
    return _stop_at[0] != math.inf


class DeadlineExceeded(Exception):
    """The invocation's deadline passed before (or while) a hostcall ran."""


@dataclass
class InvocationContext:
    """One invocation: who runs, for which request, until when, and what it has said."""

    function: str
    version: str = ""
    request_id: str = ""
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("wasmlet.guest"))
    output: deque[str] = field(default_factory=lambda: deque(maxlen=50))
    """The last lines the guest wrote at warn/error level or to stdout/stderr."""
    depth: int = 0
    """How many module calls deep this invocation is."""
    held: list[tuple[int, str, str]] | None = None
    """While an attempt may still be thrown away (see `hold`), its log lines wait here."""
    deadline: float = math.inf
    """`time.monotonic()` by which the whole invocation, hostcalls included, must end."""
    limits: Limits = field(default_factory=Limits)
    log_lines: int = 0
    log_bytes: int = 0
    log_dropped: int = 0
    """Lines over `limits.max_log_lines` / `max_log_bytes`, counted and not written."""
    finishers: list[Callable[[], None]] | None = None
    """What must run when the invocation ends, however it ends (see `at_finish`)."""
    trace: Any = None
    """The invocation's span while tracing is on (`telemetry.Invocation`): its hostcalls' parent, in any thread."""
    request_stream: Any = None
    """The rest of a request body a standard wasi:http component reads as it arrives
    (`_streaming.StreamedRequest`); None when the body came whole."""
    response_stream: Any = None
    """Where a standard wasi:http component's response goes as it writes it (`_streaming.StreamedResponse`);
    None when the response is returned whole (a module call, an event)."""

    def at_finish(self, action: Callable[[], None]) -> None:
        """Runs `action` when the invocation ends (e.g. rolling back a transaction it left open)."""
        if self.finishers is None:
            self.finishers = []
        if action not in self.finishers:
            self.finishers.append(action)

    def finish(self) -> None:
        """Runs the finishers (each once, errors logged, never raised) and reports dropped log lines."""
        finishers, self.finishers = self.finishers or [], None
        for action in finishers:
            try:
                action()
            except Exception:
                self.logger.exception("cleaning up after %s failed", self.function)
        self.finish_log()

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once it has passed, or once the host stops)."""
        return min(self.deadline, _stop_at[0]) - time.monotonic()

    def check_deadline(self, what: str) -> float:
        """Seconds left; raises `DeadlineExceeded` when none are (a hostcall must not start)."""
        left = self.remaining()
        if left <= 0:
            raise DeadlineExceeded(f"{what}: the invocation's deadline has passed")
        return left

    def log(self, level: int, message: str, stream: str = "log") -> None:
        """Writes one guest line to the host's log, tagged with the invocation (or holds it).

        Lines past the invocation's log limits are counted, not written; control
        characters are escaped so a guest cannot forge host log lines."""
        if self.held is not None:
            if len(self.held) < self.limits.max_log_lines:
                self.held.append((level, message, stream))
            return
        size = len(message)
        if self.log_lines >= self.limits.max_log_lines or self.log_bytes + size > self.limits.max_log_bytes:
            self.log_dropped += 1
            return
        self.log_lines += 1
        self.log_bytes += size
        self.logger.log(level, "%s", escape_control(message),
                        extra={"function": self.function, "version": self.version,
                               "request_id": self.request_id, "stream": stream})

    def finish_log(self) -> None:
        """Says in the log how many lines were dropped over the limits (once, at the end)."""
        if self.log_dropped and self.held is None:
            self.logger.warning("%d guest log line(s) dropped: over the limit of %d lines / %d bytes",
                                self.log_dropped, self.limits.max_log_lines, self.limits.max_log_bytes,
                                extra={"function": self.function, "version": self.version,
                                       "request_id": self.request_id, "stream": "host"})
            self.log_dropped = 0

    def hold(self) -> list[str]:
        """Starts an attempt that may be discarded: log lines wait until `release`."""
        self.held = []
        return list(self.output)

    def release(self) -> None:
        """The attempt counts: writes what it logged."""
        held, self.held = self.held or [], None
        for level, message, stream in held:
            self.log(level, message, stream)

    def discard(self, output: list[str]) -> None:
        """The attempt never happened: drops its log lines and output (`output` is what `hold` returned)."""
        self.held = None
        self.output.clear()
        self.output.extend(output)

    def tail(self, max_chars: int = 2000) -> str:
        """The end of what the guest said, for error messages."""
        text = "\n".join(self.output)
        return text[-max_chars:]
