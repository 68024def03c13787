"""Capabilities: manifest grants, every hostcall on every backend, denied paths that
touch nothing, outbound HTTP allow-lists, module calls, and the sandbox."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import free_port

from wasmlet.asgi import Host
from wasmlet.bindings.faas import (
    BodyText,
    OutboundHttpErrorDenied,
    OutgoingRequest,
    Request,
    ValueBlob,
    ValueInteger,
    ValueNull,
    ValueReal,
    ValueText,
)
from wasmlet.capabilities import InvocationContext
from wasmlet.capabilities._packed import unpack_rows
from wasmlet.capabilities.backends import Backends
from wasmlet.capabilities.kv import KvBackend, RedisKv, SqliteKv
from wasmlet.capabilities.outbound_http import OutboundHttpCalls, OutboundPools
from wasmlet.capabilities.sql import MysqlSql, PostgresSql, SqlBackend, SqlCalls, SqliteSql, qmark_to_format
from wasmlet.manifest import Limits, Manifest, ManifestError, OriginPattern
from wasmlet.registry import MemoryRegistry
from wasmlet.runtime import Runtime

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ------------------------------------------------------------------ manifest

def test_manifest_grants_and_validation() -> None:
    m = Manifest.from_toml("""
[config]
database = "pg"
env = ["HOME"]
[kv]
stores = ["default", "cache"]
[sql]
databases = ["pg"]
[outbound_http]
allowed_hosts = ["https://api.example.com", "http://127.0.0.1:*", "https://*.example.org"]
[modules]
allowed = ["hello", "orders/v2"]
[limits]
timeout_ms = 500
""")
    g = m.grants
    assert dict(g.config) == {"database": "pg"} and g.env == ("HOME",)
    assert g.kv == ("default", "cache") and g.sql == ("pg",) and g.modules == ("hello", "orders/v2")
    assert m.timeout_ms == 500 and Manifest.from_dict(m.to_dict()) == m
    assert Manifest().grants.kv == ()  # deny by default
    for bad, fragment in [
        ("[config]\nport = 80\n", "config.port"),
        ("[kv]\nstores = \"default\"\n", "kv.stores"),
        ("[outbound_http]\nallowed_hosts = [\"ftp://x\"]\n", "allowed_hosts"),
        ("[outbound_http]\nallowed_hosts = [\"https://x.com/path\"]\n", "no path"),
        ("[network]\nall = true\n", "unknown manifest section"),
    ]:
        with pytest.raises(ManifestError, match=fragment):
            Manifest.from_toml(bad)


def test_origin_patterns() -> None:
    p = OriginPattern.parse("https://*.example.com")
    assert p.matches("https", "api.example.com", 443) and not p.matches("https", "example.com", 443)
    assert not p.matches("http", "api.example.com", 80)
    any_port = OriginPattern.parse("http://127.0.0.1:*")
    assert any_port.matches("http", "127.0.0.1", 8080) and not any_port.matches("http", "localhost", 8080)
    assert OriginPattern.parse("https://api.example.com").port == 443


def test_qmark_placeholders_leave_quoted_text_alone() -> None:
    assert qmark_to_format("SELECT '?', \"a?\", ? WHERE x LIKE '5%' AND y = ?") == \
        "SELECT '?', \"a?\", %s WHERE x LIKE '5%%' AND y = %s"


# ------------------------------------------------------------------ backends

@pytest.fixture(params=["sqlite", "redis"])
def kv_backend(request: pytest.FixtureRequest, tmp_path: Path) -> KvBackend:
    if request.param == "sqlite":
        return SqliteKv(tmp_path / "kv.sqlite3")
    url = request.getfixturevalue("redis_url")
    return RedisKv(url, f"test-{uuid.uuid4().hex[:8]}")


def test_kv_backend(kv_backend: KvBackend) -> None:
    assert kv_backend.get("a") is None
    kv_backend.set("a", b"\x00\xff one")
    kv_backend.set("a", b"two")
    for key in ("user:1", "user:2", "user_3", "user%4", "other"):
        kv_backend.set(key, key.encode())
    assert kv_backend.get("a") == b"two"
    assert kv_backend.keys("user:") == ["user:1", "user:2"]
    assert kv_backend.keys("user_") == ["user_3"]  # '_' and '%' are not wildcards
    assert kv_backend.keys("user%") == ["user%4"]
    kv_backend.set("User:9", b"upper")
    assert kv_backend.keys("User") == ["User:9"]  # byte for byte on every backend: no case folding
    assert kv_backend.keys("USER") == []
    kv_backend.delete("User:9")
    kv_backend.delete("a")
    kv_backend.delete("never-there")
    assert kv_backend.get("a") is None


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlBackend]:
    if request.param == "sqlite":
        yield SqliteSql(tmp_path / "db.sqlite3")
        return
    if request.param == "postgres":
        db: SqlBackend = PostgresSql(request.getfixturevalue("pg_url"), allow_superuser=True)
    else:
        db = MysqlSql(request.getfixturevalue("maria_url"), allow_superuser=True)
    yield db
    db.execute("DROP TABLE IF EXISTS wasmlet_caps_test", [])


BLOB = {"sqlite": "BLOB", "postgres": "BYTEA", "mariadb": "BLOB"}


def test_sql_backend_typed_round_trip(sql_backend: SqlBackend, request: pytest.FixtureRequest) -> None:
    kind = request.node.callspec.params["sql_backend"]
    host = SqlCalls(("db",), lambda label: sql_backend)
    assert host.execute("db", "DROP TABLE IF EXISTS wasmlet_caps_test", []).tag == "ok"
    created = host.execute("db", f"CREATE TABLE wasmlet_caps_test (id BIGINT, r DOUBLE PRECISION, t VARCHAR(100), "
                                 f"b {BLOB[kind]}, n INTEGER)", [])
    assert created.tag == "ok", created
    ins = host.execute("db", "INSERT INTO wasmlet_caps_test VALUES (?, ?, ?, ?, ?)",
                       [ValueInteger(2**40), ValueReal(1.5), ValueText("what? 100% ünïcode"), ValueBlob("\x00\xff"),
                        ValueNull()])
    assert ins.tag == "ok" and ins.value == 1
    rows = host.query("db", "SELECT id, r, t, b, n FROM wasmlet_caps_test WHERE t = ? AND '?' = '?'",
                      [ValueText("what? 100% ünïcode")])
    assert rows.tag == "ok"
    assert rows.value.columns == ["id", "r", "t", "b", "n"]
    assert unpack_rows(rows.value.packed) == [[2**40, 1.5, "what? 100% ünïcode", b"\x00\xff", None]]
    bad = host.query("db", "SELECT nope FROM wasmlet_caps_test", [])
    assert bad.tag == "err" and bad.value.tag == "backend" and "nope" in bad.value.value


def test_backend_errors_do_not_leak_credentials(tmp_path: Path) -> None:
    backends = Backends(tmp_path, sql={"pg": {"type": "postgres",
                                              "url": "postgresql://bob:hunter2@127.0.0.1:1/test"}})
    result = SqlCalls(("pg",), backends.sql).query("pg", "SELECT 1", [])
    assert result.tag == "err" and result.value.tag == "backend"
    assert "hunter2" not in result.value.value


# ------------------------------------------------------------ through guests

def make_host(runtime: Runtime, probe_wasm: dict[str, Path], backends: Backends, manifest: str) -> Host:
    registry = MemoryRegistry()
    m = Manifest.from_toml(manifest)
    registry.put("probe", probe_wasm["rust"].read_bytes(), m)
    registry.put("pyprobe", probe_wasm["python"].read_bytes(), m)
    return Host(runtime, registry, backends=backends)


def client(host: Host) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://t", timeout=60)


def kv_rows(path: Path) -> list[tuple[str, bytes]]:
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        return [(k, bytes(v)) for k, v in db.execute("SELECT key, value FROM kv")]
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


@pytest.mark.parametrize("fn", ["probe", "pyprobe"])
async def test_guest_config_and_kv_hostcalls(runtime: Runtime, probe_wasm: dict[str, Path], tmp_path: Path,
                                             fn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_FN_SECRET", "from-env")
    monkeypatch.setenv("TEST_FN_HIDDEN", "hidden")
    host = make_host(runtime, probe_wasm, Backends(tmp_path),
                     '[config]\ngreeting = "hi"\nenv = ["TEST_FN_SECRET"]\n[kv]\nstores = ["default"]\n')
    async with client(host) as c:
        assert (await c.get(f"/{fn}/latest/config?key=greeting")).text in ("Some(\"hi\")", "'hi'")
        assert "from-env" in (await c.get(f"/{fn}/latest/config?key=TEST_FN_SECRET")).text
        hidden = await c.get(f"/{fn}/latest/config?key=TEST_FN_HIDDEN")
        assert hidden.status_code == 403 and "denied" in hidden.text
        assert (await c.get(f"/{fn}/latest/kv?op=set&key=k1&value=v1")).text == "ok"
        assert "v1" in (await c.get(f"/{fn}/latest/kv?op=get&key=k1")).text
        assert "k1" in (await c.get(f"/{fn}/latest/kv?op=keys&prefix=k")).text
        assert kv_rows(tmp_path / "kv-default.sqlite3") == [("k1", b"v1")]
        assert (await c.get(f"/{fn}/latest/kv?op=delete&key=k1")).text == "ok"
        assert kv_rows(tmp_path / "kv-default.sqlite3") == []


@pytest.mark.parametrize("fn", ["probe", "pyprobe"])
async def test_guest_kv_on_redis(runtime: Runtime, probe_wasm: dict[str, Path], tmp_path: Path, fn: str,
                                 redis_url: str) -> None:
    import redis

    label = f"r{uuid.uuid4().hex[:8]}"
    backends = Backends(tmp_path, kv={label: {"type": "redis", "url": redis_url}})
    host = make_host(runtime, probe_wasm, backends, f'[kv]\nstores = ["{label}"]\n')
    server = redis.Redis.from_url(redis_url)
    async with client(host) as c:
        assert (await c.get(f"/{fn}/latest/kv?op=set&store={label}&key=a&value=1")).text == "ok"
        assert server.get(f"wasmlet:{label}:a") == b"1"
        assert "1" in (await c.get(f"/{fn}/latest/kv?op=get&store={label}&key=a")).text
        keys = await c.get(f"/{fn}/latest/kv?op=keys&store={label}&prefix=")
        assert keys.status_code == 200 and keys.text in ('["a"]', "[\"a\"]")
        assert (await c.get(f"/{fn}/latest/kv?op=delete&store={label}&key=a")).text == "ok"
        assert server.get(f"wasmlet:{label}:a") is None
        assert not (tmp_path / "kv-default.sqlite3").exists()


@pytest.mark.parametrize("fn", ["probe", "pyprobe"])
async def test_denied_hostcalls_touch_nothing(runtime: Runtime, probe_wasm: dict[str, Path], tmp_path: Path,
                                              fn: str) -> None:
    """Needs no service: runs everywhere (the Redis variant below adds a configured remote store)."""
    host = make_host(runtime, probe_wasm, Backends(tmp_path), "")  # no grants at all
    async with client(host) as c:
        for path in ("kv?op=set&key=k&value=v", "config?key=HOME", "call?module=probe&path=/hello",
                     "http?url=http://127.0.0.1:9/x"):
            resp = await c.get(f"/{fn}/latest/{path}")
            assert resp.status_code == 403 and "denied" in resp.text, (path, resp.text)
    assert not (tmp_path / "kv-default.sqlite3").exists()


@pytest.mark.parametrize("fn", ["probe", "pyprobe"])
async def test_denied_hostcalls_never_reach_a_configured_redis(runtime: Runtime, probe_wasm: dict[str, Path],
                                                               tmp_path: Path, fn: str, redis_url: str) -> None:
    import redis

    label = f"cache{uuid.uuid4().hex[:6]}"
    backends = Backends(tmp_path, kv={label: {"type": "redis", "url": redis_url}})
    host = make_host(runtime, probe_wasm, backends, "")
    async with client(host) as c:
        resp = await c.get(f"/{fn}/latest/kv?op=set&store={label}&key=k&value=v")
        assert resp.status_code == 403 and "denied" in resp.text
    assert redis.Redis.from_url(redis_url).get(f"wasmlet:{label}:k") is None


async def test_python_guest_sql_on_every_backend_and_denied(runtime: Runtime, probe_wasm: dict[str, Path],
                                                           tmp_path: Path, pg_url: str, maria_url: str) -> None:
    import psycopg

    backends = Backends(tmp_path, sql={"pg": {"type": "postgres", "url": pg_url, "allow_superuser": True},
                                       "maria": {"type": "mysql", "url": maria_url, "allow_superuser": True}})
    host = make_host(runtime, probe_wasm, backends, '[sql]\ndatabases = ["default", "pg", "maria"]\n')
    async with client(host) as c:
        for db in ("default", "pg", "maria"):
            for statement, query in [("DROP TABLE IF EXISTS wasmlet_probe", False),
                                     ("CREATE TABLE wasmlet_probe (a INTEGER, b VARCHAR(20))", False),
                                     ("INSERT INTO wasmlet_probe VALUES (1, 'x'), (2, NULL)", False)]:
                resp = await c.post("/pyprobe/latest/sql", json={"db": db, "statement": statement, "query": query})
                assert resp.status_code == 200, resp.text
            rows = await c.post("/pyprobe/latest/sql", json={"db": db, "query": True, "params": [1],
                                                             "statement": "SELECT a, b FROM wasmlet_probe WHERE a >= ?"})
            assert rows.json() == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    denied_host = make_host(runtime, probe_wasm, backends, '[sql]\ndatabases = ["default"]\n')
    async with client(denied_host) as c:
        resp = await c.post("/pyprobe/latest/sql", json={"db": "pg", "statement": "CREATE TABLE wasmlet_denied (a INT)"})
        assert resp.status_code == 403
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('wasmlet_denied')").fetchone() == (None,)
        conn.execute("DROP TABLE IF EXISTS wasmlet_probe")
    backends.sql("maria").execute("DROP TABLE IF EXISTS wasmlet_probe", [])


async def test_module_calls_and_the_depth_limit(runtime: Runtime, probe_wasm: dict[str, Path],
                                                tmp_path: Path) -> None:
    host = make_host(runtime, probe_wasm, Backends(tmp_path), '[modules]\nallowed = ["probe", "pyprobe", "nope"]\n')
    async with client(host) as c:
        assert (await c.get("/pyprobe/latest/call?module=probe&path=/hello")).text == "200 hello from rust"
        assert (await c.get("/probe/latest/call?module=pyprobe/dev&path=/hello")).text == "200 hello from python"
        missing = await c.get("/probe/latest/call?module=nope&path=/hello")
        assert missing.status_code == 502 and "not found" in missing.text
        for fn in ("probe", "pyprobe"):
            loop = await c.get(f"/{fn}/latest/recurse")
            assert loop.status_code == 508 and "depth limit (8)" in loop.text


async def test_the_depth_limit_is_eight_calls(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    """Seven nested calls succeed and the eighth is refused: the limit is 8, not any number."""
    from wasmlet.bindings.faas import ModulesErrorFailed, Response
    from wasmlet.capabilities.modules import MAX_DEPTH, ModulesCalls

    class Echo:
        def call_module(self, name: str, version: str, request: Request, parent: InvocationContext) -> Response:
            return Response(200, [], BodyText(f"depth {parent.depth + 1}"))

    req = Request("GET", "/", "", [], BodyText(""), "")
    assert MAX_DEPTH == 8
    for depth in range(MAX_DEPTH - 1):
        result = ModulesCalls(("f",), Echo(), InvocationContext("f", depth=depth)).call("f", req)
        assert result.tag == "ok", depth  # type: ignore[attr-defined]
    refused = ModulesCalls(("f",), Echo(), InvocationContext("f", depth=MAX_DEPTH - 1)).call("f", req)
    assert refused.tag == "err" and isinstance(refused.value, ModulesErrorFailed)  # type: ignore[attr-defined]


async def test_a_version_pinned_module_grant_allows_that_version_only(runtime: Runtime,
                                                                      probe_wasm: dict[str, Path]) -> None:
    host = make_host(runtime, probe_wasm, Backends(Path("/nonexistent")), '[modules]\nallowed = ["probe/dev"]\n')
    async with client(host) as c:
        assert (await c.get("/pyprobe/latest/call?module=probe/dev&path=/hello")).text == "200 hello from rust"
        for other in ("probe", "probe/latest", "probe/v2"):
            denied = await c.get(f"/pyprobe/latest/call?module={other}&path=/hello")
            assert denied.status_code == 403 and "denied" in denied.text, other


# ------------------------------------------------------------ outbound HTTP



def test_outbound_allow_list_on_every_hop(upstream: int) -> None:
    pools = OutboundPools()
    ctx = InvocationContext("f", limits=Limits(max_outbound_response_bytes=1024 * 1024))
    host = OutboundHttpCalls(OutboundHttpCalls.parse([f"http://127.0.0.1:{upstream}"]), pools, ctx)

    def get(url: str) -> object:
        return host.send(OutgoingRequest("GET", url, [], BodyText("")))

    ok = get(f"http://127.0.0.1:{upstream}/ok")
    assert ok.tag == "ok" and ok.value.body == BodyText("upstream ok GET")  # type: ignore[attr-defined]
    other_port = free_port()
    for url in (f"http://127.0.0.1:{other_port}/ok",        # another port
                f"http://localhost:{upstream}/ok",          # another host name
                f"https://127.0.0.1:{upstream}/ok",         # another scheme
                "file:///etc/passwd"):
        result = get(url)
        assert result.tag == "err" and isinstance(result.value, OutboundHttpErrorDenied), url  # type: ignore[attr-defined]
    followed = get(f"http://127.0.0.1:{upstream}/redirect?to=/ok")
    assert followed.tag == "ok" and followed.value.status == 200  # type: ignore[attr-defined]
    escape = get(f"http://127.0.0.1:{upstream}/redirect?to=http://localhost:{upstream}/ok")
    assert escape.tag == "err" and isinstance(escape.value, OutboundHttpErrorDenied)  # type: ignore[attr-defined]
    too_big = get(f"http://127.0.0.1:{upstream}/big")
    assert too_big.tag == "err" and "larger than" in too_big.value.value  # type: ignore[attr-defined]
    by_name = OutboundHttpCalls(OutboundHttpCalls.parse([f"http://localhost:{upstream}"]), pools, ctx)
    literal = by_name.send(OutgoingRequest("GET", f"http://127.0.0.1:{upstream}/ok", [], BodyText("")))
    assert literal.tag == "err" and isinstance(literal.value, OutboundHttpErrorDenied)  # IP literal for a name
    assert by_name.send(OutgoingRequest("GET", f"http://localhost:{upstream}/ok", [], BodyText(""))).tag == "ok"
    pools.close()


@pytest.mark.parametrize("fn", ["probe", "pyprobe"])
async def test_guest_outbound_http(runtime: Runtime, probe_wasm: dict[str, Path], tmp_path: Path, upstream: int,
                                   fn: str) -> None:
    host = make_host(runtime, probe_wasm, Backends(tmp_path),
                     f'[outbound_http]\nallowed_hosts = ["http://127.0.0.1:{upstream}"]\n')
    async with client(host) as c:
        assert (await c.get(f"/{fn}/latest/http?url=http://127.0.0.1:{upstream}/ok")).text == "200 upstream ok GET"
        denied = await c.get(f"/{fn}/latest/http?url=http://localhost:{upstream}/ok")
        assert denied.status_code == 403


# ------------------------------------------------------------------ sandbox

async def test_sandbox(runtime: Runtime, probe_wasm: dict[str, Path], tmp_path: Path) -> None:
    rust = runtime.load_file(probe_wasm["rust"])
    assert not rust.uses_wasi and not any(name.startswith("wasi:") for name in rust.imports)
    host = make_host(runtime, probe_wasm, Backends(tmp_path), "")
    async with client(host) as c:
        files = await c.get("/pyprobe/latest/files")
        assert files.status_code == 403 and "root:" not in files.text
        assert (await c.get("/pyprobe/latest/env")).text == "{}"
        import socket as sockets

        with sockets.socket() as listener:  # a port that is surely open: the sandbox must still not reach it
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            port = listener.getsockname()[1]
            sock = await c.get(f"/pyprobe/latest/socket?port={port}")
        assert sock.status_code == 403 and "no sockets" in sock.text


def test_the_manifest_is_a_leaf() -> None:
    """Limits, origin patterns and grant parsing import nothing else of the host (no cycles)."""
    import ast

    import wasmlet.manifest

    def relative_imports(path: Path) -> list[str]:
        tree = ast.parse(path.read_text())
        return [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]

    host = Path(wasmlet.manifest.__file__).parent
    # the trigger model is part of the manifest; it and what it uses import nothing else of the host
    assert sorted(relative_imports(host / "manifest.py")) == ["events._subjects", "events.triggers"]
    assert relative_imports(host / "events" / "triggers.py") == ["_subjects"]
    assert relative_imports(host / "events" / "_subjects.py") == []
    assert relative_imports(host / "events" / "__init__.py") == ["triggers"]
    assert not Path(wasmlet.manifest.__file__).with_name("capabilities").joinpath("denied.py").exists()


def test_every_import_has_one_capability_and_effects_come_from_the_descriptors() -> None:
    """Adding a capability is its module plus a line in CAPABILITIES; nothing else keeps a list."""
    import dataclasses

    from wasmlet.bindings.faas import FunctionImports
    from wasmlet.capabilities import CAPABILITIES, has_effects
    from wasmlet.manifest import Grants

    assert [c.name for c in CAPABILITIES] == [f.name for f in dataclasses.fields(FunctionImports)]
    assert {c.name for c in CAPABILITIES if c.effects} == {"kv", "sql", "outbound_http", "messaging", "modules"}
    assert not has_effects(Grants(config=(("k", "v"),), env=("HOME",)))
    for grants in (Grants(kv=("a",)), Grants(sql=("a",)), Grants(allowed_hosts=("https://x.com",)),
                   Grants(modules=("a",)), Grants(publish=(("events", "a.b"),))):
        assert has_effects(grants), grants
    for c in CAPABILITIES:
        assert c.section is None or c.section in Manifest().to_dict() or c.section == "config", c.name


def test_outbound_urls_and_their_queries_are_not_logged_at_info(upstream: int) -> None:
    """With the host's logging (`wasmlet serve`/`dev`), an outbound call's URL — whose query may carry
    a token — never reaches the log at INFO, neither from wasmlet nor from httpx/httpcore."""
    import io
    import logging

    from wasmlet._logging import setup_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in ("httpx", "httpcore")})
    out = io.StringIO()
    try:
        setup_logging(stream=out)
        ctx = InvocationContext("f", limits=Limits())
        host = OutboundHttpCalls(OutboundHttpCalls.parse([f"http://127.0.0.1:{upstream}"]), OutboundPools(), ctx)
        for path in ("/ok?token=s3cret-1", "/redirect?to=/ok%3Ftoken%3Ds3cret-2", "/missing?token=s3cret-3"):
            host.send(OutgoingRequest("GET", f"http://127.0.0.1:{upstream}{path}", [], BodyText("")))
        httpx.get(f"http://127.0.0.1:{upstream}/ok?token=s3cret-4")  # httpx's own INFO line is quieted too
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    assert "s3cret" not in out.getvalue() and "token=" not in out.getvalue(), out.getvalue()
