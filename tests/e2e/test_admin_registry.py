"""The registry shrinks (delete an alias, a version, a whole function) and the admin API says so in
OpenAPI: in process through the admin and host ASGI apps, and through a real `wasmlet serve` and CLI.
The registry tests run on both backends: SQLite (embedded) and PostgreSQL (a database per test)."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from servers import WASMLET, free_port, running

from wasmlet._openapi import document
from wasmlet.admin import MAX_UPLOAD, AdminApp, admin_app
from wasmlet.asgi import Host
from wasmlet.capabilities.backends import Backends
from wasmlet.manifest import Manifest
from wasmlet.registry import MemoryRegistry, Registry, RegistryError, SqliteRegistry
from wasmlet.runtime import Runtime

pytestmark = pytest.mark.anyio
TOKEN = "tok"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Store:
    """One registry's storage, opened as often as a test needs (each opening as another process or
    host would), and the components it holds."""

    def __init__(self, kind: str, data: Path, url: str = "") -> None:
        self.kind, self.data, self.url = kind, data, url

    def open(self) -> Registry:
        if self.kind == "sqlite":
            return SqliteRegistry(self.data)
        from wasmlet.registry.postgres import PostgresRegistry

        return PostgresRegistry(self.url, wait_s=10)

    def components(self) -> set[str]:
        """The sha256 of every stored component (blob files; rows in PostgreSQL)."""
        if self.kind == "sqlite":
            return blobs(self.data)
        import psycopg

        with psycopg.connect(self.url) as conn:
            chunked = {str(r[0]) for r in conn.execute("SELECT DISTINCT sha256 FROM wasmlet_chunks")}
            listed = {str(r[0]) for r in conn.execute("SELECT sha256 FROM wasmlet_components")}
        assert chunked == listed, (chunked, listed)  # no component without its chunks, no stray chunk
        return listed


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return Store("sqlite", tmp_path / "data")
    return Store("postgres", tmp_path / "data", request.getfixturevalue("pg_database"))


class Rig:
    """An admin API and a public host in one process; the host reads the registry through its own
    connection, as a second worker process (or, on PostgreSQL, another host) would."""

    def __init__(self, store: Store, runtime: Runtime, metrics: Callable[[], bytes] | None = None) -> None:
        self.store = store
        self.data = store.data
        self.registry = store.open()
        self.worker = store.open()
        self.app = admin_app(self.registry, runtime, TOKEN, metrics=metrics)
        self.host = Host(runtime, self.worker, backends=Backends(self.data))
        self.admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://admin",
                                       headers={"authorization": f"Bearer {TOKEN}"}, timeout=60)
        self.public = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.host), base_url="http://host",
                                        timeout=60)

    async def deploy(self, name: str, wasm: bytes, manifest: str = "") -> httpx.Response:
        return await self.admin.post(f"/v1/functions/{name}/versions", data={"manifest": manifest},
                                     files={"component": ("c.wasm", wasm, "application/wasm")})

    async def close(self) -> None:
        await self.admin.aclose()
        await self.public.aclose()
        self.registry.close()
        self.worker.close()


@pytest.fixture
async def rig(store: Store, runtime: Runtime) -> Any:
    r = Rig(store, runtime, metrics=lambda: b"wasmlet_up 1\n")
    try:
        yield r
    finally:
        await r.close()


def assert_error(r: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    """A one-line JSON error with the request id (body and header agree)."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["request_id"] == r.headers["x-request-id"], body
    assert "\n" not in body["error"]
    for fragment in fragments:
        assert fragment in body["error"], body
    return body


def blobs(data: Path) -> set[str]:
    return {p.name.removesuffix(".wasm") for p in (data / "blobs").glob("*.wasm")}


# ------------------------------------------------------------------ deleting


async def test_alias_version_and_last_version_deletions_stop_serving_at_once(rig: Rig,
                                                                             probe_wasm: dict[str, Path]) -> None:
    wasm = probe_wasm["rust"].read_bytes()
    assert (await rig.deploy("fn", wasm)).json()["version"] == "v1"
    assert (await rig.deploy("fn", wasm, "[limits]\ntimeout_ms = 2000\n")).json()["version"] == "v2"
    assert (await rig.admin.put("/v1/functions/fn/aliases/stable", json={"version": "v1"})).status_code == 200
    assert (await rig.public.get("/fn/stable/hello")).text == "hello from rust"

    gone = await rig.admin.delete("/v1/functions/fn/aliases/stable")
    assert gone.status_code == 200 and gone.json() == {"function": "fn", "alias": "stable", "version": "v1"}
    assert (await rig.public.get("/fn/stable/hello")).status_code == 404  # the other connection sees it at once
    assert (await rig.public.get("/fn/v1/hello")).status_code == 200

    assert (await rig.admin.delete("/v1/functions/fn/versions/v1")).status_code == 204
    assert (await rig.public.get("/fn/v1/hello")).status_code == 404
    held = assert_error(await rig.admin.delete("/v1/functions/fn/versions/v2"), 409, "latest",
                        "wasmlet rm fn --alias ALIAS", "wasmlet alias fn ALIAS VERSION")
    assert held["error"].startswith("fn/v2 is still aliased as latest")

    assert (await rig.admin.delete("/v1/functions/fn/aliases/latest")).json()["version"] == "v2"
    assert (await rig.public.get("/fn/latest/hello")).status_code == 404
    assert (await rig.admin.delete("/v1/functions/fn/versions/v2")).status_code == 204  # the last version
    assert (await rig.public.get("/fn/v2/hello")).status_code == 404
    assert (await rig.admin.get("/v1/functions")).json() == {"functions": {}}
    assert rig.store.components() == set()  # nothing uses the component any more

    again = await rig.deploy("fn", wasm)
    assert again.json()["version"] == "v3"  # a pinned /fn/v1/ never serves other code
    assert (await rig.public.get("/fn/latest/hello")).text == "hello from rust"


async def test_deleting_a_function_refuses_named_aliases_unless_forced(rig: Rig, probe_wasm: dict[str, Path]) -> None:
    wasm = probe_wasm["rust"].read_bytes()
    await rig.deploy("fn", wasm)
    await rig.deploy("fn", wasm, "[limits]\nmemory_mb = 64\n")
    await rig.admin.put("/v1/functions/fn/aliases/stable", json={"version": "v1"})
    assert_error(await rig.admin.delete("/v1/functions/fn"), 409, "stable", "--all --force")
    assert_error(await rig.admin.delete("/v1/functions/fn", params={"force": "yes"}), 400, "force")
    assert (await rig.public.get("/fn/stable/hello")).status_code == 200  # refused: nothing changed

    removed = await rig.admin.delete("/v1/functions/fn", params={"force": "true"})
    assert removed.status_code == 200
    assert removed.json() == {"function": "fn", "versions": ["v1", "v2"], "aliases": {"latest": "v2", "stable": "v1"}}
    for path in ("/fn/stable/hello", "/fn/latest/hello", "/fn/v1/hello", "/fn/v2/hello"):
        assert (await rig.public.get(path)).status_code == 404, path
    assert_error(await rig.admin.delete("/v1/functions/fn", params={"force": "true"}), 404, "no function 'fn'")
    assert rig.store.components() == set()

    await rig.deploy("other", wasm)  # only `latest`: no force needed
    assert (await rig.admin.delete("/v1/functions/other")).json()["versions"] == ["v1"]
    assert (await rig.deploy("fn", wasm)).json()["version"] == "v3"


async def test_a_component_two_functions_share_outlives_one_of_them(rig: Rig, probe_wasm: dict[str, Path]) -> None:
    wasm = probe_wasm["rust"].read_bytes()
    sha = (await rig.deploy("a", wasm)).json()["sha256"]
    await rig.deploy("b", wasm)
    await rig.admin.delete("/v1/functions/a")
    assert rig.store.components() == {sha}
    assert (await rig.public.get("/b/latest/hello")).text == "hello from rust"
    await rig.admin.delete("/v1/functions/b")
    assert rig.store.components() == set()


async def _raw(app: AdminApp, method: str, raw_path: bytes, headers: list[tuple[bytes, bytes]]) -> httpx.Response:
    """Calls the ASGI app with exactly this path (httpx would normalise `..` away)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": unquote(raw_path.decode()), "raw_path": raw_path, "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("admin", 80)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return httpx.Response(sent[0]["status"], headers=sent[0]["headers"],
                          content=b"".join(m.get("body", b"") for m in sent[1:]))


AUTH = [(b"authorization", f"Bearer {TOKEN}".encode())]


@pytest.mark.parametrize(("method", "path", "headers", "status", "fragment"), [
    ("DELETE", b"/v1/functions/fn", [], 401, "bearer token"),
    ("DELETE", b"/v1/functions/fn", [(b"authorization", b"Bearer wrong")], 401, "bearer token"),
    ("DELETE", b"/v1/functions/fn", [(b"authorization", TOKEN.encode())], 401, "bearer token"),
    ("DELETE", b"/v1/functions/fn/aliases/latest", [(b"authorization", b"bearer " + TOKEN.encode())], 401, "token"),
    ("DELETE", b"/v1/functions/..", AUTH, 400, "invalid admin path"),
    ("DELETE", b"/v1/functions/fn/versions/..", AUTH, 400, "invalid admin path"),
    ("DELETE", b"/v1/functions/fn/versions/../../fn", AUTH, 400, "invalid admin path"),
    ("DELETE", b"/v1/functions/fn%2Fversions%2Fv1", AUTH, 400, "percent-encoding"),
    ("DELETE", b"/v1/functions/fn/aliases/lat%65st", AUTH, 400, "percent-encoding"),
    ("DELETE", b"/v1/functions/%2e%2e", AUTH, 400, "percent-encoding"),
    ("DELETE", b"/v1/functions/FN", AUTH, 400, "invalid function name 'FN'"),
    ("DELETE", b"/v1/functions/fn/versions/V1", AUTH, 400, "invalid version name 'V1'"),
    ("DELETE", b"/v1/functions/fn/aliases/Latest", AUTH, 400, "invalid alias name 'Latest'"),
    ("DELETE", b"/v1/functions/fn/versions/v9", AUTH, 404, "fn has no version 'v9'"),
    ("DELETE", b"/v1/functions/fn/aliases/nope", AUTH, 404, "fn has no alias 'nope'"),
    ("DELETE", b"/v1/functions/ghost", AUTH, 404, "no function 'ghost'"),
    ("DELETE", b"/v1/functions/ghost/versions/v1", AUTH, 404, "no function 'ghost'"),
    ("DELETE", b"/v1/functions/ghost/aliases/latest", AUTH, 404, "no function 'ghost'"),
    ("DELETE", b"/v1/functions/fn/nothing", AUTH, 404, "Not Found"),
    ("PATCH", b"/v1/functions/fn/aliases/latest", AUTH, 405, "Method Not Allowed"),
])
async def test_hostile_deletes_are_refused_with_json_and_change_nothing(
        rig: Rig, probe_wasm: dict[str, Path], method: str, path: bytes, headers: list[tuple[bytes, bytes]],
        status: int, fragment: str) -> None:
    await rig.deploy("fn", probe_wasm["rust"].read_bytes())
    before = (await rig.admin.get("/v1/functions")).json()
    r = await _raw(rig.app, method, path, headers)
    assert_error(r, status, fragment)
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")
    if status == 405:
        assert set(r.headers["allow"].split(", ")) == {"PUT", "DELETE"}
    assert (await rig.admin.get("/v1/functions")).json() == before
    assert (await rig.public.get("/fn/v1/hello")).status_code == 200


async def test_a_double_delete_is_a_404(rig: Rig, probe_wasm: dict[str, Path]) -> None:
    wasm = probe_wasm["rust"].read_bytes()
    await rig.deploy("fn", wasm)
    await rig.deploy("fn", wasm, "[limits]\nmemory_mb = 64\n")
    await rig.admin.put("/v1/functions/fn/aliases/old", json={"version": "v1"})
    for path in ("/v1/functions/fn/aliases/old", "/v1/functions/fn/versions/v1", "/v1/functions/fn"):
        first = await rig.admin.delete(path)
        assert first.status_code in (200, 204), first.text
        assert_error(await rig.admin.delete(path), 404)


def test_concurrent_deletes_and_deploys_leave_a_consistent_registry(store: Store,
                                                                   probe_wasm: dict[str, Path]) -> None:
    """Two connections (as two processes would have) deploy and delete the same functions at once,
    with components shared between them; afterwards no alias dangles, every version's blob is there
    and intact, no blob is left over, and no version name was handed out twice."""
    rust = probe_wasm["rust"].read_bytes()
    wasms = [rust, rust + bytes(2_500_000)]  # the registry stores bytes: the second spans three PostgreSQL chunks
    a, b = store.open(), store.open()
    handed_out: list[tuple[str, str]] = []
    stop = threading.Event()

    def deployer(reg: Registry, function: str, rounds: int) -> None:
        for i in range(rounds):
            v = reg.deploy(function, wasms[i % 2], Manifest(timeout_ms=1000 + i))
            handed_out.append((function, v.version))
            if i % 5 == 0:
                try:
                    reg.set_alias(function, "stable", v.version)
                except RegistryError as exc:  # deleted meanwhile
                    assert exc.status == 404, exc

    def deleter(reg: Registry, function: str) -> int:
        done = 0
        while not stop.is_set():
            try:
                reg.delete_function(function, force=True)
                done += 1
            except RegistryError as exc:
                assert exc.status == 404, exc
            time.sleep(0.001)
        return done

    try:
        with ThreadPoolExecutor(4) as pool:
            deletes = [pool.submit(deleter, b, "fn"), pool.submit(deleter, a, "g")]
            deploys = [pool.submit(deployer, a, "fn", 40), pool.submit(deployer, b, "g", 40)]
            try:
                for f in deploys:
                    f.result(timeout=300)
            finally:
                stop.set()  # a failed deployer must not leave the deleters running
            assert sum(f.result(timeout=60) for f in deletes) > 0  # the deletions did interleave
        a.deploy("fn", wasms[0], Manifest())  # something to look at afterwards
        assert len(handed_out) == len(set(handed_out)) == 80
        listing = a.list()
        referenced = set()
        for function, entry in listing.items():
            info: Any = entry
            versions = {v["version"]: v["sha256"] for v in info["versions"]}
            assert set(info["aliases"].values()) <= set(versions), (function, entry)
            for name in [*versions, *info["aliases"]]:
                resolved = b.resolve(function, name)
                assert resolved is not None and b.wasm(resolved)  # sha256 checked
            referenced |= set(versions.values())
        assert store.components() == referenced
        assert not list((store.data / "blobs").glob(".upload-*"))
    finally:
        a.close()
        b.close()


_KILLED_MID_DELETE = """
import os, signal, sys
from contextlib import contextmanager
from pathlib import Path
from wasmlet.manifest import Manifest
from wasmlet.registry import SqliteRegistry
registry = SqliteRegistry(Path(sys.argv[1]))
registry.deploy("fn", Path(sys.argv[2]).read_bytes(), Manifest())
if sys.argv[3] == "committing":      # the rows deleted, the transaction not committed
    real = registry._transaction
    @contextmanager
    def transaction():
        with real() as cur:
            yield cur
            os.kill(os.getpid(), signal.SIGKILL)
    registry._transaction = transaction
else:                                # committed, the unused blob not removed yet
    registry._drop_unused_blobs = lambda shas: os.kill(os.getpid(), signal.SIGKILL)
registry.delete_function("fn")
"""


@pytest.mark.parametrize("where", ["committing", "removing-blobs"])
def test_kill_9_during_a_delete_leaves_the_function_whole_or_gone(tmp_path: Path, probe_wasm: dict[str, Path],
                                                                  where: str) -> None:
    """Killed before the commit the function is whole; after it, gone with at most an orphan blob."""
    import sys

    wasm = probe_wasm["rust"].read_bytes()
    run = subprocess.run([sys.executable, "-c", _KILLED_MID_DELETE, str(tmp_path), str(probe_wasm["rust"]), where],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == -9, run.stderr[-2000:]
    registry = SqliteRegistry(tmp_path)
    try:
        assert len(blobs(tmp_path)) == 1  # never a version without its blob; at most a blob without a version
        latest = registry.resolve("fn", "latest")
        if where == "committing":
            assert latest is not None and registry.wasm(latest) == wasm
            assert registry.list()["fn"]["aliases"] == {"latest": "v1"}
        else:
            assert latest is None and registry.list() == {}
            again = registry.deploy("fn", wasm, Manifest())  # the orphan is simply reused
            assert again.version == "v2" and registry.wasm(again) == wasm
    finally:
        registry.close()


_KILLED_IN_A_POSTGRES_WRITE = """
import os, signal, sys
from pathlib import Path
import psycopg
from wasmlet.manifest import Manifest
from wasmlet.registry.postgres import PostgresRegistry
registry = PostgresRegistry(sys.argv[1], wait_s=10)
wasm = Path(sys.argv[2]).read_bytes()

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[3] == "deleting":        # the rows deleted, the unused component being removed, nothing committed
    registry._drop_unused_components = die
    registry.delete_function("fn")
else:                                # another component's chunks and version written, nothing committed
    write_chunks = psycopg.Cursor.executemany
    def chunks_then_die(self, query, params, **kwargs):
        write_chunks(self, query, params, **kwargs)
        die()
    psycopg.Cursor.executemany = chunks_then_die
    registry.deploy("fn", wasm + b"another component", Manifest(timeout_ms=1234))
"""


@pytest.mark.parametrize("where", ["deploying", "deleting"])
def test_kill_9_in_a_postgres_write_leaves_the_registry_whole(pg_database: str, probe_wasm: dict[str, Path],
                                                              tmp_path: Path, where: str) -> None:
    """A host killed inside a write transaction changed nothing: PostgreSQL rolls it back, so no
    version lacks its component, no half-written component remains, and no lock is left held."""
    import sys

    store = Store("postgres", tmp_path, pg_database)
    wasm = probe_wasm["rust"].read_bytes()
    first = store.open()
    first.deploy("fn", wasm, Manifest())
    first.close()
    run = subprocess.run([sys.executable, "-c", _KILLED_IN_A_POSTGRES_WRITE, pg_database, str(probe_wasm["rust"]),
                          where], capture_output=True, text=True, timeout=120)
    assert run.returncode == -9, run.stderr[-2000:]
    registry = store.open()
    try:
        listing: Any = registry.list()
        assert {name: info["aliases"] for name, info in listing.items()} == {"fn": {"latest": "v1"}}
        latest = registry.resolve("fn", "latest")
        assert latest is not None and registry.wasm(latest) == wasm
        assert store.components() == {latest.sha256}
        assert registry.deploy("fn", wasm, Manifest(timeout_ms=99)).version == "v2"
    finally:
        registry.close()


def test_the_dev_registry_shrinks_the_same_way() -> None:
    reg = MemoryRegistry()
    reg.put("fn", b"component")
    with pytest.raises(RegistryError, match="still aliased as latest") as held:
        reg.delete_version("fn", "dev")
    assert held.value.status == 409
    assert reg.delete_alias("fn", "latest") == "dev"
    assert reg.resolve("fn", "latest") is None and reg.resolve("fn", "dev") is not None
    reg.delete_version("fn", "dev")
    assert reg.resolve("fn", "dev") is None
    for call in (lambda: reg.delete_function("fn"), lambda: reg.delete_alias("fn", "latest"),
                 lambda: reg.delete_version("fn", "dev")):
        with pytest.raises(RegistryError, match="no function 'fn'") as absent:
            call()
        assert absent.value.status == 404
    reg.put("fn", b"component")
    assert reg.delete_function("fn").aliases == {"latest": "dev"}
    assert reg.resolve("fn", "latest") is None


# ------------------------------------------------------------------- OpenAPI

_METHODS = ("get", "put", "post", "delete", "patch")


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(path, method.upper()): op for path, item in doc["paths"].items()
            for method, op in item.items() if method in _METHODS}


def test_the_openapi_document_is_valid_and_names_exactly_the_mounted_routes(tmp_path: Path,
                                                                            runtime: Runtime) -> None:
    doc = document()
    validate_openapi(doc)
    registry = SqliteRegistry(tmp_path)
    try:
        app = admin_app(registry, runtime, TOKEN)
        mounted = {(route.path, method) for route in app.routes for method in route.methods or ()
                   if method != "HEAD"}  # Starlette adds HEAD to every GET
    finally:
        registry.close()
    assert mounted == set(_operations(doc))
    for (path, method), op in _operations(doc).items():
        assert op["summary"] and op["operationId"], (path, method)
        assert "401" in op["responses"] and "default" in op["responses"], (path, method)


_NOT_EXERCISED = {"503", "507", "default"}
"""Statuses this test does not provoke: a locked registry and a full disk are tests/host/test_faults.py's."""


async def test_the_documented_statuses_are_the_ones_the_routes_answer(tmp_path: Path, runtime: Runtime,
                                                                     probe_wasm: dict[str, Path]) -> None:
    doc = document()
    operations = _operations(doc)
    seen: dict[tuple[str, str], set[str]] = {key: set() for key in operations}
    rig = Rig(Store("sqlite", tmp_path / "data"), runtime, metrics=lambda: b"wasmlet_up 1\n")
    bare = admin_app(rig.registry, runtime, TOKEN)  # no metrics attached
    wasm = probe_wasm["rust"].read_bytes()

    def check(template: str, method: str, r: httpx.Response) -> None:
        op = operations[(template, method)]
        status = str(r.status_code)
        assert status in op["responses"], (template, method, status, r.text)
        seen[(template, method)].add(status)
        content = op["responses"][status].get("content", {})
        if "application/json" in content:
            schema = {**content["application/json"]["schema"], "components": doc["components"]}
            jsonschema.validate(r.json(), schema)

    async def call(template: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        r = await rig.admin.request(method, path, **kwargs)
        check(template, method, r)
        return r

    fns, fn, versions, version = ("/v1/functions", "/v1/functions/{name}", "/v1/functions/{name}/versions",
                                  "/v1/functions/{name}/versions/{version}")
    alias = "/v1/functions/{name}/aliases/{alias}"
    upload = {"files": {"component": ("c.wasm", wasm, "application/wasm")}}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=rig.app), base_url="http://admin") as anon:
            for template, method in operations:
                path = template.replace("{name}", "fn").replace("{version}", "v1").replace("{alias}", "latest")
                check(template, method, await anon.request(method, path))
        await call(versions, "POST", "/v1/functions/fn/versions", **upload)
        await call(versions, "POST", "/v1/functions/fn/versions", data={"manifest": "[limits]\nmemory_mb = 64\n"},
                   **upload)
        await call(versions, "POST", "/v1/functions/Fn/versions", **upload)
        await call(versions, "POST", "/v1/functions/fn/versions",
                   files={"component": ("c.wasm", b"\0asm junk", "application/wasm")})
        big = await _raw(rig.app, "POST", b"/v1/functions/fn/versions",
                         [*AUTH, (b"content-length", str(MAX_UPLOAD + 1).encode())])
        check(versions, "POST", big)
        await call(fns, "GET", "/v1/functions")
        await call(alias, "PUT", "/v1/functions/fn/aliases/stable", json={"version": "v1"})
        await call(alias, "PUT", "/v1/functions/fn/aliases/stable", content=b"not json")
        await call(alias, "PUT", "/v1/functions/fn/aliases/stable", json={"version": "v9"})
        await call(alias, "PUT", "/v1/functions/fn/aliases/v7", json={"version": "v1"})
        await call(alias, "DELETE", "/v1/functions/fn/aliases/Bad")
        await call(alias, "DELETE", "/v1/functions/fn/aliases/nope")
        await call(version, "DELETE", "/v1/functions/fn/versions/v1")  # 409: stable
        await call(alias, "DELETE", "/v1/functions/fn/aliases/stable")
        await call(version, "DELETE", "/v1/functions/fn/versions/V1")
        await call(version, "DELETE", "/v1/functions/fn/versions/v9")
        await call(version, "DELETE", "/v1/functions/fn/versions/v1")
        await call(alias, "PUT", "/v1/functions/fn/aliases/stable", json={"version": "v2"})
        await call(fn, "DELETE", "/v1/functions/fn")  # 409: stable
        await call(fn, "DELETE", "/v1/functions/Fn")
        await call(fn, "DELETE", "/v1/functions/fn?force=true")
        await call(fn, "DELETE", "/v1/functions/fn")  # 404
        await call("/v1/openapi.json", "GET", "/v1/openapi.json")
        await call("/metrics", "GET", "/metrics")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bare), base_url="http://admin",
                                     headers={"authorization": f"Bearer {TOKEN}"}) as c:
            check("/metrics", "GET", await c.get("/metrics"))
    finally:
        await rig.close()
    for key, op in operations.items():
        assert set(op["responses"]) - _NOT_EXERCISED <= seen[key], (key, seen[key])


async def test_the_openapi_document_needs_the_token_and_matches_the_module(rig: Rig) -> None:
    assert_error(await httpx.AsyncClient(transport=httpx.ASGITransport(app=rig.app),
                                         base_url="http://admin").get("/v1/openapi.json"), 401)
    served = await rig.admin.get("/v1/openapi.json")
    assert served.json() == json.loads(json.dumps(document()))


# ------------------------------------------------- a real server and the CLI


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[int, list[str]]]:
    port, admin_port = free_port(), free_port()
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin_port}",
            "--data-dir", str(tmp_path / "data")]
    with running(args, f"http://127.0.0.1:{port}/_wasmlet/health", tmp_path / "serve.log",
                 env={"WASMLET_ADMIN_TOKEN": "s3cret"}):
        yield port, ["--admin", f"http://127.0.0.1:{admin_port}", "--token", "s3cret"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(WASMLET + list(args), capture_output=True, text=True, timeout=120)


def test_a_request_in_flight_finishes_and_the_next_one_is_a_404(serve: tuple[int, list[str]],
                                                                  probe_wasm: dict[str, Path]) -> None:
    port, admin = serve
    base = f"http://127.0.0.1:{port}"
    assert cli("deploy", "probe", str(probe_wasm["rust"]), *admin).returncode == 0
    assert httpx.get(f"{base}/probe/v1/hello").text == "hello from rust"  # compiled and warm
    body = b"still answered after the delete"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /probe/v1/echo HTTP/1.1\r\nhost: t\r\ncontent-type: text/plain\r\n"
                     b"content-length: %d\r\n\r\n%s" % (len(body), body[:5]))
        time.sleep(0.5)  # routed to probe/v1, waiting for the rest of its body
        removed = cli("rm", "probe", "--all", *admin)
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.strip() == "deleted probe: versions v1; aliases latest -> v1"
        assert httpx.get(f"{base}/probe/v1/hello").status_code == 404
        sock.sendall(body[5:])
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(body):
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert httpx.get(f"{base}/probe/latest/hello").status_code == 404


def test_cli_rm_deletes_versions_aliases_and_functions(tmp_path: Path, serve: tuple[int, list[str]],
                                                       probe_wasm: dict[str, Path]) -> None:
    port, admin = serve
    slow = tmp_path / "function.toml"
    slow.write_text("[limits]\ntimeout_ms = 2000\n")
    assert "deployed probe v1" in cli("deploy", "probe", str(probe_wasm["rust"]), *admin).stdout
    assert "deployed probe v2" in cli("deploy", "probe", str(probe_wasm["rust"]), "--manifest", str(slow),
                                      *admin).stdout
    assert cli("alias", "probe", "stable", "v1", *admin).returncode == 0

    for usage in (["probe"], ["probe", "v1", "--alias", "stable"], ["probe", "v1", "--all"], ["probe", "--force"],
                  ["probe", "--alias", "stable", "--force"]):
        wrong = cli("rm", *usage, *admin)
        assert wrong.returncode == 2 and "exactly one of VERSION, --alias ALIAS or --all" in wrong.stderr, usage

    held = cli("rm", "probe", "v1", *admin)
    assert held.returncode == 1 and "error 409" in held.stderr and "--alias" in held.stderr
    named = cli("rm", "probe", "--all", *admin)
    assert named.returncode == 1 and "error 409" in named.stderr and "stable" in named.stderr
    assert "--force" in named.stderr

    gone = cli("rm", "probe", "--alias", "stable", *admin)
    assert gone.returncode == 0 and gone.stdout.strip() == "deleted alias probe/stable (it named v1)"
    missing = cli("rm", "probe", "--alias", "stable", *admin)
    assert missing.returncode == 1 and "error 404" in missing.stderr and "no alias 'stable'" in missing.stderr
    assert cli("rm", "probe", "v1", *admin).stdout.strip() == "deleted probe/v1"
    assert httpx.get(f"http://127.0.0.1:{port}/probe/v1/hello").status_code == 404

    assert cli("alias", "probe", "stable", "v2", *admin).returncode == 0
    forced = cli("rm", "probe", "--all", "--force", *admin)
    assert forced.stdout.strip() == "deleted probe: versions v2; aliases latest -> v2, stable -> v2"
    assert "error 404" in cli("rm", "probe", "--all", *admin).stderr
    assert "error 400" in cli("rm", "Probe", "--all", *admin).stderr
    assert cli("ls", *admin).stdout == ""
    unauthorized = cli("rm", "probe", "--all", "--admin", admin[1], "--token", "wrong")
    assert unauthorized.returncode == 1 and "error 401" in unauthorized.stderr


def test_a_damaged_component_in_postgresql_is_refused_never_run(pg_database: str, probe_wasm: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    """A chunk changed behind the registry's back (or a missing one) fails the content check: an error, not code."""
    import psycopg

    store = Store("postgres", tmp_path, pg_database)
    registry = store.open()
    try:
        version = registry.deploy("fn", probe_wasm["rust"].read_bytes(), Manifest())
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute("UPDATE wasmlet_chunks SET data = overlay(data placing '\\x00'::bytea from 100 for 1) "
                         "WHERE sha256 = %s AND n = 0", (version.sha256,))
        with pytest.raises(RegistryError, match="is damaged") as damaged:
            registry.wasm(version)
        assert damaged.value.status == 500
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute("DELETE FROM wasmlet_chunks WHERE sha256 = %s", (version.sha256,))
        with pytest.raises(RegistryError, match="is missing") as missing:
            registry.wasm(version)
        assert missing.value.status == 404
    finally:
        registry.close()
