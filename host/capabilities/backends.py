"""The host's runtime config: which backend serves each kv and sql label.

Like Spin's runtime config, this belongs to the host, not the function: the
same component runs on SQLite, PostgreSQL or MariaDB by changing only this.
Label `default` (kv and sql) is SQLite under the data directory unless configured.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .kv import KvBackend, RedisKv, SqliteKv
from .sql import MysqlSql, PostgresSql, SqlBackend, SqliteSql

T = TypeVar("T")
KV_TYPES = ("sqlite", "redis")
SQL_TYPES = ("sqlite", "postgres", "mysql")
MESSAGING_TYPES = ("nats",)


class BackendConfigError(ValueError):
    """A `[kv.*]` or `[sql.*]` table is invalid."""


def _check(kind: str, tables: dict[str, Any], types: tuple[str, ...]) -> None:
    """Refuses a `[kv.*]` / `[sql.*]` table with a wrong type, a missing url or a non-boolean flag."""
    for label, table in tables.items():
        if not isinstance(table, dict):
            raise BackendConfigError(f"[{kind}.{label}] must be a table")
        t = table.get("type")
        if t not in types:
            raise BackendConfigError(f"{kind}.{label}.type: expected one of {', '.join(types)}, got {t!r}")
        if t in ("redis", "postgres", "mysql") and not isinstance(table.get("url"), str):
            raise BackendConfigError(f"{kind}.{label}.url: a {t} backend needs a url")
        if t == "redis" and (":" in label or "*" in label):  # keys are `wasmlet:<label>:<key>`: labels must not nest
            raise BackendConfigError(f"{kind}.{label}: a Redis label may not contain ':' or '*'")
        if not isinstance(table.get("allow_superuser", False), bool):
            raise BackendConfigError(f"{kind}.{label}.allow_superuser: expected true or false")


def _check_messaging(tables: dict[str, Any]) -> None:
    """`[messaging.<label>]`: type = "nats", url, and optionally stream and subjects."""
    for label, table in tables.items():
        where = f"messaging.{label}"
        if not isinstance(table, dict):
            raise BackendConfigError(f"[{where}] must be a table")
        unknown = set(table) - {"type", "url", "stream", "subjects"}
        if unknown:
            raise BackendConfigError(f"{where}.{sorted(unknown)[0]}: unknown key (expected type, url, stream, subjects)")
        if table.get("type") not in MESSAGING_TYPES:
            raise BackendConfigError(f"{where}.type: expected one of {', '.join(MESSAGING_TYPES)}, "
                                     f"got {table.get('type')!r}")
        if not isinstance(table.get("url"), str) or not table["url"]:
            raise BackendConfigError(f"{where}.url: expected the server's URL (nats://host:4222)")
        stream = table.get("stream")
        if stream is not None and not (isinstance(stream, str) and stream.replace("_", "").replace("-", "").isalnum()):
            raise BackendConfigError(f"{where}.stream: expected a JetStream stream name (letters, digits, - and _)")
        subjects = table.get("subjects", [])
        if not isinstance(subjects, list) or not all(isinstance(x, str) and x for x in subjects):
            raise BackendConfigError(f"{where}.subjects: expected a list of subjects")


class Backends:
    """Creates backends on first use and keeps them for the process."""

    def __init__(self, data_dir: Path, kv: dict[str, Any] | None = None, sql: dict[str, Any] | None = None,
                 messaging: dict[str, Any] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.kv_config = dict(kv or {})
        self.sql_config = dict(sql or {})
        self.messaging_config = dict(messaging or {})
        _check("kv", self.kv_config, KV_TYPES)
        _check("sql", self.sql_config, SQL_TYPES)
        _check_messaging(self.messaging_config)
        self._messaging: dict[str, Any] = {}
        self._kv: dict[str, KvBackend] = {}
        self._sql: dict[str, SqlBackend] = {}
        self._lock = threading.Lock()

    def kv(self, label: str) -> KvBackend:
        """The key-value backend serving `label`."""
        def make(table: dict[str, Any]) -> KvBackend:
            if table["type"] == "redis":
                return RedisKv(table["url"], label)
            return SqliteKv(self._path(table, f"kv-{label}.sqlite3"))

        return self._get(self._kv, self.kv_config, "key-value", label, make)

    def sql(self, label: str) -> SqlBackend:
        """The SQL backend serving `label`."""
        def make(table: dict[str, Any]) -> SqlBackend:
            allow_superuser = bool(table.get("allow_superuser", False))
            if table["type"] == "postgres":
                return PostgresSql(table["url"], allow_superuser)
            if table["type"] == "mysql":
                return MysqlSql(table["url"], allow_superuser)
            return SqliteSql(self._path(table, f"sql-{label}.sqlite3"))

        return self._get(self._sql, self.sql_config, "SQL", label, make)

    def messaging(self, label: str) -> Any:
        """The messaging source `label` (`[messaging.<label>]`; there is no default)."""
        def make(table: dict[str, Any]) -> Any:
            from ..events.nats import NatsSource

            return NatsSource(label, table["url"], table.get("stream"), tuple(table.get("subjects", [])))

        return self._get(self._messaging, self.messaging_config, "messaging", label, make, default=False)

    def close_messaging(self) -> None:
        """Closes every messaging source's publishing connection (the host is stopping)."""
        with self._lock:
            made, self._messaging = self._messaging, {}
        for source in made.values():
            source.close()

    def _get(self, made: dict[str, T], config: dict[str, Any], kind: str, label: str,
             make: Callable[[dict[str, Any]], T], default: bool = True) -> T:
        """The backend for `label`, created on first use; `default` is SQLite unless configured."""
        with self._lock:
            if label not in made:
                table = config.get(label) or ({"type": "sqlite"} if label == "default" and default else None)
                if table is None:
                    raise LookupError(f"no {kind} backend is configured for label {label!r}")
                made[label] = make(table)
            return made[label]

    def _path(self, table: dict[str, Any], default: str) -> Path:
        """A SQLite store's file: `path` (operator config) or the default under the data directory,
        never the host's registry."""
        path = table.get("path")
        full = self.data_dir / (path if isinstance(path, str) else default)
        resolved = full.resolve()
        if resolved.parent == self.data_dir.resolve() and resolved.name.startswith("registry."):
            raise LookupError(f"{full.name} is the host's registry: a kv or sql label must use another file")
        return full
