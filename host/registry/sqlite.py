"""Functions, versions and aliases.

`SqliteRegistry` keeps metadata in SQLite and components as content-addressed
blob files under the data directory. A deploy writes the blob (temp file,
fsync, rename) before the metadata transaction commits, so a process killed
mid-deploy leaves the old state or the new one, never half a version. A deletion
commits first and removes blobs no version uses any more afterwards, so a crash
leaves at most an orphan blob, never a version without its component. Version
names are never reused: after `v3` is deleted (or the whole function), the next
deploy is `v4`, so a client pinned to a version never gets other code under it.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

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
_RESOLVED_MAX = 10_000


class SqliteRegistry:
    """The default registry: SQLite metadata plus blob files under `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.blobs = self.data_dir / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        for partial in self.blobs.glob(".upload-*"):
            partial.unlink(missing_ok=True)  # left by a process killed mid-upload
        self._lock = threading.Lock()
        self._resolved: dict[tuple[str, str], Version] = {}
        self._generation = _shared_word(self.data_dir / "registry.generation")
        self._seen = self._generation[:8]
        self._db = sqlite3.connect(self.data_dir / "registry.sqlite3", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS versions (
                function TEXT NOT NULL, version TEXT NOT NULL, seq INTEGER NOT NULL,
                sha256 TEXT NOT NULL, manifest TEXT NOT NULL, created REAL NOT NULL,
                PRIMARY KEY (function, version));
            CREATE TABLE IF NOT EXISTS aliases (
                function TEXT NOT NULL, alias TEXT NOT NULL, version TEXT NOT NULL,
                PRIMARY KEY (function, alias));
            CREATE TABLE IF NOT EXISTS sequences (
                function TEXT PRIMARY KEY, seq INTEGER NOT NULL);
            """
        )

    def close(self) -> None:
        self._db.close()
        self._generation.close()

    def _changed(self) -> None:
        """After a commit: every process's remembered answers are stale (call with the lock held)."""
        self._resolved.clear()
        self._generation[:8] = os.urandom(8)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction under the lock; afterwards every process forgets what it resolved."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                self._changed()

    # ---------------------------------------------------------------- reads
    def resolve(self, function: str, version: str) -> Version | None:
        """Looks a version or alias up; answers from memory until a registry in any process
        commits a change (it writes a new token into `registry.generation`, memory-mapped by all)."""
        key = (function, version)
        with self._lock:
            generation = self._generation[:8]
            if generation != self._seen:
                self._seen = generation
                self._resolved.clear()
            found = self._resolved.get(key)
            if found is not None:
                return found
            row = self._db.execute(
                "SELECT v.function, v.version, v.sha256, v.manifest, v.created FROM versions v "
                "LEFT JOIN aliases a ON a.function = v.function AND a.version = v.version AND a.alias = ? "
                "WHERE v.function = ? AND (v.version = ? OR a.alias IS NOT NULL) "
                "ORDER BY (v.version = ?) DESC LIMIT 1",
                (version, function, version, version),
            ).fetchone()
            if row is None:
                return None  # not remembered: unknown names must not grow memory
            found = version_from_row(row)
            if len(self._resolved) >= _RESOLVED_MAX:
                self._resolved.clear()
            self._resolved[key] = found
            return found

    def wasm(self, version: Version) -> bytes:
        """The stored component, verified against its content hash (a damaged blob is an error, never run)."""
        try:
            data = (self.blobs / f"{version.sha256}.wasm").read_bytes()
        except FileNotFoundError:  # a request that resolved just before its version was deleted
            raise RegistryError(f"the stored component of {version.function}/{version.version} is missing "
                                f"(deleted meanwhile, or removed from the data directory)", 404) from None
        if hashlib.sha256(data).hexdigest() != version.sha256:
            raise RegistryError(f"stored component of {version.function}/{version.version} is damaged "
                                f"(its sha256 does not match); deploy it again", 500)
        return data

    async def watch(self) -> None:
        """Nothing to follow: every process sees a commit through `registry.generation` at its next lookup."""

    def unavailable(self) -> str | None:
        """Why the registry cannot answer now (None: it can), for readiness."""
        try:
            with self._lock:
                self._db.execute("SELECT 1 FROM versions LIMIT 1").fetchall()
        except Exception as exc:
            return f"registry not readable: {exc}"
        if not self.blobs.is_dir():
            return f"registry blobs missing: {self.blobs}"
        return None

    def list(self) -> dict[str, dict[str, object]]:
        """Every function with its versions and aliases (one snapshot: both read in one transaction)."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN")
            try:
                versions = cur.execute("SELECT function, version, sha256, manifest, created FROM versions "
                                       "ORDER BY function, seq").fetchall()
                aliases = cur.execute("SELECT function, alias, version FROM aliases ORDER BY function, alias").fetchall()
            finally:
                cur.execute("COMMIT")
        return listing([version_from_row(row) for row in versions], aliases)

    # --------------------------------------------------------------- writes
    def deploy(self, function: str, wasm: bytes, manifest: Manifest) -> Version:
        """Stores a new version (or returns the identical existing one) and points `latest` at it."""
        check_name("function", function)
        sha = hashlib.sha256(wasm).hexdigest()
        self._write_blob(sha, wasm)
        stored = manifest_json(manifest)
        with self._transaction() as cur:
            same = cur.execute(
                "SELECT version FROM versions WHERE function = ? AND sha256 = ? AND manifest = ?",
                (function, sha, stored)).fetchone()
            if same:
                version = str(same[0])
            else:
                seq = int(cur.execute(
                    "SELECT MAX(COALESCE((SELECT MAX(seq) FROM versions WHERE function = ?), 0), "
                    "COALESCE((SELECT seq FROM sequences WHERE function = ?), 0)) + 1",
                    (function, function)).fetchone()[0])  # never reuse a deleted version's name
                version = f"v{seq}"
                cur.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?)",
                            (function, version, seq, sha, stored, time.time()))
                cur.execute("INSERT OR REPLACE INTO sequences VALUES (?, ?)", (function, seq))
            self._write_blob(sha, wasm)  # a concurrent deletion may have removed it since (no row used it)
            cur.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)", (function, LATEST, version))
            row = cur.execute("SELECT function, version, sha256, manifest, created FROM versions "
                              "WHERE function = ? AND version = ?", (function, version)).fetchone()
        return version_from_row(row)  # read in the transaction: a deletion right after the commit cannot lose it

    def _write_blob(self, sha: str, data: bytes) -> None:
        path = self.blobs / f"{sha}.wasm"
        if path.exists():
            return
        fd, tmp = tempfile.mkstemp(dir=self.blobs, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def set_alias(self, function: str, alias: str, version: str) -> None:
        """Points `alias` at an existing version (created or moved)."""
        check_name("function", function)
        check_name("alias", alias)
        with self._transaction() as cur:
            exists = cur.execute("SELECT 1 FROM versions WHERE function = ? AND version = ?",
                                 (function, version)).fetchone()
            if not exists:
                raise self._absent(cur, function, f"{function} has no version {version!r}")
            if re.fullmatch(r"v\d+", alias):
                raise RegistryError(f"alias {alias!r} would shadow a version name", 400)
            cur.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)", (function, alias, version))

    # ------------------------------------------------------------ deletions
    def delete_version(self, function: str, version: str) -> None:
        """Deletes one version (the last one too); refused (409) while an alias points at it."""
        check_name("function", function)
        check_name("version", version)
        with self._transaction() as cur:
            row = cur.execute("SELECT sha256 FROM versions WHERE function = ? AND version = ?",
                              (function, version)).fetchone()
            if row is None:
                raise self._absent(cur, function, f"{function} has no version {version!r}")
            held = [r[0] for r in cur.execute("SELECT alias FROM aliases WHERE function = ? AND version = ? "
                                              "ORDER BY alias", (function, version))]
            if held:
                raise RegistryError(held_message(function, version, held), 409)
            cur.execute("DELETE FROM versions WHERE function = ? AND version = ?", (function, version))
        self._drop_unused_blobs([str(row[0])])

    def delete_alias(self, function: str, alias: str) -> str:
        """Deletes an alias (`latest` too: the next deploy sets it again); returns the version it named."""
        check_name("function", function)
        check_name("alias", alias)
        with self._transaction() as cur:
            row = cur.execute("SELECT version FROM aliases WHERE function = ? AND alias = ?",
                              (function, alias)).fetchone()
            if row is None:
                raise self._absent(cur, function, f"{function} has no alias {alias!r}")
            cur.execute("DELETE FROM aliases WHERE function = ? AND alias = ?", (function, alias))
        return str(row[0])

    def delete_function(self, function: str, force: bool = False) -> Removed:
        """Deletes every version and alias of a function in one transaction; refused (409) while an
        alias other than `latest` exists, unless `force`. Its version numbers are not reused."""
        check_name("function", function)
        with self._transaction() as cur:
            versions = cur.execute("SELECT version, sha256 FROM versions WHERE function = ? ORDER BY seq",
                                   (function,)).fetchall()
            aliases = dict(cur.execute("SELECT alias, version FROM aliases WHERE function = ? ORDER BY alias",
                                       (function,)).fetchall())
            if not versions and not aliases:
                raise RegistryError(f"no function {function!r}", 404)
            named = [a for a in aliases if a != LATEST]
            if named and not force:
                raise RegistryError(named_aliases_message(function, named), 409)
            cur.execute("DELETE FROM aliases WHERE function = ?", (function,))
            cur.execute("DELETE FROM versions WHERE function = ?", (function,))
        self._drop_unused_blobs([str(sha) for _, sha in versions])
        return Removed(function, tuple(str(v) for v, _ in versions), {str(a): str(v) for a, v in aliases.items()})

    @staticmethod
    def _absent(cur: sqlite3.Cursor, function: str, message: str) -> RegistryError:
        """404: the function itself is unknown, or only the named version or alias is."""
        if cur.execute("SELECT 1 FROM versions WHERE function = ? LIMIT 1", (function,)).fetchone() is None:
            return RegistryError(f"no function {function!r}", 404)
        return RegistryError(message, 404)

    def _drop_unused_blobs(self, shas: Iterable[str]) -> None:
        """After a deletion has committed: removes the blobs no version uses now. Under the write lock,
        so a deploy of the same content either committed first (its row keeps the blob) or rewrites it."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for sha in set(shas):
                    if cur.execute("SELECT 1 FROM versions WHERE sha256 = ? LIMIT 1", (sha,)).fetchone() is None:
                        try:
                            (self.blobs / f"{sha}.wasm").unlink(missing_ok=True)
                        except OSError as exc:  # an orphan blob wastes space, nothing more
                            log.warning("registry: could not remove the unused blob %s: %s", sha, exc)
            finally:
                cur.execute("COMMIT")

def _shared_word(path: Path) -> mmap.mmap:
    """Eight bytes of a file, memory-mapped: reading it costs no system call."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size < 8:
            os.ftruncate(fd, 8)
        return mmap.mmap(fd, 8)
    finally:
        os.close(fd)
