"""`wasmlet:faas/kv`: key-value stores by label, on SQLite (default) or Redis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from wasmlet_bindgen.abi import Result

from ..bindings.faas import KvError, KvErrorBackend, KvErrorDenied
from ._errors import LabelledHost, T, run_granted
from ._sqlite import SqliteFile


class KvBackend(Protocol):
    """One key-value store."""

    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str) -> list[str]: ...


class SqliteKv(SqliteFile):
    """A store in a SQLite file (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._db().execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")

    def get(self, key: str) -> bytes | None:
        row = self._db().execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set(self, key: str, value: bytes) -> None:
        self._db().execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))

    def delete(self, key: str) -> None:
        self._db().execute("DELETE FROM kv WHERE key = ?", (key,))

    def keys(self, prefix: str) -> list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._db().execute("SELECT key FROM kv WHERE key LIKE ? ESCAPE '\\' ORDER BY key", (escaped + "%",))
        return [r[0] for r in rows]


class RedisKv:
    """A store in Redis, its keys namespaced `wasmlet:<label>:`."""

    def __init__(self, url: str, label: str) -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.prefix = f"wasmlet:{label}:"

    def get(self, key: str) -> bytes | None:
        value = self.client.get(self.prefix + key)
        return None if value is None else bytes(value)

    def set(self, key: str, value: bytes) -> None:
        self.client.set(self.prefix + key, value)

    def delete(self, key: str) -> None:
        self.client.delete(self.prefix + key)

    def keys(self, prefix: str) -> list[str]:
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix + prefix) + "*"
        return sorted(k.decode()[len(self.prefix):] for k in self.client.scan_iter(match=pattern, count=500))


class KvHost(LabelledHost[KvBackend]):
    """Implements `kv` for one function: granted labels reach their backend, others are denied."""

    def _run(self, label: str, op: Callable[[KvBackend], T]) -> Result[T, KvError]:
        return run_granted(self.granted, label, "key-value store", self.open_backend, op,
                           KvErrorDenied, KvErrorBackend)

    def get(self, store: str, key: str) -> Result[bytes | None, KvError]:
        return self._run(store, lambda s: s.get(key))

    def set(self, store: str, key: str, value: bytes) -> Result[None, KvError]:
        return self._run(store, lambda s: s.set(key, value))

    def delete(self, store: str, key: str) -> Result[None, KvError]:
        return self._run(store, lambda s: s.delete(key))

    def keys(self, store: str, prefix: str) -> Result[list[str], KvError]:
        return self._run(store, lambda s: s.keys(prefix))
