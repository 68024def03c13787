"""The registry on PostgreSQL: many hosts, one truth.

Metadata and components (content-addressed, in 1 MiB chunks) live in PostgreSQL, and every write is
one transaction that also NOTIFYs `wasmlet_registry` with the function's name. Each host holds the
whole metadata in memory and applies those notifications as they arrive (`watch`), so serving a
request asks PostgreSQL nothing. While that connection is down the host serves what it knew last
and reports itself unready; on reconnecting it loads everything again. A process that does not
watch (a tool, a test) reads PostgreSQL on every lookup instead. A component is read only by a host
that has not compiled it yet (compile on first use).

Writes lock the function (a transaction-scoped advisory lock), then each component they store or
may remove, always in that order, so concurrent deploys on different hosts get distinct versions
and never deadlock; foreign keys make a version without its component, or an alias without its
version, impossible.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import psycopg
from psycopg import conninfo
from psycopg.rows import TupleRow

from ..manifest import Manifest
from ._common import (
    LATEST,
    RegistryError,
    Removed,
    Version,
    check_name,
    held_message,
    listing,
    manifest_json,
    named_aliases_message,
    version_from_row,
)

log = logging.getLogger("wasmlet.registry")
CHANNEL = "wasmlet_registry"
CHUNK = 1 << 20
"""Components are stored in pieces of this size (a bytea value is best kept far below its 1 GB cap)."""
_PING_S = 10.0
"""A silent notification connection is checked this often (a dead peer shows within this plus TCP's)."""
_WAIT_S = 0.5
"""The longest one wait for notifications blocks its thread (so stopping the host is never held up longer)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS wasmlet_components (
    sha256 TEXT PRIMARY KEY, size BIGINT NOT NULL, chunks INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS wasmlet_chunks (
    sha256 TEXT NOT NULL REFERENCES wasmlet_components ON DELETE CASCADE, n INTEGER NOT NULL,
    data BYTEA NOT NULL, PRIMARY KEY (sha256, n));
CREATE TABLE IF NOT EXISTS wasmlet_versions (
    function TEXT NOT NULL, version TEXT NOT NULL, seq INTEGER NOT NULL,
    sha256 TEXT NOT NULL REFERENCES wasmlet_components, manifest TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL, PRIMARY KEY (function, version));
CREATE INDEX IF NOT EXISTS wasmlet_versions_sha256 ON wasmlet_versions (sha256);
CREATE TABLE IF NOT EXISTS wasmlet_aliases (
    function TEXT NOT NULL, alias TEXT NOT NULL, version TEXT NOT NULL, PRIMARY KEY (function, alias),
    FOREIGN KEY (function, version) REFERENCES wasmlet_versions);
CREATE TABLE IF NOT EXISTS wasmlet_sequences (function TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""

_VERSION_COLUMNS = "function, version, sha256, manifest, created"


def describe(url: str) -> str:
    """Where a PostgreSQL URL points, without its password: `host:port/dbname`."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "an unreadable URL"
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or ''}"


def _reason(exc: BaseException) -> str:
    """An exception's first line, with libpq's noise trimmed."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    text = re.sub(r'^(connection failed: |error: )?(connection to server at "[^"]*", port \d+ failed: )?', "", text)
    return re.sub(r"^FATAL:\s+", "", text)


class RegistryConfigError(RegistryError):
    """The registry's URL or credentials are wrong: waiting will not help (the message never shows a password)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 503)


_PERMANENT_SQLSTATES = {"3D000": "no such database", "28000": "the role may not log in",
                        "28P01": "wrong password", "42501": "permission denied"}


def _permanent(exc: psycopg.Error) -> str | None:
    """Why a connection failure is a configuration mistake (None: it may be transient)."""
    if isinstance(exc, psycopg.ProgrammingError) or "invalid connection option" in str(exc) \
            or "invalid integer value" in str(exc) or "invalid sslmode value" in str(exc):
        return ("the registry URL is not a PostgreSQL URL or conninfo string "
                "(postgresql://user:password@host:5432/dbname)")
    state = getattr(exc, "sqlstate", None)
    if state in _PERMANENT_SQLSTATES:
        return _reason(exc)
    text = str(exc)
    if "does not exist" in text and ("database" in text or "role" in text):
        return _reason(exc)
    if "password authentication failed" in text:
        return _reason(exc)
    return None


class _Database:
    """One connection, opened on first use and again after it broke; one transaction at a time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[TupleRow] | None = None

    def connect(self) -> psycopg.Connection[TupleRow]:
        """A new connection in autocommit mode (transactions are explicit), with bounded waits. A wrong
        URL is a `RegistryConfigError` whose message never repeats the URL (it may hold a password)."""
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5, keepalives=1, keepalives_idle=10,
                                   keepalives_interval=5, keepalives_count=3, application_name="wasmlet")
        except psycopg.Error as exc:
            why = _permanent(exc)
            if why is not None:
                raise RegistryConfigError(f"the registry's PostgreSQL ({describe(self.url)}): {why}") from None
            raise
        conn.execute("SET statement_timeout = '30s'")
        conn.execute("SET lock_timeout = '15s'")  # a deploy waiting for a stuck one gives up with a 503
        return conn

    @contextmanager
    def transaction(self, *, snapshot: bool = False) -> Iterator[psycopg.Cursor[TupleRow]]:
        """A transaction (READ COMMITTED; `snapshot`: REPEATABLE READ, one consistent view for reads).
        A connection failure is a 503 `RegistryError` and the next call connects again."""
        with self._lock:
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self._conn = self.connect()
                with self._conn.transaction(), self._conn.cursor() as cur:
                    if snapshot:
                        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    yield cur
            except psycopg.OperationalError as exc:
                if self._conn is not None and (self._conn.closed or self._conn.broken):
                    self._conn.close()
                    self._conn = None
                raise RegistryError(f"the registry's PostgreSQL ({describe(self.url)}) did not answer: "
                                    f"{_reason(exc)}", 503) from None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _lock(cur: psycopg.Cursor[TupleRow], kind: str, name: str) -> None:
    """Holds a transaction-scoped advisory lock on one function or component until commit."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"wasmlet:{kind}:{name}",))


@dataclass
class _Function:
    """What this host knows of one function: its versions (oldest first) and aliases."""

    versions: dict[str, Version] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


class PostgresRegistry:
    """Functions, versions, aliases and components in PostgreSQL, shared by every host that uses it."""

    def __init__(self, url: str, *, wait_s: float | None = None, retry_s: float = 2.0) -> None:
        """Connects and creates the tables if needed; while PostgreSQL is unreachable it waits (saying
        why, at most every 10 s) for `wait_s` seconds or, with None, until it answers."""
        self.url = url
        self.where = describe(url)
        self._db = _Database(url)
        self._state: dict[str, _Function] = {}
        self._state_lock = threading.Lock()
        self._following = False
        self._watching = False
        self._last_problem = ""
        self._wait_until_reachable(wait_s, retry_s)

    def _wait_until_reachable(self, wait_s: float | None, retry_s: float) -> None:
        started = time.monotonic()
        said = 0.0
        while True:
            try:
                with self._db.transaction() as cur:
                    _lock(cur, "schema", "create")  # hosts starting together must not race on CREATE
                    cur.execute(SCHEMA)
                self._load(None)
                if said:
                    log.info("registry: PostgreSQL at %s answers now", self.where)
                return
            except RegistryConfigError:
                raise
            except RegistryError as exc:
                waited = time.monotonic() - started
                reason = str(exc).split(" did not answer: ", 1)[-1]
                if wait_s is not None and waited >= wait_s:
                    raise RegistryError(f"the registry's PostgreSQL at {self.where} is unreachable after "
                                        f"{waited:.0f} s: {reason}", 503) from None
                if not said or time.monotonic() - said >= 10:
                    log.warning("registry: waiting for PostgreSQL at %s: %s; trying again every %.0f s",
                                self.where, reason, retry_s)
                    said = time.monotonic()
                time.sleep(retry_s)

    def close(self) -> None:
        self._db.close()

    # ---------------------------------------------------------------- reads
    def resolve(self, function: str, version: str) -> Version | None:
        """A version or alias: from memory while `watch` runs (applying every host's changes; while it
        is disconnected, what was known last), else read from PostgreSQL."""
        entry = self._state.get(function) if self._watching else self._load([function]).get(function)
        if entry is None:
            return None
        found = entry.versions.get(version)
        if found is None and version in entry.aliases:
            found = entry.versions.get(entry.aliases[version])
        return found

    def wasm(self, version: Version) -> bytes:
        """The stored component, reassembled from its chunks and checked against its content hash."""
        with self._db.transaction(snapshot=True) as cur:
            chunks = [bytes(row[0]) for row in cur.execute(
                "SELECT data FROM wasmlet_chunks WHERE sha256 = %s ORDER BY n", (version.sha256,))]
        if not chunks:
            raise RegistryError(f"the stored component of {version.function}/{version.version} is missing "
                                f"(deleted meanwhile)", 404)
        data = b"".join(chunks)
        if hashlib.sha256(data).hexdigest() != version.sha256:
            raise RegistryError(f"stored component of {version.function}/{version.version} is damaged "
                                f"(its sha256 does not match); deploy it again", 500)
        return data

    def list(self) -> dict[str, dict[str, object]]:
        """Every function with its versions and aliases (one consistent snapshot)."""
        state = dict(self._state) if self._watching else self._load(None)
        versions = [v for name in sorted(state) for v in state[name].versions.values()]
        aliases = [(name, alias, target) for name in sorted(state) for alias, target in sorted(state[name].aliases.items())]
        return listing(versions, aliases)

    def unavailable(self) -> str | None:
        """Why this host cannot rely on the registry now (None: it can), for readiness."""
        if self._watching:
            return None if self._following else f"registry unreachable: {self._last_problem or 'connecting'}"
        try:
            with self._db.transaction() as cur:
                cur.execute("SELECT 1")
        except RegistryError as exc:
            return str(exc)
        return None

    def _load(self, functions: Iterable[str] | None) -> dict[str, _Function]:
        """Reads some functions (None: all) in one snapshot and updates this host's memory with them."""
        names = None if functions is None else sorted(set(functions))
        where, params = ("", ()) if names is None else (" WHERE function = ANY(%s)", (names,))
        with self._db.transaction(snapshot=True) as cur:
            versions = cur.execute(f"SELECT {_VERSION_COLUMNS} FROM wasmlet_versions{where} ORDER BY function, seq",
                                   params).fetchall()
            aliases = cur.execute(f"SELECT function, alias, version FROM wasmlet_aliases{where}", params).fetchall()
        loaded: dict[str, _Function] = {}
        for row in versions:
            v = version_from_row(row)
            loaded.setdefault(v.function, _Function()).versions[v.version] = v
        for function, alias, target in aliases:
            loaded.setdefault(str(function), _Function()).aliases[str(alias)] = str(target)
        with self._state_lock:
            if names is None:
                self._state = dict(loaded)
            else:
                for name in names:
                    if name in loaded:
                        self._state[name] = loaded[name]
                    else:
                        self._state.pop(name, None)  # gone, or never known: unknown names take no memory
        return loaded

    # ------------------------------------------------------------ following
    async def watch(self) -> None:
        """Keeps this host's memory equal to PostgreSQL: LISTENs, loads everything, then applies each
        change any host commits, until cancelled. While disconnected, lookups answer what was known
        last (readiness says why), never a query on the request path."""
        self._watching = True
        pause = 0.5
        try:
            while True:
                listener: psycopg.Connection[TupleRow] | None = None
                try:
                    listener = await anyio.to_thread.run_sync(self._listen)
                    if self._last_problem:
                        log.info("registry: following PostgreSQL's changes at %s again", self.where)
                    self._following, self._last_problem, pause = True, "", 0.5
                    silent_since = time.monotonic()
                    while True:
                        changed = await anyio.to_thread.run_sync(self._changes, listener)
                        if changed:
                            await anyio.to_thread.run_sync(self._load, changed)
                            silent_since = time.monotonic()
                        elif time.monotonic() - silent_since >= _PING_S:
                            await anyio.to_thread.run_sync(listener.execute, "SELECT 1")  # is it still there?
                            silent_since = time.monotonic()
                except (psycopg.Error, RegistryError) as exc:
                    self._following = False
                    reason = str(exc).split(" did not answer: ", 1)[-1] if isinstance(exc, RegistryError) \
                        else _reason(exc)
                    self._last_problem = f"PostgreSQL at {self.where}: {reason}"
                    log.warning("registry: not following changes (%s); serving the functions known so far, "
                                "reconnecting in %.1f s", self._last_problem, pause)
                finally:
                    self._following = False
                    if listener is not None:
                        listener.close()
                await anyio.sleep(pause)
                pause = min(pause * 2, 5.0)
        finally:
            self._watching = False

    def _listen(self) -> psycopg.Connection[TupleRow]:
        """A connection LISTENing on the channel; then everything is loaded (nothing missed in between)."""
        conn = self._db.connect()
        try:
            conn.execute(f"LISTEN {CHANNEL}")
            self._load(None)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _changes(listener: psycopg.Connection[TupleRow]) -> set[str]:
        """The functions changed since the last call: waits up to `_WAIT_S` for the first notification,
        then takes whatever else arrived with it."""
        names = {n.payload for n in listener.notifies(timeout=_WAIT_S, stop_after=1)}
        if names:
            names |= {n.payload for n in listener.notifies(timeout=0.001)}
        return names

    # --------------------------------------------------------------- writes
    @contextmanager
    def _writing(self, function: str) -> Iterator[psycopg.Cursor[TupleRow]]:
        """One write transaction holding the function's lock; it notifies every host on commit, and this
        host applies the change at once (it reads its own writes whatever the notifications do)."""
        try:
            with self._db.transaction() as cur:
                _lock(cur, "function", function)
                yield cur
                cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, function))
        finally:
            try:
                self._load([function])
            except RegistryError:
                pass  # PostgreSQL went away after the commit; the watcher reloads everything on reconnect

    def deploy(self, function: str, wasm: bytes, manifest: Manifest) -> Version:
        """Stores a new version (or returns the identical existing one) and points `latest` at it."""
        check_name("function", function)
        sha = hashlib.sha256(wasm).hexdigest()
        stored = manifest_json(manifest)
        with self._writing(function) as cur:
            same = cur.execute("SELECT version FROM wasmlet_versions WHERE function = %s AND sha256 = %s "
                               "AND manifest = %s", (function, sha, stored)).fetchone()
            _lock(cur, "component", sha)
            if cur.execute("SELECT 1 FROM wasmlet_components WHERE sha256 = %s", (sha,)).fetchone() is None:
                cur.execute("INSERT INTO wasmlet_components VALUES (%s, %s, %s)",
                            (sha, len(wasm), max(1, -(-len(wasm) // CHUNK))))
                cur.executemany("INSERT INTO wasmlet_chunks VALUES (%s, %s, %s)",
                                [(sha, n, wasm[start:start + CHUNK])
                                 for n, start in enumerate(range(0, max(len(wasm), 1), CHUNK))])
            if same:
                version = str(same[0])
            else:
                row = cur.execute(
                    "SELECT GREATEST(COALESCE((SELECT MAX(seq) FROM wasmlet_versions WHERE function = %s), 0), "
                    "COALESCE((SELECT seq FROM wasmlet_sequences WHERE function = %s), 0)) + 1",
                    (function, function)).fetchone()  # never reuse a deleted version's name
                seq = int(row[0]) if row else 1
                version = f"v{seq}"
                cur.execute("INSERT INTO wasmlet_versions VALUES (%s, %s, %s, %s, %s, %s)",
                            (function, version, seq, sha, stored, time.time()))
                cur.execute("INSERT INTO wasmlet_sequences VALUES (%s, %s) ON CONFLICT (function) "
                            "DO UPDATE SET seq = EXCLUDED.seq", (function, seq))
            cur.execute("INSERT INTO wasmlet_aliases VALUES (%s, %s, %s) ON CONFLICT (function, alias) "
                        "DO UPDATE SET version = EXCLUDED.version", (function, LATEST, version))
            found = cur.execute(f"SELECT {_VERSION_COLUMNS} FROM wasmlet_versions WHERE function = %s "
                                "AND version = %s", (function, version)).fetchone()
        assert found is not None
        return version_from_row(found)

    def set_alias(self, function: str, alias: str, version: str) -> None:
        """Points `alias` at an existing version (created or moved)."""
        check_name("function", function)
        check_name("alias", alias)
        with self._writing(function) as cur:
            if cur.execute("SELECT 1 FROM wasmlet_versions WHERE function = %s AND version = %s",
                           (function, version)).fetchone() is None:
                raise self._absent(cur, function, f"{function} has no version {version!r}")
            if re.fullmatch(r"v\d+", alias):
                raise RegistryError(f"alias {alias!r} would shadow a version name", 400)
            cur.execute("INSERT INTO wasmlet_aliases VALUES (%s, %s, %s) ON CONFLICT (function, alias) "
                        "DO UPDATE SET version = EXCLUDED.version", (function, alias, version))

    def delete_version(self, function: str, version: str) -> None:
        """Deletes one version (the last one too); refused (409) while an alias points at it."""
        check_name("function", function)
        check_name("version", version)
        with self._writing(function) as cur:
            row = cur.execute("SELECT sha256 FROM wasmlet_versions WHERE function = %s AND version = %s",
                              (function, version)).fetchone()
            if row is None:
                raise self._absent(cur, function, f"{function} has no version {version!r}")
            held = [str(r[0]) for r in cur.execute("SELECT alias FROM wasmlet_aliases WHERE function = %s "
                                                   "AND version = %s ORDER BY alias", (function, version))]
            if held:
                raise RegistryError(held_message(function, version, held), 409)
            cur.execute("DELETE FROM wasmlet_versions WHERE function = %s AND version = %s", (function, version))
            self._drop_unused_components(cur, [str(row[0])])

    def delete_alias(self, function: str, alias: str) -> str:
        """Deletes an alias (`latest` too: the next deploy sets it again); returns the version it named."""
        check_name("function", function)
        check_name("alias", alias)
        with self._writing(function) as cur:
            row = cur.execute("DELETE FROM wasmlet_aliases WHERE function = %s AND alias = %s RETURNING version",
                              (function, alias)).fetchone()
            if row is None:
                raise self._absent(cur, function, f"{function} has no alias {alias!r}")
        return str(row[0])

    def delete_function(self, function: str, force: bool = False) -> Removed:
        """Deletes every version and alias of a function in one transaction; refused (409) while an
        alias other than `latest` exists, unless `force`. Its version numbers are not reused."""
        check_name("function", function)
        with self._writing(function) as cur:
            versions = cur.execute("SELECT version, sha256 FROM wasmlet_versions WHERE function = %s ORDER BY seq",
                                   (function,)).fetchall()
            aliases = {str(a): str(v) for a, v in cur.execute(
                "SELECT alias, version FROM wasmlet_aliases WHERE function = %s ORDER BY alias", (function,))}
            if not versions and not aliases:
                raise RegistryError(f"no function {function!r}", 404)
            named = [a for a in aliases if a != LATEST]
            if named and not force:
                raise RegistryError(named_aliases_message(function, named), 409)
            cur.execute("DELETE FROM wasmlet_aliases WHERE function = %s", (function,))
            cur.execute("DELETE FROM wasmlet_versions WHERE function = %s", (function,))
            self._drop_unused_components(cur, [str(sha) for _, sha in versions])
        return Removed(function, tuple(str(v) for v, _ in versions), aliases)

    @staticmethod
    def _drop_unused_components(cur: psycopg.Cursor[TupleRow], shas: Iterable[str]) -> None:
        """In the deleting transaction: removes the components no version uses any more. Each under its
        lock, so a deploy of the same content on another host either committed first (its version
        keeps the component) or waits and stores it again."""
        for sha in sorted(set(shas)):
            _lock(cur, "component", sha)
            cur.execute("DELETE FROM wasmlet_components WHERE sha256 = %s AND NOT EXISTS "
                        "(SELECT 1 FROM wasmlet_versions WHERE sha256 = %s)", (sha, sha))

    @staticmethod
    def _absent(cur: psycopg.Cursor[TupleRow], function: str, message: str) -> RegistryError:
        """404: the function itself is unknown, or only the named version or alias is."""
        if cur.execute("SELECT 1 FROM wasmlet_versions WHERE function = %s LIMIT 1", (function,)).fetchone() is None:
            return RegistryError(f"no function {function!r}", 404)
        return RegistryError(message, 404)
