"""`wasmlet:faas/sql`: SQL databases by label on SQLite (default), PostgreSQL and MariaDB/MySQL.

One placeholder style (`?`) and one typed value model on every backend.
"""

from __future__ import annotations

import datetime
import decimal
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from wasmlet_bindgen.abi import Result

from ..bindings.faas import (
    Rows,
    SqlError,
    SqlErrorBackend,
    SqlErrorDenied,
    Value,
    ValueBlob,
    ValueInteger,
    ValueNull,
    ValueReal,
    ValueText,
)
from ._errors import LabelledHost, T, run_granted
from ._sqlite import SqliteFile


def to_python(v: Value) -> Any:
    return None if isinstance(v, ValueNull) else v.value


def from_python(v: Any) -> Value:
    """A driver's value in the typed model (dates and decimals become text and reals)."""
    if v is None:
        return ValueNull()
    if isinstance(v, bool):
        return ValueInteger(int(v))
    if isinstance(v, int):
        return ValueInteger(v)
    if isinstance(v, float):
        return ValueReal(v)
    if isinstance(v, decimal.Decimal):
        return ValueInteger(int(v)) if v == v.to_integral_value() and v.as_tuple().exponent == 0 else ValueReal(float(v))
    if isinstance(v, (bytes, bytearray, memoryview)):
        return ValueBlob(bytes(v))
    if isinstance(v, (datetime.date, datetime.time, datetime.datetime)):
        return ValueText(v.isoformat())
    return ValueText(str(v))


def qmark_to_format(statement: str) -> str:
    """`?` placeholders to `%s` (and literal `%` to `%%`), leaving quoted text alone."""
    out: list[str] = []
    quote: str | None = None
    for ch in statement:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"', "`"):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


class SqlBackend(Protocol):
    """One database."""

    def execute(self, statement: str, params: Sequence[Any]) -> int: ...
    def query(self, statement: str, params: Sequence[Any]) -> tuple[list[str], list[list[Any]]]: ...


class SqliteSql(SqliteFile):
    """A SQLite database file (one connection per thread)."""

    def execute(self, statement: str, params: Sequence[Any]) -> int:
        return max(self._db().execute(statement, tuple(params)).rowcount, 0)

    def query(self, statement: str, params: Sequence[Any]) -> tuple[list[str], list[list[Any]]]:
        cur = self._db().execute(statement, tuple(params))
        columns = [d[0] for d in cur.description or []]
        return columns, [list(r) for r in cur.fetchall()]


class _Pooled:
    """A DB-API driver with one autocommit connection per thread, reconnecting on failure."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _connect(self) -> Any:
        raise NotImplementedError

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _run(self, statement: str, params: Sequence[Any], fetch: bool) -> Any:
        conn = self._conn()
        try:
            with conn.cursor() as cur:
                cur.execute(qmark_to_format(statement), tuple(params))
                if fetch:
                    columns = [d[0] for d in cur.description or []]
                    return columns, [list(r) for r in cur.fetchall()]
                return max(cur.rowcount, 0)
        except Exception:
            if getattr(conn, "closed", False) or not self._alive(conn):
                self._local.conn = None
            raise

    def _alive(self, conn: Any) -> bool:
        return True

    def execute(self, statement: str, params: Sequence[Any]) -> int:
        result: int = self._run(statement, params, False)
        return result

    def query(self, statement: str, params: Sequence[Any]) -> tuple[list[str], list[list[Any]]]:
        result: tuple[list[str], list[list[Any]]] = self._run(statement, params, True)
        return result


class PostgresSql(_Pooled):
    """PostgreSQL through psycopg 3."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def _alive(self, conn: Any) -> bool:
        return not conn.broken


class MysqlSql(_Pooled):
    """MariaDB / MySQL through PyMySQL."""

    def __init__(self, url: str) -> None:
        super().__init__()
        u = urlparse(url)
        self.params = {
            "host": u.hostname or "127.0.0.1", "port": u.port or 3306, "user": unquote(u.username or "root"),
            "password": unquote(u.password or ""), "database": u.path.lstrip("/") or None,
        }

    def _connect(self) -> Any:
        import pymysql  # type: ignore[import-untyped]

        return pymysql.connect(**self.params, autocommit=True, connect_timeout=5, charset="utf8mb4")

    def _alive(self, conn: Any) -> bool:
        try:
            conn.ping(reconnect=False)
            return True
        except Exception:
            return False


class SqlHost(LabelledHost[SqlBackend]):
    """Implements `sql` for one function: granted labels reach their database, others are denied."""

    def _run(self, label: str, op: Callable[[SqlBackend], T]) -> Result[T, SqlError]:
        return run_granted(self.granted, label, "database", self.open_backend, op,
                           SqlErrorDenied, SqlErrorBackend)

    def execute(self, database: str, statement: str, params: list[Value]) -> Result[int, SqlError]:
        return self._run(database, lambda db: db.execute(statement, [to_python(p) for p in params]))

    def query(self, database: str, statement: str, params: list[Value]) -> Result[Rows, SqlError]:
        def run(db: SqlBackend) -> Rows:
            columns, rows = db.query(statement, [to_python(p) for p in params])
            return Rows(columns, [[from_python(v) for v in row] for row in rows])

        return self._run(database, run)
