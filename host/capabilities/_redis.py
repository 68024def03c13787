"""One synchronous Redis client per thread whose socket timeouts are set for each command: the kv
capability and the Redis message source bound every Redis call by what is left of a deadline."""

from __future__ import annotations

import threading
from typing import Any

CONNECT_TIMEOUT_S = 5.0


def thread_client(local: threading.local, url: str, timeout: float) -> tuple[Any, bool]:
    """This thread's client for `url` kept in `local` (and whether it was made just now), its
    socket and connect timeouts set to `timeout` for the next command; no retries."""
    client = getattr(local, "client", None)
    created = client is None
    if client is None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=min(timeout, CONNECT_TIMEOUT_S),
                                      single_connection_client=True, retry=Retry(NoBackoff(), 0))
        local.client = client
    conn: Any = client.connection
    conn.socket_timeout = timeout
    conn.socket_connect_timeout = min(timeout, CONNECT_TIMEOUT_S)
    sock = getattr(conn, "_sock", None)
    if sock is not None:
        sock.settimeout(timeout)
    return client, created
