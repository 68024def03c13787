"""`wasmlet:faas/sql`: SQL databases by label on SQLite (default), PostgreSQL and MariaDB/MySQL.

One placeholder style (`?`) and one typed value model on every backend. Every statement runs
within the invocation's deadline (server-side timeouts plus a client-side watchdog for a server
that stops answering) and its result limits (rows are fetched in chunks and the fetch stops
as soon as a limit is passed).
"""

from __future__ import annotations

import math
import select
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from wasmlet.bindings._abi import Result

from ..bindings.faas import (
    Rows,
    SqlError,
    SqlErrorBackend,
    SqlErrorDenied,
    Value,
    ValueBlob,
    ValueNull,
)
from ..manifest import Limits
from ._capability import labelled
from ._context import DeadlineExceeded, InvocationContext
from ._errors import LabelledCalls, Refused, T, run_granted
from ._packed import RowPacker
from ._sqlite import SqliteFile
from ._watchdog import watchdog

_DEFAULT_LIMITS = Limits()
CHUNK = 256
"""Rows fetched at a time: the most a query holds beyond its limit."""
SLACK = 0.2
"""Seconds past the deadline before the watchdog cuts a connection off (the server's own timeout goes first)."""
CONNECT_TIMEOUT = 5.0


def to_python(v: Value) -> Any:
    """A typed value as the driver's parameter (a blob's octets as bytes)."""
    if isinstance(v, ValueBlob):
        try:
            return v.value.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise Refused(f"a blob parameter holds {v.value[exc.start]!r} at {exc.start}, above U+00FF "
                          f"(a blob carries one code point per byte)") from None
    return None if isinstance(v, ValueNull) else v.value


def qmark_to_format(statement: str) -> str:
    """`?` placeholders to `%s` (and literal `%` to `%%`), leaving quoted text alone."""
    return _placeholders(statement, lambda _: "%s", "%%")


def qmark_to_numbered(statement: str) -> str:
    """`?` placeholders to `$1`, `$2`, ... (PostgreSQL's own), leaving quoted text alone."""
    return _placeholders(statement, lambda n: f"${n}", "%")


def _placeholders(statement: str, placeholder: Callable[[int], str], percent: str) -> str:
    """Rewrites `?` outside quotes with `placeholder(n)` and every `%` with `percent`."""
    out: list[str] = []
    quote: str | None = None
    n = 0
    for ch in statement:
        if quote:
            out.append(percent if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"', "`"):
            quote = ch
            out.append(ch)
        elif ch == "?":
            n += 1
            out.append(placeholder(n))
        elif ch == "%":
            out.append(percent)
        else:
            out.append(ch)
    return "".join(out)


def take_rows(fetchmany: Callable[[int], Sequence[Sequence[Any]]], limits: Limits) -> str:
    """All rows of a cursor as packed JSON, fetched a chunk at a time, stopping at the first chunk
    over a limit."""
    packer = _packer(limits)
    while batch := fetchmany(CHUNK):
        packer.add(batch)
    return packer.text()


def _packer(limits: Limits) -> RowPacker:
    return RowPacker(limits.max_sql_rows, limits.max_sql_bytes)


def _limits(ctx: InvocationContext | None) -> Limits:
    """The invocation's limits (the defaults without one)."""
    return _DEFAULT_LIMITS if ctx is None else ctx.limits


def _deadline(ctx: InvocationContext | None) -> float:
    """The invocation's deadline (none without one)."""
    return math.inf if ctx is None else ctx.deadline


def _left(deadline: float, what: str) -> float:
    """Seconds before `deadline`; raises `DeadlineExceeded` when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded(f"{what}: the invocation's deadline has passed")
    return left


class SqlBackend(Protocol):
    """One database; `ctx` bounds each call by the invocation's deadline and limits."""

    def execute(self, statement: str, params: Sequence[Any], ctx: InvocationContext | None = None) -> int: ...
    def query(self, statement: str, params: Sequence[Any],
              ctx: InvocationContext | None = None) -> tuple[list[str], str]: ...


class SqliteSql(SqliteFile):
    """A SQLite database file (one connection per thread), confined to that file."""

    def end_invocation(self) -> None:
        """Rolls back a transaction the invocation left open on this thread's connection."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None and db.in_transaction:
            db.rollback()

    def execute(self, statement: str, params: Sequence[Any], ctx: InvocationContext | None = None) -> int:
        def run(db: sqlite3.Connection) -> int:
            cur = db.execute(statement, tuple(params))
            try:
                return max(cur.rowcount, 0)
            finally:
                cur.close()

        return self.call(ctx, run)

    def query(self, statement: str, params: Sequence[Any],
              ctx: InvocationContext | None = None) -> tuple[list[str], str]:
        def run(db: sqlite3.Connection) -> tuple[list[str], str]:
            cur = db.execute(statement, tuple(params))
            try:
                return [d[0] for d in cur.description or []], take_rows(cur.fetchmany, _limits(ctx))
            finally:
                cur.close()

        return self.call(ctx, run)


class _Pooled:
    """A network driver with one autocommit connection per thread: connected (and its role
    checked) on first use, dropped after any failure that may leave it unusable."""

    kind = "SQL"

    def __init__(self, allow_superuser: bool = False) -> None:
        self.allow_superuser = allow_superuser
        self._local = threading.local()

    def _connect(self, timeout: float) -> Any:
        raise NotImplementedError

    def _check_role(self, conn: Any) -> None:
        """Refuses a connection whose role can reach the server's files or programs."""

    def _conn(self, deadline: float) -> Any:
        """This thread's connection, made and checked on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(min(CONNECT_TIMEOUT, _left(deadline, self.kind)))
            try:
                if not self.allow_superuser:
                    self._check_role(conn)
            except BaseException:
                conn.close()
                raise
            self._local.conn = conn
        return conn

    def _discard(self) -> None:
        """Drops this thread's connection (the next call connects again)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def close(self) -> None:
        """Closes this thread's connection."""
        self._discard()

    def end_invocation(self) -> None:
        """Drops this thread's connection if the invocation left a transaction open on it
        (the next invocation must start clean)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._in_transaction(conn):
            self._discard()

    def _in_transaction(self, conn: Any) -> bool:
        return False


def _superuser_refused(kind: str, who: str, why: str) -> Refused:
    """The error for a connection whose role could read server files or run programs."""
    return Refused(f"refusing to serve: {kind} role {who} {why}, which lets guest SQL read files or run "
                   f"programs on the server; connect as a less privileged role or set allow_superuser = true")


def _wait(fd: int, events: int) -> None:
    """Blocks until `fd` is ready (a watchdog shutdown makes it ready, with an error to read)."""
    poller = select.poll()
    poller.register(fd, events)
    poller.poll()


class PostgresSql(_Pooled):
    """PostgreSQL through libpq (psycopg 3): one statement per call (extended protocol), rows
    arriving in chunks, `statement_timeout` set from the time left before every statement."""

    kind = "PostgreSQL"

    def __init__(self, url: str, allow_superuser: bool = False) -> None:
        super().__init__(allow_superuser)
        self.url = url

    def _connect(self, timeout: float) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=max(2, math.ceil(timeout)))

    def _in_transaction(self, conn: Any) -> bool:
        from psycopg import pq

        return bool(conn.broken or conn.pgconn.transaction_status != pq.TransactionStatus.IDLE)

    def _check_role(self, conn: Any) -> None:
        row = conn.execute(
            "SELECT current_user, rolsuper, pg_has_role(current_user, 'pg_execute_server_program', 'USAGE') "
            "OR pg_has_role(current_user, 'pg_read_server_files', 'USAGE') "
            "OR pg_has_role(current_user, 'pg_write_server_files', 'USAGE') "
            "FROM pg_roles WHERE rolname = current_user").fetchone()
        if row is not None and row[1]:
            raise _superuser_refused("PostgreSQL", repr(row[0]), "is a superuser")
        if row is not None and row[2]:
            raise _superuser_refused("PostgreSQL", repr(row[0]), "has pg_execute_server_program or "
                                     "pg_read/write_server_files")

    def execute(self, statement: str, params: Sequence[Any], ctx: InvocationContext | None = None) -> int:
        return self._run(statement, params, ctx, None)[1]

    def query(self, statement: str, params: Sequence[Any],
              ctx: InvocationContext | None = None) -> tuple[list[str], str]:
        packer = _packer(_limits(ctx))
        columns, _ = self._run(statement, params, ctx, packer)
        return columns, packer.text()

    def _run(self, statement: str, params: Sequence[Any], ctx: InvocationContext | None,
             rows: RowPacker | None) -> tuple[list[str], int]:
        """One statement under the deadline: the server's timeout, then the watchdog; a connection
        cut off, broken, over a limit or left in a transaction is dropped."""
        from psycopg import errors, pq

        deadline = _deadline(ctx)
        conn = self._conn(deadline)
        try:
            with watchdog().guard(deadline + SLACK, conn.pgconn.socket) as alarm:
                try:
                    if not math.isinf(deadline):
                        ms = max(1, int(_left(deadline, self.kind) * 1000))
                        self._simple(conn, f"SET statement_timeout = {ms}".encode())
                    return self._statement(conn, statement, params, rows)
                except Exception:
                    if alarm.fired:
                        raise DeadlineExceeded("PostgreSQL did not answer before the invocation's deadline") from None
                    raise
        except errors.QueryCanceled as exc:
            if "statement timeout" in str(exc):
                raise DeadlineExceeded("PostgreSQL statement stopped at the invocation's deadline "
                                       "(statement_timeout)") from None
            raise
        finally:
            if conn.broken or conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                self._discard()

    def _simple(self, conn: Any, command: bytes) -> None:
        """A host statement without rows (the timeout), failing like the driver would."""
        self._send(conn, command, None, None)

    def _statement(self, conn: Any, statement: str, params: Sequence[Any],
                   rows: RowPacker | None) -> tuple[list[str], int]:
        """Runs the guest's statement with its parameters bound server-side; rows go to `rows`
        within its limits (None: counted and dropped, for `execute`)."""
        from psycopg.adapt import PyFormat, Transformer

        tx = Transformer(conn)
        values = tx.dump_sequence(list(params), [PyFormat.AUTO] * len(params)) if params else None
        query = qmark_to_numbered(statement).encode(conn.info.encoding)
        try:
            return self._send(conn, query, (tx, values), rows)
        except Refused:
            self._discard()  # stop reading: closing the connection stops the server sending the rest
            raise

    def _send(self, conn: Any, query: bytes, bound: tuple[Any, Any] | None,
              sink: RowPacker | None) -> tuple[list[str], int]:
        """Sends one statement and reads its results chunk by chunk; returns columns and rows affected."""
        from psycopg import errors, pq

        pgconn = conn.pgconn
        if bound is not None and bound[1] is not None:
            tx, values = bound
            pgconn.send_query_params(query, values, param_types=tx.types, param_formats=tx.formats)
        else:
            pgconn.send_query_params(query, None)
        if bound is not None:
            pgconn.set_chunked_rows_mode(CHUNK)
        while pgconn.flush():
            _wait(pgconn.socket, select.POLLOUT)
        columns: list[str] = []
        affected = 0
        error: Exception | None = None
        S = pq.ExecStatus
        while (res := self._result(pgconn)) is not None:
            status = res.status
            if status in (S.TUPLES_CHUNK, S.SINGLE_TUPLE, S.TUPLES_OK):
                if not columns and res.nfields:
                    columns = [(res.fname(i) or b"").decode(conn.info.encoding) for i in range(res.nfields)]
                affected += res.ntuples
                if sink is not None and res.ntuples and bound is not None:
                    tx = bound[0]
                    tx.set_pgresult(res)
                    chunk = tx.load_rows(0, res.ntuples, list)
                    sink.add(chunk)
            elif status == S.COMMAND_OK:
                affected = int(res.command_tuples or 0)
            elif status == S.FATAL_ERROR:
                error = error or errors.error_from_result(res, encoding=conn.info.encoding)
            elif status in (S.COPY_IN, S.COPY_OUT, S.COPY_BOTH):
                self._discard()
                raise Refused("COPY from or to the client is not supported")
        if error is not None:
            raise error
        return columns, affected

    @staticmethod
    def _result(pgconn: Any) -> Any:
        """The next result, waiting on the socket without holding the GIL in a blocking call."""
        while pgconn.is_busy():
            _wait(pgconn.socket, select.POLLIN)
            pgconn.consume_input()
        return pgconn.get_result()


_SERVER_STATUS_IN_TRANS = 1
"""The MySQL protocol's status flag for an open transaction."""


class MysqlSql(_Pooled):
    """MariaDB / MySQL through PyMySQL: rows read unbuffered, `max_statement_time` set for each
    statement (MariaDB), the watchdog for a server that stops answering, no LOCAL INFILE."""

    kind = "MariaDB"

    def __init__(self, url: str, allow_superuser: bool = False) -> None:
        super().__init__(allow_superuser)
        u = urlparse(url)
        self.params = {
            "host": u.hostname or "127.0.0.1", "port": u.port or 3306, "user": unquote(u.username or "root"),
            "password": unquote(u.password or ""), "database": u.path.lstrip("/") or None,
        }

    def _connect(self, timeout: float) -> Any:
        import pymysql  # type: ignore[import-untyped]

        conn = pymysql.connect(**self.params, autocommit=True, connect_timeout=timeout, read_timeout=timeout,
                               write_timeout=timeout, charset="utf8mb4", local_infile=False)
        conn._read_timeout = conn._write_timeout = None  # from here on the watchdog bounds each statement
        conn.wasmlet_mariadb = "mariadb" in conn.get_server_info().lower()
        return conn

    def _in_transaction(self, conn: Any) -> bool:
        return bool(getattr(conn, "server_status", 0) & _SERVER_STATUS_IN_TRANS)

    def _check_role(self, conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute("SHOW GRANTS")
            grants = [str(r[0]).upper() for r in cur.fetchall()]
        for grant in grants:
            if " ON *.* " not in grant:
                continue
            privileges = grant.split(" ON *.* ")[0]
            for bad in ("ALL PRIVILEGES", "FILE", "SUPER"):
                if bad in privileges:
                    user = self.params["user"]
                    raise _superuser_refused("MariaDB", repr(user), f"has the {bad} privilege")

    def execute(self, statement: str, params: Sequence[Any], ctx: InvocationContext | None = None) -> int:
        result: int = self._run(statement, params, ctx, False)
        return result

    def query(self, statement: str, params: Sequence[Any],
              ctx: InvocationContext | None = None) -> tuple[list[str], str]:
        result: tuple[list[str], str] = self._run(statement, params, ctx, True)
        return result

    def _run(self, statement: str, params: Sequence[Any], ctx: InvocationContext | None, fetch: bool) -> Any:
        """One statement under the deadline (server-side `max_statement_time`, then the watchdog);
        rows are read unbuffered and the connection dropped when they go over a limit."""
        if "max_statement_time" in statement.lower():
            raise Refused("not authorized: max_statement_time is set by the host")
        deadline = _deadline(ctx)
        conn = self._conn(deadline)
        prefix = ""
        if conn.wasmlet_mariadb and not math.isinf(deadline):
            prefix = f"SET STATEMENT max_statement_time={max(0.001, _left(deadline, self.kind)):.3f} FOR "
        with watchdog().guard(deadline + SLACK, conn._sock.fileno()) as alarm:
            try:
                return self._statement(conn, prefix + qmark_to_format(statement), params, ctx if fetch else None,
                                       fetch)
            except Refused:
                self._discard()  # rows left unread: dropping the connection beats reading them all
                raise
            except Exception as exc:
                if alarm.fired or not self._alive(conn):
                    self._discard()
                if alarm.fired:
                    raise DeadlineExceeded("MariaDB did not answer before the invocation's deadline") from None
                if exc.args and exc.args[0] == 1969:
                    raise DeadlineExceeded("MariaDB statement stopped at the invocation's deadline "
                                           "(max_statement_time)") from None
                raise

    @staticmethod
    def _statement(conn: Any, statement: str, params: Sequence[Any], ctx: InvocationContext | None,
                   fetch: bool) -> Any:
        """Runs one statement on an unbuffered cursor: rows within the limits, or the count affected."""
        import pymysql

        cur = conn.cursor(pymysql.cursors.SSCursor)
        cur.execute(statement, tuple(params))
        if fetch:
            result: Any = ([d[0] for d in cur.description or []], take_rows(cur.fetchmany, _limits(ctx)))
        elif cur.description:  # rows from `execute`: counted a chunk at a time, never held
            result = 0
            while batch := cur.fetchmany(CHUNK):
                result += len(batch)
        else:
            result = cur.rowcount if 0 <= cur.rowcount < 1 << 63 else 0  # unbuffered SELECT: unknown (-1 unsigned)
        cur.close()
        return result

    def _discard(self) -> None:
        """Drops this thread's connection without reading what is left of an unbuffered result."""
        conn = getattr(self._local, "conn", None)
        result = getattr(conn, "_result", None)
        if result is not None:
            result.unbuffered_active = False
        super()._discard()

    @staticmethod
    def _alive(conn: Any) -> bool:
        """Whether the connection still answers (after a failed statement)."""
        try:
            conn.ping(reconnect=False)
            return True
        except Exception:
            return False


class SqlCalls(LabelledCalls[SqlBackend]):
    """Implements `sql` for one function: granted labels reach their database, others are denied."""

    def _run(self, label: str, op: Callable[[SqlBackend], T]) -> Result[T, SqlError]:
        def tracked(db: SqlBackend) -> T:
            # a transaction the guest leaves open must not carry over to the next invocation on this thread
            end = getattr(db, "end_invocation", None)
            if end is not None:
                self.ctx.at_finish(end)
            return op(db)

        return run_granted(self.granted, label, "database", self.open_backend, tracked,
                           SqlErrorDenied, SqlErrorBackend, self.ctx)

    def execute(self, database: str, statement: str, params: list[Value]) -> Result[int, SqlError]:
        return self._run(database, lambda db: db.execute(statement, [to_python(p) for p in params], self.ctx))

    def query(self, database: str, statement: str, params: list[Value]) -> Result[Rows, SqlError]:
        def run(db: SqlBackend) -> Rows:
            columns, packed = db.query(statement, [to_python(p) for p in params], self.ctx)
            return Rows(columns, packed)

        return self._run(database, run)


CAPABILITY = labelled("sql", "SQL", lambda g: g.sql, lambda b: b.sql, SqlCalls)
