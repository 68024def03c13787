"""What a hostcall knows about the invocation it serves."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field


@dataclass
class InvocationContext:
    """One invocation: who runs, for which request, and what it has said."""

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

    def log(self, level: int, message: str, stream: str = "log") -> None:
        """Writes one guest line to the host's log, tagged with the invocation (or holds it)."""
        if self.held is not None:
            self.held.append((level, message, stream))
            return
        self.logger.log(level, "%s", message, extra={"function": self.function, "version": self.version,
                                                     "request_id": self.request_id, "stream": stream})

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
