"""Hardening of the SQL and key-value hostcalls (issue 10): each test reproduces an attack first.

Grouped by threat: isolation (a guest's SQL stays in its own database, its role cannot reach the
server's files), limits (results, keys and values are bounded), deadlines and faults (no hostcall
outlives the invocation, even when the server stops answering).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from stallproxy import StallProxy

from wasmlet.asgi import Host
from wasmlet.bindings.faas import KvErrorBackend, SqlErrorBackend
from wasmlet.bodies import body_from_bytes as B
from wasmlet.capabilities._context import InvocationContext
from wasmlet.capabilities._packed import unpack_rows
from wasmlet.capabilities._watchdog import Watchdog
from wasmlet.capabilities.backends import BackendConfigError, Backends
from wasmlet.capabilities.kv import KvCalls, RedisKv, SqliteKv
from wasmlet.capabilities.sql import MysqlSql, PostgresSql, SqlBackend, SqlCalls, SqliteSql
from wasmlet.manifest import Limits, Manifest
from wasmlet.registry import MemoryRegistry
from wasmlet.runtime import Runtime

pytestmark = pytest.mark.anyio
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def ctx(seconds: float = 5.0, **limits: int) -> InvocationContext:
    """An invocation with `seconds` left and the given limits."""
    return InvocationContext(function="f", deadline=time.monotonic() + seconds, limits=Limits(**limits))


def sql(backend: SqlBackend, seconds: float = 5.0, **limits: int) -> SqlCalls:
    """A SQL host granted label `db` on `backend`, for one invocation."""
    return SqlCalls(("db",), lambda _: backend, ctx(seconds, **limits))


def error(result: Any) -> str:
    """The message of a typed backend error (fails on anything else)."""
    assert result.tag == "err" and isinstance(result.value, (SqlErrorBackend, KvErrorBackend)), result
    message: str = result.value.value
    return message


def rss_mb() -> float:
    """This process's resident memory in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


# ------------------------------------------------------------------ isolation: SQLite


@pytest.fixture
def guest_db(tmp_path: Path) -> Iterator[SqliteSql]:
    db = SqliteSql(tmp_path / "sql-mine.sqlite3")
    yield db
    db.close()


def test_sqlite_guest_cannot_reach_other_files(guest_db: SqliteSql, tmp_path: Path) -> None:
    other = tmp_path / "sql-other.sqlite3"
    plain = sqlite3.connect(other)
    plain.execute("CREATE TABLE secret (s TEXT)")
    plain.execute("INSERT INTO secret VALUES ('theirs')")
    plain.commit()
    plain.close()
    # the attack works on a plain connection: this is what the authorizer must stop
    attacker = sqlite3.connect(tmp_path / "plain.sqlite3")
    attacker.execute(f"ATTACH DATABASE '{other}' AS o")
    assert attacker.execute("SELECT s FROM o.secret").fetchall() == [("theirs",)]
    attacker.close()

    host = sql(guest_db)
    assert "not authorized: ATTACH or VACUUM INTO is not allowed for function SQL" == \
        error(host.execute("db", f"ATTACH DATABASE '{other}' AS o", []))
    assert "not authorized" in error(host.execute("db", "DETACH DATABASE main", []))
    assert "VACUUM INTO" in error(host.execute("db", f"VACUUM INTO '{tmp_path / 'copy.sqlite3'}'", []))
    assert not (tmp_path / "copy.sqlite3").exists()
    assert "VACUUM is not allowed" in error(host.execute("db", "VACUUM", []))
    for pragma in ("journal_mode=DELETE", "writable_schema=ON", "user_version=7", "temp_store_directory='/tmp'",
                   "mmap_size=1000000", "trusted_schema=ON"):
        assert "not authorized: " in error(host.execute("db", f"PRAGMA {pragma}", [])), pragma
    assert "load_extension" in error(host.query("db", "SELECT load_extension('/lib/x.so')", []))
    assert "readfile" in error(host.query("db", "SELECT readfile('/etc/passwd')", []))  # not even defined
    # what a CRUD service needs still works
    assert host.execute("db", "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)", []).tag == "ok"
    assert host.execute("db", "CREATE INDEX t_name ON t (name)", []).tag == "ok"
    for pragma in ("table_info(t)", "index_list(t)", "index_info(t_name)", "foreign_key_list(t)", "user_version"):
        assert host.query("db", f"PRAGMA {pragma}", []).tag == "ok", pragma
    assert host.query("db", "SELECT name FROM pragma_table_info('t')", []).tag == "ok"
    assert host.execute("db", "CREATE VIRTUAL TABLE docs USING fts5(body)", []).tag == "ok"
    assert host.query("db", "PRAGMA journal_mode", []).tag == "err"  # even reading it: not needed


def test_registry_is_never_a_guest_database(tmp_path: Path) -> None:
    backends = Backends(tmp_path, sql={"evil": {"type": "sqlite", "path": "registry.sqlite3"},
                                       "evil2": {"type": "sqlite", "path": "sub/../registry.sqlite3"}},
                        kv={"evil": {"type": "sqlite", "path": "registry.sqlite3"}})
    for label in ("evil", "evil2"):
        result = SqlCalls((label,), backends.sql, ctx()).query(label, "SELECT 1", [])
        assert "registry" in error(result)
    assert "registry" in error(KvCalls(("evil",), backends.kv, ctx()).get("evil", "k"))
    assert not (tmp_path / "registry.sqlite3").exists()
    with pytest.raises(BackendConfigError):
        Backends(tmp_path, sql={"pg": {"type": "postgres", "url": "postgresql://x@h/d", "allow_superuser": "yes"}})


# ------------------------------------------------------------------ isolation: server roles


def pg_role_url(pg_url: str, role: str) -> str:
    u = urlparse(pg_url)
    return u._replace(netloc=f"{role}@{u.hostname}:{u.port or 5432}").geturl()


def test_postgres_superuser_refused_and_a_plain_role_cannot_run_programs(pg_url: str) -> None:
    import psycopg

    refused = error(sql(PostgresSql(pg_url)).query("db", "SELECT 1", []))
    assert "superuser" in refused and "allow_superuser" in refused
    assert sql(PostgresSql(pg_url, allow_superuser=True)).query("db", "SELECT 1", []).tag == "ok"

    role = f"wasmlet_t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        try:
            db = PostgresSql(pg_role_url(pg_url, role))
            host = sql(db)
            assert host.query("db", "SELECT current_user", []).tag == "ok"
            assert host.execute("db", "CREATE TEMP TABLE loot (line TEXT)", []).tag == "ok"
            for attack in ("COPY loot FROM PROGRAM 'id'", "COPY loot FROM '/etc/passwd'",
                           "COPY (SELECT 1) TO '/tmp/wasmlet-pwned'", "SELECT pg_read_file('/etc/passwd')"):
                message = error(host.execute("db", attack, []))
                assert "permission denied" in message or "privileges" in message or "superuser" in message, message
            assert not Path("/tmp/wasmlet-pwned").exists()
            assert host.execute("db", "DROP TABLE loot", []).tag == "ok"
            db.close()
        finally:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
            for _ in range(50):  # a terminated backend drops its temporary objects as it exits
                try:
                    admin.execute(f"DROP ROLE {role}")
                    break
                except psycopg.errors.DependentObjectsStillExist:
                    time.sleep(0.1)


def test_mariadb_file_privilege_refused_and_no_local_infile(maria_url: str) -> None:
    refused = error(sql(MysqlSql(maria_url)).query("db", "SELECT 1", []))
    assert "privilege" in refused and "allow_superuser" in refused

    root = MysqlSql(maria_url, allow_superuser=True)
    table = f"wasmlet_t_{uuid.uuid4().hex[:8]}"
    user = f"wasmlet_t_{uuid.uuid4().hex[:8]}"
    host = sql(root)
    assert host.execute("db", f"CREATE TABLE {table} (line TEXT)", []).tag == "ok"
    try:
        message = error(host.execute("db", f"LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE {table}", []))
        assert "not allowed" in message or "LOCAL" in message.upper(), message
        assert unpack_rows(host.query("db", f"SELECT count(*) FROM {table}", []).value.packed)[0][0] == 0
        assert host.execute("db", f"CREATE USER '{user}'@'%'", []).tag == "ok"
        assert host.execute("db", f"CREATE USER '{user}'@'localhost'", []).tag == "ok"
        for at in ("%", "localhost"):
            assert host.execute("db", f"GRANT SELECT, INSERT ON {table} TO '{user}'@'{at}'", []).tag == "ok"
        u = urlparse(maria_url)
        plain = MysqlSql(u._replace(netloc=f"{user}@{u.hostname}:{u.port or 3306}").geturl())
        guest = sql(plain)
        assert guest.query("db", f"SELECT count(*) FROM {table}", []).tag == "ok"
        assert "denied" in error(guest.execute("db", f"LOAD DATA INFILE '/etc/passwd' INTO TABLE {table}", []))
        assert unpack_rows(guest.query("db", "SELECT LOAD_FILE('/etc/passwd')", []).value.packed)[0][0] is None
        plain.close()
    finally:
        host = sql(root)
        host.execute("db", f"DROP TABLE IF EXISTS {table}", [])
        host.execute("db", f"DROP USER IF EXISTS '{user}'@'%'", [])
        host.execute("db", f"DROP USER IF EXISTS '{user}'@'localhost'", [])
        root.close()


# ------------------------------------------------------------------ limits


HUGE = {"sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 3000000) "
                  "SELECT x, 'some text' FROM c",
        "postgres": "SELECT x, 'some text' FROM generate_series(1, 3000000) AS x",
        "mariadb": "SELECT seq, 'some text' FROM seq_1_to_3000000"}


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, SqlBackend]]:
    db: SqlBackend
    if request.param == "sqlite":
        db = SqliteSql(tmp_path / "sql-big.sqlite3")
    elif request.param == "postgres":
        db = PostgresSql(request.getfixturevalue("pg_url"), allow_superuser=True)
    else:
        db = MysqlSql(request.getfixturevalue("maria_url"), allow_superuser=True)
    yield request.param, db
    db.close()  # type: ignore[attr-defined]


def test_query_results_stop_at_the_limits_and_memory_stays_flat(any_db: tuple[str, SqlBackend]) -> None:
    kind, db = any_db
    assert sql(db).query("db", "SELECT 1", []).tag == "ok"  # connected and imported before measuring
    before = rss_mb()
    started = time.monotonic()
    assert error(sql(db).query("db", HUGE[kind], [])) == "query result over the limit of 10000 rows"
    assert time.monotonic() - started < 3
    assert error(sql(db, max_sql_bytes=100_000).query("db", HUGE[kind], [])) == \
        "query result over the limit of 100000 bytes"
    assert sql(db, max_sql_rows=3).query("db", "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3", []).tag == "ok"
    assert "3 rows" in error(sql(db, max_sql_rows=3).query(
        "db", "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4", []))
    assert rss_mb() - before < 50
    assert sql(db).query("db", "SELECT 1", []).tag == "ok"  # the connection is usable (or replaced)


def test_kv_limits(tmp_path: Path) -> None:
    from wasmlet.bindings.faas import BodyOctets

    host0 = KvCalls(("s",), lambda _: SqliteKv(tmp_path / "kv-octets.sqlite3"), ctx())
    assert "above U+00FF" in error(host0.set("s", "k", BodyOctets("\u0100")))  # octets are bytes, one per char
    assert host0.set("s", "k", BodyOctets("\u00ff\x00")).tag == "ok"
    assert host0.get("s", "k").value == BodyOctets("\u00ff\x00")  # type: ignore[union-attr]
    store = SqliteKv(tmp_path / "kv-limits.sqlite3")
    host = KvCalls(("s",), lambda _: store, ctx(max_kv_key_bytes=8, max_kv_value_bytes=16, max_kv_keys=3))
    assert "key of 9 bytes is over the limit of 8 bytes" == error(host.set("s", "k" * 9, B(b"v")))
    assert "over the limit of 8 bytes" in error(host.set("s", "é" * 5, B(b"v")))  # bytes, not characters
    assert "value of 17 bytes is over the limit of 16 bytes" == error(host.set("s", "k", B(b"v" * 17)))
    assert store.get("k" * 9) is None and store.get("k") is None
    for i in range(4):
        assert host.set("s", f"k{i}", B(b"v" * 16)).tag == "ok"
    assert "over the limit of 3 keys" in error(host.keys("s", "k"))
    assert host.keys("s", "k1").value == ["k1"]


def test_redis_kv_limits(redis_url: str) -> None:
    store = RedisKv(redis_url, f"t{uuid.uuid4().hex[:8]}")
    host = KvCalls(("s",), lambda _: store, ctx(max_kv_keys=3, max_kv_value_bytes=16))
    try:
        assert "over the limit" in error(host.set("s", "k", B(b"v" * 17)))
        for i in range(4):
            assert host.set("s", f"k{i}", B(b"v")).tag == "ok"
        assert "over the limit of 3 keys" in error(host.keys("s", ""))
    finally:
        for i in range(4):
            store.delete(f"k{i}")


# ------------------------------------------------------------------ deadlines


def test_sqlite_endless_query_stops_at_the_deadline(guest_db: SqliteSql) -> None:
    started = time.monotonic()
    message = error(sql(guest_db, 1.0).query("db", ENDLESS, []))
    assert "deadline" in message
    assert 0.9 < time.monotonic() - started < 1.5
    assert sql(guest_db).query("db", "SELECT 1", []).tag == "ok"  # same thread, same connection: free again
    # and the busy timeout never outlasts the deadline
    holder = sqlite3.connect(guest_db.path, isolation_level=None)
    holder.execute("CREATE TABLE IF NOT EXISTS w (a)")
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert sql(guest_db, 0.5).execute("db", "INSERT INTO w VALUES (1)", []).tag == "err"
        assert time.monotonic() - started < 1.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_past_deadline_never_starts(guest_db: SqliteSql) -> None:
    host = SqlCalls(("db",), lambda _: guest_db, ctx(-1))
    assert "deadline" in error(host.execute("db", "CREATE TABLE never (a)", []))
    assert unpack_rows(sql(guest_db).query("db", "SELECT name FROM sqlite_master WHERE name = 'never'", []).value.packed) == []


def test_server_timeouts_stop_slow_statements(any_db: tuple[str, SqlBackend]) -> None:
    kind, db = any_db
    slow = {"sqlite": ENDLESS, "postgres": "SELECT pg_sleep(30)", "mariadb": "SELECT SLEEP(30)"}[kind]
    started = time.monotonic()
    assert "deadline" in error(sql(db, 1.0).query("db", slow, []))
    assert time.monotonic() - started < 1.6
    assert unpack_rows(sql(db).query("db", "SELECT 1", []).value.packed)[0][0] == 1
    if kind == "mariadb":  # the guest cannot lift the host's timeout for its statement
        assert "not authorized" in error(sql(db).query(
            "db", "SET STATEMENT max_statement_time=0 FOR SELECT SLEEP(30)", []))
    if kind == "postgres":  # nor across statements, nor inside one
        assert sql(db).execute("db", "SET statement_timeout = 0", []).tag == "ok"
        started = time.monotonic()
        assert "deadline" in error(sql(db, 1.0).query(
            "db", "SELECT set_config('statement_timeout', '0', false), pg_sleep(30)", []))
        assert time.monotonic() - started < 1.6


def test_postgres_timeout_inside_a_guest_transaction_leaves_no_aborted_transaction(pg_url: str) -> None:
    db = PostgresSql(pg_url, allow_superuser=True)
    assert sql(db).execute("db", "BEGIN", []).tag == "ok"
    assert "deadline" in error(sql(db, 0.5).query("db", "SELECT pg_sleep(30)", []))
    assert sql(db).query("db", "SELECT 1", []).tag == "ok"  # not "current transaction is aborted"
    db.close()


def test_postgres_one_statement_per_call(pg_url: str) -> None:
    db = PostgresSql(pg_url, allow_superuser=True)
    message = error(sql(db).execute("db", "SET statement_timeout = 0; SELECT pg_sleep(30)", []))
    assert "multiple commands" in message or "cannot insert" in message, message
    db.close()


# ------------------------------------------------------------------ faults: a server that stops answering


def proxied(url: str, proxy: StallProxy) -> str:
    u = urlparse(url)
    user = f"{u.username}@" if u.username else ""
    return u._replace(netloc=f"{user}127.0.0.1:{proxy.port}").geturl()


def stalled_call(proxy: StallProxy, call: Any) -> None:
    """Stalls the proxy, checks `call(seconds)` fails with a deadline error in time, then that it recovers."""
    assert call(5.0).tag == "ok"  # connected through the proxy
    proxy.stall()
    started = time.monotonic()
    result = call(1.0)
    elapsed = time.monotonic() - started
    assert "deadline" in error(result)
    assert elapsed < 2.0, elapsed
    proxy.resume()
    assert call(5.0).tag == "ok"


@pytest.mark.parametrize("kind", ["postgres", "mariadb"])
def test_stalled_sql_server_gives_a_deadline_error(kind: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url" if kind == "postgres" else "maria_url")
    u = urlparse(url)
    with StallProxy(u.hostname or "127.0.0.1", u.port or (5432 if kind == "postgres" else 3306)) as proxy:
        db: SqlBackend = (PostgresSql if kind == "postgres" else MysqlSql)(proxied(url, proxy), True)
        stalled_call(proxy, lambda seconds: sql(db, seconds).query("db", "SELECT 1", []))
        db.close()  # type: ignore[attr-defined]


def test_stalled_redis_gives_a_deadline_error(redis_url: str) -> None:
    u = urlparse(redis_url)
    with StallProxy(u.hostname or "127.0.0.1", u.port or 6379) as proxy:
        store = RedisKv(proxied(redis_url, proxy), f"t{uuid.uuid4().hex[:8]}")
        stalled_call(proxy, lambda seconds: KvCalls(("s",), lambda _: store, ctx(seconds)).get("s", "k"))


def test_watchdog_fires_cancels_and_stops() -> None:
    dog = Watchdog()
    fired: list[str] = []
    dog.schedule(time.monotonic() + 0.05, lambda: fired.append("late"))
    cancelled = dog.schedule(time.monotonic() + 0.05, lambda: fired.append("cancelled"))
    assert dog.cancel(cancelled) is False
    for _ in range(200):  # many cancelled alarms are compacted away
        dog.cancel(dog.schedule(time.monotonic() + 60, lambda: None))
    time.sleep(0.2)
    assert fired == ["late"] and dog.pending() == 0
    a, b = __import__("socket").socketpair()
    with dog.guard(time.monotonic() + 0.1, a.fileno()) as alarm:
        started = time.monotonic()
        assert a.recv(1) == b""  # a blocked read returns at the deadline
    assert alarm.fired and 0.05 < time.monotonic() - started < 1
    a.close()
    b.close()
    dog.close()
    assert not any(t.name == "wasmlet-watchdog" and t.is_alive() and t is dog._thread for t in threading.enumerate())


# ------------------------------------------------------------------ through a real guest


async def test_python_guest_is_confined_and_bounded(runtime: Runtime, probe_wasm: dict[str, Path],
                                                    tmp_path: Path) -> None:
    registry = MemoryRegistry()
    manifest = Manifest.from_toml('[sql]\ndatabases = ["default"]\n[limits]\ntimeout_ms = 1500\n')
    registry.put("pyprobe", probe_wasm["python"].read_bytes(), manifest)
    backends = Backends(tmp_path, sql={"other": {"type": "sqlite"}})
    other = SqlCalls(("other",), backends.sql, ctx())
    assert other.execute("other", "CREATE TABLE secret (s TEXT)", []).tag == "ok"
    host = Host(runtime, registry, backends=backends)
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as c:
        attach = await c.post("/pyprobe/latest/sql", json={
            "db": "default", "statement": f"ATTACH DATABASE '{tmp_path / 'sql-other.sqlite3'}' AS o"})
        assert attach.status_code == 502 and "not authorized: ATTACH" in attach.text, attach.text
        started = time.monotonic()
        endless = await c.post("/pyprobe/latest/sql", json={"db": "default", "statement": ENDLESS, "query": True})
        assert time.monotonic() - started < 3.0
        assert endless.status_code in (502, 504), endless.text
        assert (await c.post("/pyprobe/latest/sql", json={"db": "default", "statement": "SELECT 1",
                                                          "query": True})).status_code == 200


def test_guest_cannot_set_busy_timeout_or_allocate_gigabytes(tmp_path: Path) -> None:
    """Red-team findings: `PRAGMA busy_timeout=600000` outlived every deadline on that thread's
    connection, and `hex(zeroblob(499000000))` took the host to 3.4 GB past the deadline."""
    import resource

    from wasmlet.capabilities.sql import SqliteSql

    db = SqliteSql(tmp_path / "db.sqlite3")
    ctx = InvocationContext("f", deadline=time.monotonic() + 5, limits=Limits(max_sql_bytes=1 << 20))
    with pytest.raises(Exception, match="not authorized: setting PRAGMA busy_timeout|not authorized: PRAGMA busy"):
        db.execute("PRAGMA busy_timeout = 600000", [], ctx)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for statement in ("SELECT length(hex(zeroblob(499000000)))", "SELECT length(randomblob(400000000))"):
        with pytest.raises(Exception, match="too big"):
            db.query(statement, [], ctx)
    assert db.query("SELECT length(printf('%.*c', 400000000, 'x'))", [], ctx)[1] == "[[null]]"  # SQLite caps it
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) < 100 * 1024
    assert db.query("SELECT length(zeroblob(1000))", [], ctx)[1] == "[[1000]]"
