"""`wasmlet:faas/kv`: key-value stores by label, on SQLite (default) or Redis.

Every backend has the same semantics: keys are compared byte for byte (`keys("User")`
never returns `user:1`), and every call runs within the invocation's deadline and limits.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from wasmlet.bindings._abi import Result

from ..bindings.faas import Body, KvError, KvErrorBackend, KvErrorDenied
from ..bodies import BodyError, body_bytes, body_from_bytes
from ..manifest import Limits
from ._capability import labelled
from ._context import DeadlineExceeded, InvocationContext
from ._errors import LabelledCalls, Refused, T, run_granted
from ._redis import thread_client
from ._sqlite import SqliteFile

_DEFAULT_LIMITS = Limits()
REDIS_TIMEOUT = 10.0
"""The longest one Redis command may take (less when the invocation's deadline is nearer)."""


class KvBackend(Protocol):
    """One key-value store; `ctx` bounds the call by the invocation's deadline and limits."""

    def get(self, key: str, ctx: InvocationContext | None = None) -> bytes | None: ...
    def set(self, key: str, value: bytes, ctx: InvocationContext | None = None) -> None: ...
    def delete(self, key: str, ctx: InvocationContext | None = None) -> None: ...
    def keys(self, prefix: str, ctx: InvocationContext | None = None) -> list[str]: ...


def _too_many(limit: int) -> Refused:
    """The error for a `keys` call that would return more than `limit` keys."""
    return Refused(f"keys: over the limit of {limit} keys (use a longer prefix)")


class SqliteKv(SqliteFile):
    """A store in a SQLite file (one connection per thread)."""

    def _setup(self, db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")

    def get(self, key: str, ctx: InvocationContext | None = None) -> bytes | None:
        row = self.call(ctx, lambda db: db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone())
        return None if row is None else bytes(row[0])

    def set(self, key: str, value: bytes, ctx: InvocationContext | None = None) -> None:
        self.call(ctx, lambda db: db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value)))

    def delete(self, key: str, ctx: InvocationContext | None = None) -> None:
        self.call(ctx, lambda db: db.execute("DELETE FROM kv WHERE key = ?", (key,)))

    def keys(self, prefix: str, ctx: InvocationContext | None = None) -> list[str]:
        """Keys starting with `prefix`, byte for byte: the sorted scan from `prefix` stops at the
        first key without it (keys sharing a prefix are contiguous in binary order)."""
        limit = (ctx.limits if ctx else _DEFAULT_LIMITS).max_kv_keys

        def scan(db: sqlite3.Connection) -> list[str]:
            cur = db.execute("SELECT key FROM kv WHERE key >= ? ORDER BY key", (prefix,))
            try:
                found: list[str] = []
                while batch := cur.fetchmany(256):
                    for (key,) in batch:
                        if not key.startswith(prefix):
                            return found
                        if len(found) >= limit:
                            raise _too_many(limit)
                        found.append(key)
                return found
            finally:
                cur.close()

        return self.call(ctx, scan)


class RedisKv:
    """A store in Redis, its keys namespaced `wasmlet:<label>:`; one connection per thread,
    its socket timeout bounded by the invocation's deadline for every command."""

    def __init__(self, url: str, label: str) -> None:
        self.url = url
        self.prefix = f"wasmlet:{label}:"
        self._local = threading.local()

    def _client(self, timeout: float) -> Any:
        """This thread's client, its socket timeout set to `timeout` for the next command."""
        return thread_client(self._local, self.url, timeout)[0]

    def _call(self, ctx: InvocationContext | None, op: Callable[[Any], T]) -> T:
        """Runs `op` with a client whose timeouts end at the deadline; a timeout past it is a deadline error,
        and any connection failure drops the connection (no late reply is read as the next answer)."""
        deadline = math.inf if ctx is None else ctx.deadline
        left = min(REDIS_TIMEOUT, deadline - time.monotonic())
        if left <= 0:
            raise DeadlineExceeded("Redis: the invocation's deadline has passed")
        client = self._client(left)
        import redis

        try:
            return op(client)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            client.connection.disconnect()
            if time.monotonic() >= deadline - 0.01:
                raise DeadlineExceeded("Redis command stopped at the invocation's deadline") from None
            raise exc

    def get(self, key: str, ctx: InvocationContext | None = None) -> bytes | None:
        value = self._call(ctx, lambda c: c.get(self.prefix + key))
        return None if value is None else bytes(value)

    def set(self, key: str, value: bytes, ctx: InvocationContext | None = None) -> None:
        self._call(ctx, lambda c: c.set(self.prefix + key, value))

    def delete(self, key: str, ctx: InvocationContext | None = None) -> None:
        self._call(ctx, lambda c: c.delete(self.prefix + key))

    def keys(self, prefix: str, ctx: InvocationContext | None = None) -> list[str]:
        """Keys starting with `prefix` (SCAN with glob characters escaped), stopping past the limit."""
        limit = (ctx.limits if ctx else _DEFAULT_LIMITS).max_kv_keys
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix + prefix) + "*"
        found: set[bytes] = set()
        cursor = 0
        def scan(at: int) -> tuple[int, list[bytes]]:
            result: tuple[int, list[bytes]] = self._call(ctx, lambda c: c.scan(at, match=pattern, count=500))
            return result

        while True:
            cursor, batch = scan(cursor)
            found.update(batch)
            if len(found) > limit:
                raise _too_many(limit)
            if cursor == 0:
                break
        return sorted(k.decode()[len(self.prefix):] for k in found)


class KvCalls(LabelledCalls[KvBackend]):
    """Implements `kv` for one function: granted labels reach their backend, others are denied;
    keys and values over the invocation's limits are refused before reaching the store."""

    def _run(self, label: str, op: Callable[[KvBackend], T]) -> Result[T, KvError]:
        return run_granted(self.granted, label, "key-value store", self.open_backend, op,
                           KvErrorDenied, KvErrorBackend, self.ctx)

    def _check(self, key: str, value: bytes | None = None) -> None:
        """Refuses a key (UTF-8 bytes) or value over the invocation's limits."""
        limits = self.ctx.limits
        if len(key) * 4 > limits.max_kv_key_bytes and len(key.encode()) > limits.max_kv_key_bytes:
            raise Refused(f"key of {len(key.encode())} bytes is over the limit of {limits.max_kv_key_bytes} bytes")
        if value is not None and len(value) > limits.max_kv_value_bytes:
            raise Refused(f"value of {len(value)} bytes is over the limit of {limits.max_kv_value_bytes} bytes")

    def get(self, store: str, key: str) -> Result[Body | None, KvError]:
        def op(s: KvBackend) -> Body | None:
            self._check(key)
            value = s.get(key, self.ctx)
            return None if value is None else body_from_bytes(value)

        return self._run(store, op)

    def set(self, store: str, key: str, value: Body) -> Result[None, KvError]:
        def op(s: KvBackend) -> None:
            try:
                data = body_bytes(value)
            except BodyError as exc:
                raise Refused(f"value: {exc}") from None
            self._check(key, data)
            s.set(key, data, self.ctx)

        return self._run(store, op)

    def delete(self, store: str, key: str) -> Result[None, KvError]:
        def op(s: KvBackend) -> None:
            self._check(key)
            s.delete(key, self.ctx)

        return self._run(store, op)

    def keys(self, store: str, prefix: str) -> Result[list[str], KvError]:
        def op(s: KvBackend) -> list[str]:
            self._check(prefix)
            return s.keys(prefix, self.ctx)

        return self._run(store, op)


CAPABILITY = labelled("kv", "key-value", lambda g: g.kv, lambda b: b.kv, KvCalls)
