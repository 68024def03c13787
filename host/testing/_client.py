"""A synchronous httpx transport onto an ASGI app: each request runs on an event loop in a helper thread
(anyio's blocking portal), so `fn.client` works in plain and in async tests alike."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal


class PortalTransport(httpx.BaseTransport):
    """Sends each request through `httpx.ASGITransport` on the portal's loop (started on first use)."""

    def __init__(self, app: Any, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        self.app = app
        self.asgi = httpx.ASGITransport(app=app, client=client)
        self._stack = contextlib.ExitStack()
        self._portal: BlockingPortal | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _started(self) -> BlockingPortal:
        with self._lock:
            if self._closed:
                raise RuntimeError("this FunctionHarness is closed")
            if self._portal is None:
                self._portal = self._stack.enter_context(start_blocking_portal())
            return self._portal

    async def _send(self, request: httpx.Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        response = await self.asgi.handle_async_request(request)
        content = await response.aread()
        return response.status_code, response.headers.raw, content

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=body,
                                  extensions=request.extensions)
        status, headers, content = self._started().call(self._send, forwarded)
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stack.close()
            self._portal = None
