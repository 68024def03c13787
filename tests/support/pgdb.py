"""A PostgreSQL database of one's own, for tests and benchmarks that share a server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def new_pg_database(server_url: str, prefix: str = "wasmlet_test") -> Iterator[str]:
    """Creates a uniquely named database on the server `server_url` points at; yields its URL (a
    conninfo string) and drops it afterwards, whatever still uses it."""
    import psycopg
    from psycopg import conninfo

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield conninfo.make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
