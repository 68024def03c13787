"""`wasmlet:faas/log`: guest messages into the host's log, tagged with the invocation."""

from __future__ import annotations

import logging

from ..bindings.faas import Level
from ..manifest import Grants
from ._capability import Capability, HostServices, PerInvocation
from ._context import InvocationContext

_LEVELS = {
    Level.TRACE: 5, Level.DEBUG: logging.DEBUG, Level.INFO: logging.INFO,
    Level.WARN: logging.WARNING, Level.ERROR: logging.ERROR,
}
MAX_MESSAGE = 16 * 1024


class LogCalls:
    """Implements the `log` interface for one invocation."""

    def __init__(self, ctx: InvocationContext) -> None:
        self.ctx = ctx

    def log(self, level: Level, message: str) -> None:
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + "…"
        if level in (Level.WARN, Level.ERROR):
            self.ctx.output.append(message)
        self.ctx.log(_LEVELS[level], message)


def _bind(grants: Grants, services: HostServices) -> PerInvocation:
    return LogCalls


CAPABILITY = Capability("log", None, effects=False, granted=lambda g: True, bind=_bind)
"""Always granted; lines land in the host's log (held while an inline attempt may be thrown away)."""
