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

    def tail(self, max_chars: int = 2000) -> str:
        """The end of what the guest said, for error messages."""
        text = "\n".join(self.output)
        return text[-max_chars:]
