"""Bodies a guest reads or writes as they go: pieces cross between the worker thread running the
guest and the event loop, each waited for (the client's pace holds the guest back, so the host
holds at most one piece) and never past the invocation's deadline.

Used for standard wasi:http components, whose bodies are streams. A small response is still
buffered and sent whole (with its length); only one that grows past `STREAM_AFTER` bytes is
streamed, chunked. Likewise the host reads the first `STREAM_AFTER` bytes of a request body before
the guest runs; the guest reads any more as it arrives.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import anyio
import anyio.from_thread

from .bindings.faas import BodyText, Response
from .errors import InvalidResponse

STREAM_AFTER = 64 * 1024
"""Bytes a response body may reach before the host starts sending it (smaller ones go whole)."""

Send = Callable[[dict[str, object]], object]


class ClientTooSlow(Exception):
    """A piece of a streamed response was not taken by the client before the deadline."""


class StreamAborted(Exception):
    """A streamed response failed after its head was sent: its body is never completed, so the
    server closes the connection and the client sees a cut-off response, not a whole one."""

    def __init__(self, status: int, sent: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.sent = sent
        self.reason = reason


class BodyTooLarge(Exception):
    """The request body passed the function's `max_body_bytes` while the guest read it."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is over this function's limit of {limit} bytes")
        self.limit = limit


class ClientGone(Exception):
    """The client went away before it had sent the whole request body."""


class StreamedRequest:
    """The rest of a request body, read through the ASGI `receive` as the guest asks for it
    (worker thread), at most `limit` bytes in all, each wait ending at the invocation's deadline."""

    def __init__(self, receive: Callable[[], object], limit: int, already: int) -> None:
        self._receive = receive
        self.limit = limit
        self.size = already
        self.done = False

    def read(self, deadline: float) -> bytes | None:
        """The next piece, or None at the end; `ClientTooSlow`, `BodyTooLarge` or `ClientGone`."""
        if self.done:
            return None
        left = deadline - time.monotonic() if deadline != math.inf else None
        if left is not None and left <= 0:
            raise ClientTooSlow("deadline exceeded while the client sent the request body")

        async def receive() -> dict[str, object] | None:
            with anyio.move_on_after(left):
                return await self._receive()  # type: ignore[misc, no-any-return]
            return None

        message = anyio.from_thread.run(receive)
        if message is None:
            raise ClientTooSlow("deadline exceeded while the client sent the request body")
        if message.get("type") == "http.disconnect":
            self.done = True
            raise ClientGone("the client went away before the end of the request body")
        body = message.get("body", b"")
        chunk = body if isinstance(body, bytes) else b""
        self.size += len(chunk)
        if self.size > self.limit:
            self.done = True
            raise BodyTooLarge(self.limit)
        if not message.get("more_body", False):
            self.done = True
        return chunk


class StreamedResponse:
    """The asgi side of one streamed response. `start` and `write` run in the guest's worker thread;
    `finish` on the event loop once the invocation is over."""

    def __init__(self, send: Send, rid: str, head: bool,
                 check: Callable[[Response], list[tuple[bytes, bytes]]], no_body: frozenset[int]) -> None:
        self._send = send
        self.rid = rid
        self.head = head
        self._check = check
        self.no_body = no_body
        self.status = 0
        self.started = False
        self.sent = 0

    def wants(self, status: int) -> bool:
        """Whether a body of this status is worth streaming (none is sent for 204/205/304 or HEAD)."""
        return status not in self.no_body and not self.head

    def start(self, status: int, headers: list[tuple[str, str]], deadline: float) -> None:
        """Sends the head (worker thread); `InvalidResponse` when the status or a header is invalid."""
        try:
            out = self._check(Response(status, headers, BodyText("")))
        except Exception as exc:  # the host's own wire check (a 502), raised before anything is sent
            raise InvalidResponse(str(getattr(exc, "message", exc))) from None
        out.append((b"x-request-id", self.rid.encode()))
        self._run({"type": "http.response.start", "status": status, "headers": out}, deadline)
        self.status = status
        self.started = True

    def write(self, data: bytes, deadline: float) -> None:
        """Sends one piece of the body (worker thread), waiting until the client has taken it."""
        if data:
            self._run({"type": "http.response.body", "body": data, "more_body": True}, deadline)
            self.sent += len(data)

    def _run(self, message: dict[str, object], deadline: float) -> None:
        left = deadline - time.monotonic() if deadline != math.inf else None
        if left is not None and left <= 0:
            raise ClientTooSlow("deadline exceeded while the client read the response")

        async def send() -> bool:
            with anyio.move_on_after(left) as scope:
                await self._send(message)  # type: ignore[misc]
            return not scope.cancelled_caught

        if not anyio.from_thread.run(send):
            raise ClientTooSlow("deadline exceeded while the client read the response")

    async def finish(self, rest: bytes) -> tuple[int, int]:
        """Sends what the guest wrote last and ends the body (event loop)."""
        await self._send({"type": "http.response.body", "body": rest, "more_body": False})  # type: ignore[misc]
        self.sent += len(rest)
        return self.status, self.sent
