"""Functions, versions and aliases.

`SqliteRegistry` keeps metadata in SQLite and components as content-addressed
blob files under the data directory. A deploy writes the blob (temp file,
fsync, rename) before the metadata transaction commits, so a process killed
mid-deploy leaves the old state or the new one, never half a version.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .manifest import Manifest
from .names import check_function_name

_RESOLVED_MAX = 10_000
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LATEST = "latest"


class RegistryError(Exception):
    """A registry operation was refused; `status` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Version:
    """One deployed version of a function."""

    function: str
    version: str
    sha256: str
    manifest: Manifest
    created: float


class FunctionSource(Protocol):
    """Where the HTTP host looks functions up."""

    def resolve(self, function: str, version: str) -> Version | None: ...

    def wasm(self, version: Version) -> bytes: ...


def check_name(kind: str, name: str) -> None:
    """Function names follow `names.FUNCTION_NAME`; versions and aliases `NAME_RE`."""
    if kind == "function":
        try:
            check_function_name(name)
        except ValueError as exc:
            raise RegistryError(str(exc), 400) from None
    elif not NAME_RE.match(name):
        raise RegistryError(f"invalid {kind} name {name!r}: use a-z, 0-9, '-' and '_' (max 63)", 400)


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
            found = _version(row)
            if len(self._resolved) >= _RESOLVED_MAX:
                self._resolved.clear()
            self._resolved[key] = found
            return found

    def wasm(self, version: Version) -> bytes:
        """The stored component, verified against its content hash (a damaged blob is an error, never run)."""
        data = (self.blobs / f"{version.sha256}.wasm").read_bytes()
        if hashlib.sha256(data).hexdigest() != version.sha256:
            raise RegistryError(f"stored component of {version.function}/{version.version} is damaged "
                                f"(its sha256 does not match); deploy it again", 500)
        return data

    def list(self) -> dict[str, dict[str, object]]:
        """Every function with its versions and aliases."""
        with self._lock:
            versions = self._db.execute(
                "SELECT function, version, sha256, manifest, created FROM versions ORDER BY function, seq").fetchall()
            aliases = self._db.execute("SELECT function, alias, version FROM aliases ORDER BY function, alias").fetchall()
        out: dict[str, dict[str, object]] = {}
        for row in versions:
            v = _version(row)
            entry = out.setdefault(v.function, {"versions": [], "aliases": {}})
            entry["versions"].append({"version": v.version, "sha256": v.sha256, "created": v.created,  # type: ignore[attr-defined]
                                      "manifest": v.manifest.to_dict()})
        for function, alias, version in aliases:
            out.setdefault(function, {"versions": [], "aliases": {}})["aliases"][alias] = version  # type: ignore[index]
        return out

    # --------------------------------------------------------------- writes
    def deploy(self, function: str, wasm: bytes, manifest: Manifest) -> Version:
        """Stores a new version (or returns the identical existing one) and points `latest` at it."""
        check_name("function", function)
        sha = hashlib.sha256(wasm).hexdigest()
        self._write_blob(sha, wasm)
        manifest_json = json.dumps(manifest.to_dict(), sort_keys=True)
        with self._transaction() as cur:
            same = cur.execute(
                "SELECT version FROM versions WHERE function = ? AND sha256 = ? AND manifest = ?",
                (function, sha, manifest_json)).fetchone()
            if same:
                version = str(same[0])
            else:
                seq = int(cur.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE function = ?",
                                      (function,)).fetchone()[0])
                version = f"v{seq}"
                cur.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?)",
                            (function, version, seq, sha, manifest_json, time.time()))
            cur.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)", (function, LATEST, version))
        result = self.resolve(function, version)
        assert result is not None
        return result

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
        check_name("alias", alias)
        with self._transaction() as cur:
            exists = cur.execute("SELECT 1 FROM versions WHERE function = ? AND version = ?",
                                 (function, version)).fetchone()
            if not exists:
                raise RegistryError(f"{function} has no version {version!r}", 404)
            if re.fullmatch(r"v\d+", alias):
                raise RegistryError(f"alias {alias!r} would shadow a version name", 400)
            cur.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)", (function, alias, version))

    def delete_version(self, function: str, version: str) -> None:
        with self._transaction() as cur:
            if not cur.execute("SELECT 1 FROM versions WHERE function = ? AND version = ?",
                               (function, version)).fetchone():
                raise RegistryError(f"{function} has no version {version!r}", 404)
            held = [r[0] for r in cur.execute("SELECT alias FROM aliases WHERE function = ? AND version = ?",
                                              (function, version))]
            if held:
                raise RegistryError(
                    f"{function}/{version} is still aliased as {', '.join(held)}; move the alias first", 409)
            cur.execute("DELETE FROM versions WHERE function = ? AND version = ?", (function, version))


def _shared_word(path: Path) -> mmap.mmap:
    """Eight bytes of a file, memory-mapped: reading it costs no system call."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size < 8:
            os.ftruncate(fd, 8)
        return mmap.mmap(fd, 8)
    finally:
        os.close(fd)


def _version(row: tuple[object, ...]) -> Version:
    function, version, sha, manifest, created = row
    return Version(str(function), str(version), str(sha), Manifest.from_dict(json.loads(str(manifest))),
                   float(created))  # type: ignore[arg-type]


class MemoryRegistry:
    """The dev server's registry: each function is one file, version `dev`, aliased `latest`."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Version, bytes]] = {}

    def put(self, function: str, wasm: bytes, manifest: Manifest | None = None) -> Version:
        v = Version(function, "dev", hashlib.sha256(wasm).hexdigest(), manifest or Manifest(), time.time())
        self._entries[function] = (v, wasm)
        return v

    def resolve(self, function: str, version: str) -> Version | None:
        entry = self._entries.get(function)
        if entry is None or version not in ("dev", LATEST):
            return None
        return entry[0]

    def wasm(self, version: Version) -> bytes:
        return self._entries[version.function][1]
