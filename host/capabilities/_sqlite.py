"""A SQLite file opened once per thread (connections must not cross threads), in WAL mode."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class SqliteFile:
    """Gives each worker thread its own autocommit connection to one file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return db
