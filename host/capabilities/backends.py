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
MESSAGING_TYPES = ("nats", "redis", "amqp", "mqtt")


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
    """`[messaging.<label>]`: a type, its url, and the keys of that type."""
    known: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {  # keys, URL schemes (any: empty), example
        "nats": (("type", "url", "stream", "subjects"), (), "nats://host:4222"),
        "redis": (("type", "url", "max_length"), ("redis", "rediss", "unix"), "redis://host:6379/0"),
        "amqp": (("type", "url", "exchange"), ("amqp", "amqps"), "amqp://user:password@host:5672/vhost"),
        "mqtt": (("type", "url"), ("mqtt", "mqtts"), "mqtt://host:1883"),
    }
    for label, table in tables.items():
        where = f"messaging.{label}"
        if not isinstance(table, dict):
            raise BackendConfigError(f"[{where}] must be a table")
        t = table.get("type")
        if t not in MESSAGING_TYPES:
            raise BackendConfigError(f"{where}.type: expected one of {', '.join(MESSAGING_TYPES)}, got {t!r}")
        keys, schemes, example = known[t]
        unknown = set(table) - set(keys)
        if unknown:
            raise BackendConfigError(f"{where}.{sorted(unknown)[0]}: unknown key for type {t!r} "
                                     f"(expected {', '.join(keys)})")
        url = table.get("url")
        if not isinstance(url, str) or not url or (schemes and url.split("://", 1)[0] not in schemes):
            raise BackendConfigError(f"{where}.url: expected the server's URL ({example})")
        if t == "nats":
            stream = table.get("stream")
            if stream is not None and not (isinstance(stream, str)
                                           and stream.replace("_", "").replace("-", "").isalnum()):
                raise BackendConfigError(f"{where}.stream: expected a JetStream stream name (letters, digits, - and _)")
            subjects = table.get("subjects", [])
            if not isinstance(subjects, list) or not all(isinstance(x, str) and x for x in subjects):
                raise BackendConfigError(f"{where}.subjects: expected a list of subjects")
        elif t == "redis":
            if ":" in label or "*" in label:  # streams are `wasmlet-messaging:<label>:<subject>`
                raise BackendConfigError(f"{where}: a Redis label may not contain ':' or '*'")
            max_length = table.get("max_length", 1)
            if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
                raise BackendConfigError(f"{where}.max_length: expected a positive number of entries")
        elif t == "amqp":
            exchange = table.get("exchange", "wasmlet")
            if not (isinstance(exchange, str) and 0 < len(exchange) <= 255 and exchange.isascii()
                    and all(c.isalnum() or c in "-_.:" for c in exchange)) or exchange.startswith("amq."):
                raise BackendConfigError(f"{where}.exchange: expected an exchange name (letters, digits, - _ . :; "
                                         "not amq.*)")


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
            if table["type"] == "redis":
                from ..events.redis import DEFAULT_MAX_LENGTH, RedisSource

                return RedisSource(label, table["url"], int(table.get("max_length", DEFAULT_MAX_LENGTH)))
            if table["type"] == "amqp":
                from ..events.amqp import DEFAULT_EXCHANGE, AmqpSource

                return AmqpSource(label, table["url"], str(table.get("exchange", DEFAULT_EXCHANGE)))
            if table["type"] == "mqtt":
                from ..events.mqtt import MqttSource

                return MqttSource(label, table["url"])
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
