"""A SQLite file opened once per thread (connections must not cross threads), in WAL mode,
confined to that file and bounded by the invocation's deadline.

Guest statements run under an authorizer: no ATTACH/DETACH (and so no VACUUM, which
attaches, nor VACUUM INTO a path), no extension loading, and only read-only PRAGMAs a CRUD
service needs. A progress handler stops a statement at the deadline, and the busy timeout
never outlasts it.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ._context import DeadlineExceeded, InvocationContext, stopping
from ._errors import Refused

T = TypeVar("T")

BUSY_MS = 10_000
"""The longest a statement waits for another connection's lock (less when the deadline is nearer)."""
PROGRESS_STEPS = 10_000
"""VM instructions between deadline checks (about 0.1 ms of work)."""

_READ_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_key_check", "collation_list", "data_version", "user_version",
})
"""PRAGMAs a guest may read (with or without a table argument); none of them writes."""
MAX_LENGTH = 1_000_000_000
"""SQLite's own largest string or blob."""
_SET_PRAGMAS: frozenset[str] = frozenset()
"""PRAGMAs a guest may set: none (the host keeps `busy_timeout` under the deadline itself)."""
"""PRAGMAs the host itself sets before every statement, so a guest's value never outlives it."""
_SAFE_MODULES = frozenset({"fts3", "fts4", "fts5", "rtree", "rtree_i32", "geopoly"})
"""Virtual table modules a guest may create: they keep their data in the database file."""
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})



class SqliteFile:
    """Gives each worker thread its own autocommit connection to one file, confined to it."""

    def __init__(self, path: Path) -> None:
        if path.name.startswith("registry."):
            raise Refused(f"{path.name} is the host's registry: a guest database must be another file")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()

    def _setup(self, db: sqlite3.Connection) -> None:
        """The host's own statements on a new connection, run before the authorizer is installed."""

    def _db(self) -> sqlite3.Connection:
        """This thread's connection, opened and confined on first use."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_MS / 1000)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA trusted_schema=OFF")
            if hasattr(db, "enable_load_extension"):
                db.enable_load_extension(False)
            self._setup(db)
            self._local.trusted = False
            db.set_authorizer(self._authorize)
            self._local.db = db
            self._local.busy_ms = BUSY_MS
        return db

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, _db: str | None,
                   _trigger: str | None) -> int:
        """The authorizer: denies what reaches outside the file, remembering why for the error."""
        if self._local.trusted:  # the host's own statement (see `_bound_busy`)
            return sqlite3.SQLITE_OK
        reason: str | None = None
        if action == sqlite3.SQLITE_ATTACH:
            reason = "ATTACH or VACUUM INTO" if arg1 else "VACUUM"  # VACUUM attaches a temporary database
        elif action == sqlite3.SQLITE_DETACH:
            reason = "DETACH"
        elif action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if not (name in _SET_PRAGMAS or (name in _READ_PRAGMAS and (arg2 is None or name != "user_version"))):
                reason = f"setting PRAGMA {name}" if name in _READ_PRAGMAS else f"PRAGMA {name}"
        elif action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in _DENIED_FUNCTIONS:
                reason = f"function {arg2}()"
        elif action in (sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE):
            if (arg2 or "").lower() not in _SAFE_MODULES:
                reason = f"virtual table module {arg2}"
        if reason is None:
            return sqlite3.SQLITE_OK
        self._local.denied = reason
        return sqlite3.SQLITE_DENY

    def call(self, ctx: InvocationContext | None, op: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `op` on this thread's connection under the invocation's deadline; denials and
        interruptions become errors that say why."""
        db = self._db()
        deadline = math.inf if ctx is None else ctx.deadline
        self._local.denied = None
        if ctx is not None:  # one string or blob may not outgrow what a result may carry back
            lim = ctx.limits
            db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH,
                        min(MAX_LENGTH, max(1 << 20, lim.max_sql_bytes, lim.max_kv_value_bytes)))
        limited = not math.isinf(deadline)
        if limited:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded("SQLite: the invocation's deadline has passed")
            self._bound_busy(db, left)
            db.set_progress_handler(lambda: time.monotonic() > deadline or stopping(), PROGRESS_STEPS)
        try:
            return op(db)
        except sqlite3.DatabaseError as exc:
            raise self._explain(exc, deadline) from None
        finally:
            if limited:
                db.set_progress_handler(None, 0)

    def _bound_busy(self, db: sqlite3.Connection, left: float) -> None:
        """Keeps the busy timeout under the time left (set again only when far off: it costs a statement)."""
        target = min(BUSY_MS, int(left * 1000))
        current: int = self._local.busy_ms
        if current > target or current < target // 2:
            wanted = max(1, target * 4 // 5)
            self._local.trusted = True
            try:
                db.execute(f"PRAGMA busy_timeout = {wanted}")
            finally:
                self._local.trusted = False
            self._local.busy_ms = wanted

    def _explain(self, exc: sqlite3.DatabaseError, deadline: float) -> Exception:
        """The error a guest sees: the authorizer's reason, the deadline, or the driver's own."""
        denied = getattr(self._local, "denied", None)
        if denied is not None and "authoriz" in str(exc):
            return Refused(f"not authorized: {denied} is not allowed for function SQL")
        if time.monotonic() >= deadline and isinstance(exc, sqlite3.OperationalError):
            return DeadlineExceeded("SQLite statement stopped at the invocation's deadline")
        return exc

    def close(self) -> None:
        """Closes this thread's connection (the next call opens a new one)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        self._local.db = None
        if db is not None:
            db.close()
