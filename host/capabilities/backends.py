"""The host's runtime config: which backend serves each kv and sql label.

Like Spin's runtime config, this belongs to the host, not the function: the
same component runs on SQLite, PostgreSQL or MariaDB by changing only this.
Label `default` (kv and sql) is SQLite under the data directory unless configured.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .kv import KvBackend, RedisKv, SqliteKv
from .sql import MysqlSql, PostgresSql, SqlBackend, SqliteSql

KV_TYPES = ("sqlite", "redis")
SQL_TYPES = ("sqlite", "postgres", "mysql")


class BackendConfigError(ValueError):
    """A `[kv.*]` or `[sql.*]` table is invalid."""


def _check(kind: str, tables: dict[str, Any], types: tuple[str, ...]) -> None:
    for label, table in tables.items():
        if not isinstance(table, dict):
            raise BackendConfigError(f"[{kind}.{label}] must be a table")
        t = table.get("type")
        if t not in types:
            raise BackendConfigError(f"{kind}.{label}.type: expected one of {', '.join(types)}, got {t!r}")
        if t in ("redis", "postgres", "mysql") and not isinstance(table.get("url"), str):
            raise BackendConfigError(f"{kind}.{label}.url: a {t} backend needs a url")


class Backends:
    """Creates backends on first use and keeps them for the process."""

    def __init__(self, data_dir: Path, kv: dict[str, Any] | None = None, sql: dict[str, Any] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.kv_config = dict(kv or {})
        self.sql_config = dict(sql or {})
        _check("kv", self.kv_config, KV_TYPES)
        _check("sql", self.sql_config, SQL_TYPES)
        self._kv: dict[str, KvBackend] = {}
        self._sql: dict[str, SqlBackend] = {}
        self._lock = threading.Lock()

    def kv(self, label: str) -> KvBackend:
        with self._lock:
            if label not in self._kv:
                table = self.kv_config.get(label) or ({"type": "sqlite"} if label == "default" else None)
                if table is None:
                    raise LookupError(f"no key-value backend is configured for label {label!r}")
                if table["type"] == "redis":
                    self._kv[label] = RedisKv(table["url"], label)
                else:
                    self._kv[label] = SqliteKv(self._path(table, f"kv-{label}.sqlite3"))
            return self._kv[label]

    def sql(self, label: str) -> SqlBackend:
        with self._lock:
            if label not in self._sql:
                table = self.sql_config.get(label) or ({"type": "sqlite"} if label == "default" else None)
                if table is None:
                    raise LookupError(f"no SQL backend is configured for label {label!r}")
                if table["type"] == "postgres":
                    self._sql[label] = PostgresSql(table["url"])
                elif table["type"] == "mysql":
                    self._sql[label] = MysqlSql(table["url"])
                else:
                    self._sql[label] = SqliteSql(self._path(table, f"sql-{label}.sqlite3"))
            return self._sql[label]

    def _path(self, table: dict[str, Any], default: str) -> Path:
        path = table.get("path")
        return self.data_dir / (path if isinstance(path, str) else default)
