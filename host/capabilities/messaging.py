"""`wasmlet:faas/messaging` (contract 0.3.0): publishing to the subjects a manifest grants
(`[messaging] publish = ["source:pattern"]`), on the host's messaging sources, within the
invocation's deadline and body limit. An ungranted source or subject is `denied` and never
reaches a broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from wasmlet.bindings._abi import Err, Ok, Result

from ..bindings.faas import Body, MessagingError, MessagingErrorDenied, MessagingErrorFailed
from ..bodies import BodyError, body_bytes
from ..events._subjects import matches
from ..manifest import Grants
from ._capability import Capability, HostServices, PerInvocation
from ._context import InvocationContext
from ._errors import scrub

MAX_HEADERS = 64
MAX_MESSAGE_BYTES = 1 << 20
"""NATS's default payload limit; a bigger message is refused before it reaches any broker."""


class MessagingCalls:
    """Implements `messaging` for one function and invocation."""

    def __init__(self, granted: tuple[tuple[str, str], ...], open_source: Callable[[str], Any],
                 ctx: InvocationContext) -> None:
        self.granted = granted
        self.open_source = open_source
        self.ctx = ctx

    def publish(self, source: str, subject: str, payload: Body,
                headers: list[tuple[str, str]]) -> Result[None, MessagingError]:
        if not any(s == source and matches(pattern, subject) for s, pattern in self.granted):
            return Err(MessagingErrorDenied(f"publishing to {subject!r} on {source!r} is not granted"))
        if len(headers) > MAX_HEADERS:
            return Err(MessagingErrorFailed(f"a message may carry at most {MAX_HEADERS} headers"))
        try:
            data = body_bytes(payload)
        except BodyError as exc:
            return Err(MessagingErrorFailed(str(exc)))
        if len(data) > MAX_MESSAGE_BYTES:
            return Err(MessagingErrorFailed(f"message of {len(data)} bytes is over the limit of {MAX_MESSAGE_BYTES} "
                                            "bytes"))
        left = self.ctx.deadline - time.monotonic()
        if left <= 0:
            return Err(MessagingErrorFailed("the invocation's deadline has passed"))
        try:
            backend = self.open_source(source)
            backend.publish(subject, data, list(headers), left)
        except TimeoutError:
            return Err(MessagingErrorFailed(f"{source!r} did not take the message before the deadline"))
        except Exception as exc:
            return Err(MessagingErrorFailed(scrub(f"publishing to {source!r} failed: {type(exc).__name__}: {exc}")))
        return Ok(None)


def _bind(grants: Grants, services: HostServices) -> PerInvocation:
    granted = grants.publish
    backends = services.backends

    def open_source(label: str) -> Any:
        if backends is None:
            raise LookupError(f"no messaging source {label!r} on this host")
        return backends.messaging(label)

    return lambda ctx: MessagingCalls(granted, open_source, ctx)


CAPABILITY = Capability("messaging", "messaging", effects=True, granted=lambda g: bool(g.publish), bind=_bind)
