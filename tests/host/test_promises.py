"""README promises that had no test: each one here fails when the promise is broken."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from wasmlet._logging import JsonFormatter, TextFormatter
from wasmlet.asgi import Host, HostSettings
from wasmlet.manifest import Manifest
from wasmlet.registry import MemoryRegistry, RegistryError, SqliteRegistry
from wasmlet.runtime import Runtime

pytestmark = pytest.mark.anyio
WASMLET = [sys.executable, "-m", "wasmlet.cli"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def host_for(runtime: Runtime, wasm: Path, manifest: str = "", **settings: object) -> Host:
    registry = MemoryRegistry()
    registry.put("fn", wasm.read_bytes(), Manifest.from_toml(manifest))
    return Host(runtime, registry, HostSettings(**settings))  # type: ignore[arg-type]


def client(host: Host) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://t", timeout=60)


async def test_every_invocation_is_a_fresh_instance(runtime: Runtime, hostile_wasm: Path) -> None:
    async with client(host_for(runtime, hostile_wasm)) as c:
        counts = [(await c.get("/fn/latest/count")).text for _ in range(5)]
    assert counts == ["1"] * 5  # module state never carries over


async def test_the_host_wide_cap_answers_503(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    host = host_for(runtime, probe_wasm["rust"], "[limits]\ntimeout_ms = 1000\n", max_in_flight=1)
    async with client(host) as c:
        async with anyio.create_task_group() as tg:
            tg.start_soon(c.get, "/fn/latest/loop")
            with anyio.fail_after(10):
                while "wasmlet_invocations_in_flight 1.0" not in host.metrics.render().decode():
                    await anyio.sleep(0.01)
            busy = await c.get("/fn/latest/hello")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert "capacity" in busy.json()["error"] and busy.json()["request_id"]


async def test_out_of_memory_is_a_500_over_http(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    async with client(host_for(runtime, probe_wasm["rust"], "[limits]\nmemory_mb = 32\n")) as c:
        resp = await c.get("/fn/latest/alloc")
        assert resp.status_code == 500 and "ran out of memory (32 MB)" in resp.json()["error"]
        assert (await c.get("/fn/latest/hello")).status_code == 200


@pytest.mark.parametrize("header", ["bad name:x", "x-latin:%E2%82%AC", "x-ok:a%0Db"])
async def test_invalid_guest_headers_are_502(runtime: Runtime, hostile_wasm: Path, header: str) -> None:
    async with client(host_for(runtime, hostile_wasm)) as c:
        resp = await c.get(f"/fn/latest/respond?status=200&h={header}&body=x")
    assert resp.status_code == 502 and resp.json()["request_id"] == resp.headers["x-request-id"]


async def test_access_log_in_text_and_json(runtime: Runtime, hostile_wasm: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wasmlet.access")
    for json_logs in (False, True):
        caplog.clear()
        async with client(host_for(runtime, hostile_wasm)) as c:
            rid = (await c.get("/fn/latest/hello?x=1")).headers["x-request-id"]
        (record,) = [r for r in caplog.records if r.name == "wasmlet.access"]
        line = (JsonFormatter() if json_logs else TextFormatter(colour=False)).format(record)
        if json_logs:
            entry = json.loads(line)
            assert entry["target"] == "/fn/latest/hello?x=1" and entry["status"] == 200
            assert entry["function"] == "fn" and entry["request_id"] == rid and entry["ms"] >= 0
        else:
            assert '"GET /fn/latest/hello?x=1" 200 ' in line and f"fn=fn/dev rid={rid}" in line


async def test_no_access_log_when_off(runtime: Runtime, hostile_wasm: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wasmlet.access")
    async with client(host_for(runtime, hostile_wasm, access_log=False)) as c:
        await c.get("/fn/latest/hello")
    assert not [r for r in caplog.records if r.name == "wasmlet.access"]


def test_admin_registry_errors(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    registry = SqliteRegistry(tmp_path)
    try:
        registry.deploy("fn", probe_wasm["rust"].read_bytes(), Manifest())
        for call, status, fragment in [
            (lambda: registry.set_alias("fn", "stable", "v9"), 404, "no version 'v9'"),
            (lambda: registry.set_alias("fn", "v1", "v1"), 400, "shadow a version"),
            (lambda: registry.set_alias("fn", "Bad Alias", "v1"), 400, "invalid alias name"),
            (lambda: registry.deploy("Bad Name", b"", Manifest()), 400, "invalid function name"),
        ]:
            with pytest.raises(RegistryError, match=fragment) as info:
                call()
            assert info.value.status == status
        registry.set_alias("fn", "stable", "v1")
        assert registry.list()["fn"]["aliases"] == {"latest": "v1", "stable": "v1"}
    finally:
        registry.close()


def test_inspect_and_build_from_the_command_line(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    root = Path(__file__).resolve().parents[2]
    inspect = subprocess.run(WASMLET + ["inspect", str(probe_wasm["rust"])], capture_output=True, text=True,
                             timeout=60)
    assert inspect.returncode == 0, inspect.stderr
    assert "wasmlet:faas" in inspect.stdout and "handle" in inspect.stdout
    out = tmp_path / "hello.wasm"
    build = subprocess.run(WASMLET + ["build", str(root / "guest-rust" / "examples" / "hello"), "-o", str(out)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    assert out.read_bytes()[:4] == b"\0asm"
    missing = subprocess.run(WASMLET + ["inspect", str(tmp_path / "nope.wasm")], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode != 0 and missing.stderr.strip()


def test_uploads_importing_wasi_http_are_refused(runtime: Runtime, tmp_path: Path) -> None:
    """A component importing wasi:http (outbound with no allow-list) is refused at load."""
    from wasmlet.build import _tool
    from wasmlet.errors import LoadError

    wit = tmp_path / "wit"
    (wit / "deps" / "wasi-http").mkdir(parents=True)
    (wit / "deps" / "wasi-http" / "types.wit").write_text(
        "package wasi:http@0.2.0;\ninterface outgoing-handler {\n  handle: func(x: u32) -> u32;\n}\n")
    (wit / "deps" / "wasmlet-faas").mkdir()
    (wit / "deps" / "wasmlet-faas" / "faas.wit").write_text((Path(__file__).resolve().parents[2] / "wit" /
                                                             "faas.wit").read_text())
    from wasmlet.contracts import NEWEST

    (wit / "world.wit").write_text("package t:t;\nworld w {\n  import wasi:http/outgoing-handler@0.2.0;\n"
                                   f"  include wasmlet:faas/function@{NEWEST};\n}}\n")
    tools = _tool("wasm-tools")
    subprocess.run([tools, "component", "embed", "--dummy", str(wit), "--world", "w", "-o", str(tmp_path / "c.wasm")],
                   check=True)
    subprocess.run([tools, "component", "new", str(tmp_path / "c.wasm"), "-o", str(tmp_path / "http.wasm")],
                   check=True)
    with pytest.raises(LoadError, match="wasi:http/outgoing-handler"):
        runtime.load((tmp_path / "http.wasm").read_bytes())


def test_too_many_redirects_is_an_error(upstream: int) -> None:
    from wasmlet.bindings.faas import BodyText, OutgoingRequest
    from wasmlet.capabilities import InvocationContext
    from wasmlet.capabilities.outbound_http import OutboundHttpCalls, OutboundPools

    base = f"http://127.0.0.1:{upstream}"
    calls = OutboundHttpCalls(OutboundHttpCalls.parse([base]), OutboundPools(), InvocationContext("f"))
    result = calls.send(OutgoingRequest("GET", f"{base}/redirect?to=/redirect?to=/redirect?to=/redirect?to="
                                               "/redirect?to=/redirect?to=/redirect?to=/ok", [], BodyText("")))
    assert result.tag == "err" and "more than 5 redirects" in result.value.value  # type: ignore[attr-defined]


def test_each_statement_commits_on_its_own(tmp_path: Path) -> None:
    """The contract has no transactions: what one call wrote, a fresh connection reads at once."""
    import sqlite3

    from wasmlet.bindings.faas import ValueText
    from wasmlet.capabilities import InvocationContext
    from wasmlet.capabilities.backends import Backends
    from wasmlet.capabilities.sql import SqlCalls

    calls = SqlCalls(("default",), Backends(tmp_path).sql, InvocationContext("f"))
    assert calls.execute("default", "CREATE TABLE t (v TEXT)", []).tag == "ok"  # type: ignore[attr-defined]
    assert calls.execute("default", "INSERT INTO t VALUES (?)", [ValueText("x")]).tag == "ok"  # type: ignore[attr-defined]
    other = sqlite3.connect(tmp_path / "sql-default.sqlite3")
    try:
        assert other.execute("SELECT v FROM t").fetchall() == [("x",)]
    finally:
        other.close()


def test_backend_errors_never_carry_credentials(tmp_path: Path, maria_url: str, redis_url: str) -> None:
    from urllib.parse import urlsplit

    from wasmlet.capabilities import InvocationContext
    from wasmlet.capabilities.backends import Backends
    from wasmlet.capabilities.kv import KvCalls
    from wasmlet.capabilities.sql import SqlCalls

    maria = urlsplit(maria_url)
    redis_parts = urlsplit(redis_url)
    secret = "s3cr3t-pw"
    backends = Backends(tmp_path, sql={"m": {"type": "mysql", "url": f"mysql://wrong:{secret}@{maria.hostname}:"
                                             f"{maria.port or 3306}/test"}},
                        kv={"r": {"type": "redis", "url": f"redis://nobody:{secret}@{redis_parts.hostname}:"
                                                          f"{redis_parts.port or 6379}/0"}})
    ctx = InvocationContext("f", deadline=time.monotonic() + 10)
    sql = SqlCalls(("m",), backends.sql, ctx).query("m", "SELECT 1", [])
    kv = KvCalls(("r",), backends.kv, ctx).get("r", "k")
    for result in (sql, kv):
        assert result.tag == "err", result  # type: ignore[attr-defined]
        assert secret not in result.value.value, result.value.value  # type: ignore[attr-defined]
