"""The thread a messaging source publishes from: an event loop in an anyio blocking portal, started on
first use and stopped with the source, so a guest's worker thread can wait on an async broker client
under its invocation's deadline."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal


class PublishingThread:
    """Runs coroutines of one source's publishing client on the source's own loop."""

    def __init__(self) -> None:
        self._portal: BlockingPortal | None = None
        self._cm: Any = None
        self._lock = threading.Lock()

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Runs `fn(*args)` on the loop (started now if it is not yet) and waits for it."""
        with self._lock:
            if self._portal is None:
                self._cm = start_blocking_portal()
                self._portal = self._cm.__enter__()
            portal = self._portal
        return portal.call(fn, *args)

    def close(self, cleanup: Callable[[], Awaitable[Any]] | None = None) -> None:
        """Runs `cleanup` on the loop (closing the client; its errors ignored), then stops the thread."""
        with self._lock:
            portal, cm, self._portal, self._cm = self._portal, self._cm, None, None
        if portal is None:
            return
        if cleanup is not None:
            with contextlib.suppress(Exception):
                portal.call(cleanup)
        cm.__exit__(None, None, None)
