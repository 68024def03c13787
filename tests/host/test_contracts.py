"""Contract versions: a component built against `wasmlet:faas@0.1.0` keeps working after the host
moved to 0.2.0 — every hostcall and both directions of the event, through the adapter in
`wasmlet.contracts`, in process and over the HTTP host."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest
from guests import ROOT

from wasmlet import BodyBytes, BodyOctets, BodyText, EventHttp, InvocationContext, Request, Runtime, body_bytes
from wasmlet.asgi import Host, HostSettings
from wasmlet.capabilities import bind_imports
from wasmlet.capabilities._capability import HostServices
from wasmlet.capabilities.backends import Backends
from wasmlet.contracts import CONTRACTS, NEWEST, contract_of
from wasmlet.errors import LoadError
from wasmlet.manifest import Manifest
from wasmlet.registry import MemoryRegistry

OLD = ROOT / "tests" / "fixtures" / "contract-0.1.0"
FIXTURES = ROOT / "tests" / "fixtures"
VERSIONS = ROOT / "wit" / "versions"
MANIFEST = Manifest.from_toml('[config]\nkey = "value"\n[kv]\nstores = ["default"]\n[modules]\nallowed = ["new"]\n')


def call(runtime: Runtime, wasm: Path, path: str, query: str = "", body: bytes = b"",
         imports: object = None) -> object:
    fn = runtime.load(wasm.read_bytes())
    event = EventHttp(Request("POST", path, query, [], BodyText(body.decode()) if body.isascii()
                              else BodyOctets(body.decode("latin-1")), "/old/latest"))
    kw = {"imports": imports} if imports is not None else {}
    return runtime.invoke(fn, event, ctx=InvocationContext("old"), **kw)  # type: ignore[arg-type]


def test_old_components_are_recognised_as_0_1_0(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    for name in ("probe-rust.wasm", "hello-rust.wasm"):
        fn = runtime.load((OLD / name).read_bytes())
        assert fn.contract.version == "0.1.0", name
        assert all(i.endswith("@0.1.0") for i in fn.imports if i.startswith("wasmlet:faas/"))
    assert runtime.load(probe_wasm["rust"].read_bytes()).contract.version == NEWEST
    assert list(CONTRACTS)[0] == NEWEST and "0.1.0" in CONTRACTS


@pytest.mark.parametrize("version", sorted(p.name for p in VERSIONS.iterdir() if p.is_dir()))
def test_every_released_contract_is_served_and_frozen(runtime: Runtime, version: str) -> None:
    """Each released version: its WIT is frozen (the newest WIT equals it while it carries its
    number), the host serves it, and its fixtures still answer."""
    frozen = (VERSIONS / version / "faas.wit").read_text()
    assert f"package wasmlet:faas@{version};" in frozen
    newest = (ROOT / "wit" / "faas.wit").read_text()
    if f"package wasmlet:faas@{version};" in newest:
        assert newest == frozen, f"wit/faas.wit changed after {version} was released: bump its version"
    assert version in CONTRACTS
    fixtures = sorted((FIXTURES / f"contract-{version}").glob("*.wasm"))
    assert fixtures, f"no fixture components for {version}"
    for wasm in fixtures:
        fn = runtime.load(wasm.read_bytes())
        assert fn.contract.version == version, wasm.name
        path = "/api/capitalize/hello-world" if wasm.name.startswith("hello") else "/hello"
        resp = runtime.invoke(fn, EventHttp(Request("GET", path, "", [], BodyText(""), "/f/latest")),
                              ctx=InvocationContext("f"))
        assert resp.status == 200 and body_bytes(resp.body), wasm.name


def test_an_unknown_contract_version_is_refused_with_the_versions_served() -> None:
    assert contract_of(("wasmlet:faas/log@9.0.0",), None) is None
    assert contract_of(("wasmlet:faas/log@0.1.0", "wasmlet:faas/kv@0.2.0"), None) is None  # two at once


def test_a_component_from_a_future_contract_gets_a_clear_error(runtime: Runtime, tmp_path: Path) -> None:
    import subprocess

    from wasmlet.build import _tool

    wit = (ROOT / "wit" / "faas.wit").read_text().replace(f"package wasmlet:faas@{NEWEST};", "package wasmlet:faas@9.0.0;")
    (tmp_path / "wit").mkdir()
    (tmp_path / "wit" / "faas.wit").write_text(wit)
    tools = _tool("wasm-tools")
    embedded, component = tmp_path / "e.wasm", tmp_path / "c.wasm"
    for cmd in ([tools, "component", "embed", "--dummy", str(tmp_path / "wit"), "--world", "function", "-o",
                 str(embedded)],  # a core module of the world's shape, every function `unreachable`
                [tools, "component", "new", str(embedded), "-o", str(component)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"could not make a 9.0.0 component: {proc.stderr[:300]}"
    served = ", ".join(CONTRACTS).replace(".", r"\.")
    with pytest.raises(LoadError, match=rf"built for wasmlet:faas 9\.0\.0; this host serves {served} \(upgrade"):
        runtime.load(component.read_bytes())


def test_old_probe_answers_echoes_every_byte_and_logs(runtime: Runtime) -> None:
    probe = OLD / "probe-rust.wasm"
    hello = call(runtime, probe, "/hello")
    assert hello.body == BodyText("hello from rust")  # type: ignore[attr-defined]
    rng = random.Random(7)
    for payload in (bytes(range(256)), rng.randbytes(1 << 20), b"caf\xe9"):
        echoed = call(runtime, probe, "/echo", body=payload)
        assert body_bytes(echoed.body) == payload  # type: ignore[attr-defined]
        assert isinstance(echoed.body, (BodyBytes, BodyText))  # type: ignore[attr-defined]
    assert call(runtime, probe, "/log").body == BodyText("logged")  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0"])
def test_old_probe_hostcalls_go_through_the_adapter(runtime: Runtime, tmp_path: Path, version: str) -> None:
    imports = bind_imports(MANIFEST.grants, HostServices(backends=Backends(tmp_path)))
    probe = FIXTURES / f"contract-{version}" / "probe-rust.wasm"
    assert runtime.load(probe.read_bytes()).contract.version == version

    def text(path: str, query: str) -> str:
        return body_bytes(call(runtime, probe, path, query, imports=imports).body).decode()  # type: ignore[attr-defined]

    assert text("/config", "key=key") == 'Some("value")'
    assert text("/config", "key=other").startswith("denied")
    assert text("/kv", "op=set&key=k&value=v%C3%A9") == "ok"  # a 0.1.0 list<u8> value, stored as bytes
    assert text("/kv", "op=get&key=k") == 'Some("vé")'
    assert text("/kv", "op=keys&prefix=") == '["k"]'
    assert text("/kv", "op=get&key=k&store=other").startswith("denied")
    assert text("/kv", "op=delete&key=k") == "ok" and text("/kv", "op=get&key=k") == "None"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_old_and_new_functions_serve_side_by_side_and_call_each_other(anyio_backend: str,
        runtime: Runtime, probe_wasm: dict[str, Path], tmp_path: Path) -> None:
    registry = MemoryRegistry()
    registry.put("old", (OLD / "probe-rust.wasm").read_bytes(), Manifest.from_toml('[modules]\nallowed = ["new"]\n'))
    registry.put("hello-old", (OLD / "hello-rust.wasm").read_bytes())
    registry.put("new", probe_wasm["rust"].read_bytes(), Manifest.from_toml('[modules]\nallowed = ["old"]\n'))
    host = Host(runtime, registry, HostSettings(), Backends(tmp_path))
    transport = httpx.ASGITransport(app=host)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        assert (await c.get("/old/latest/hello")).text == "hello from rust"
        binary = bytes(range(256)) * 64
        assert (await c.post("/old/latest/echo", content=binary)).content == binary
        assert (await c.post("/new/latest/echo", content=binary)).content == binary
        assert (await c.get("/old/latest/call?module=new&path=/hello")).text == "200 hello from rust"
        assert (await c.get("/new/latest/call?module=old&path=/hello")).text == "200 hello from rust"
        page = await c.get("/hello-old/latest/api/capitalize/still-here")
        assert page.status_code == 200 and page.text == "STILL-HERE"
        index = await c.get("/hello-old/latest/")
        assert index.status_code == 200 and index.headers["content-type"] == "text/html; charset=utf-8"


def test_inspect_shows_the_contract_version() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "wasmlet.cli", "inspect", str(OLD / "probe-rust.wasm")],
                         capture_output=True, text=True).stdout
    assert "contract: wasmlet:faas@0.1.0" in out


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_guest_octets_body_above_u00ff_is_refused_not_passed_on(anyio_backend: str, runtime: Runtime,
                                                                        hostile_wasm: Path, probe_wasm: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    """`octets` is one byte per character: a guest answering U+0100 gets a 502 (HTTP) or a failed
    module call, never a crash or a changed byte; a valid octets answer is passed on exactly."""
    registry = MemoryRegistry()
    registry.put("hostile", hostile_wasm.read_bytes())
    registry.put("caller", probe_wasm["python"].read_bytes(), Manifest.from_toml('[modules]\nallowed = ["hostile"]\n'))
    host = Host(runtime, registry, HostSettings(), Backends(tmp_path))
    transport = httpx.ASGITransport(app=host)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        bad = await c.get("/hostile/latest/respond?octets=a%C4%80b")
        assert bad.status_code == 502 and "U+00FF" in bad.json()["error"]
        assert bad.json()["request_id"] == bad.headers["x-request-id"]
        good = await c.get("/hostile/latest/respond?octets=%C3%BF%00x")  # "ÿ\0x": bytes ff 00 78
        assert good.status_code == 200 and good.content == b"\xff\x00x"
        called = await c.get("/caller/latest/call", params={"module": "hostile", "path": "/respond?octets=%C4%80"})
        assert called.status_code == 502 and "U+00FF" in called.text, called.text
        assert (await c.get("/hostile/latest/hello")).text == "hello from hostile"  # still serving
