"""`wasmlet.testing`: a compiled function in process through the production host — examples in both
languages, limits and grants as in production, mocks that cannot widen the manifest, recorded calls,
isolated stores, module stubs, the build cache and the pytest plugin."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
from guests import CARGO_TARGET, ROOT, unavailable

import wasmlet.testing._build as harness_build
from wasmlet import BodyText, EventCall, EventHttp, Manifest, Request, Response, Runtime, Timeout
from wasmlet.asgi import Host
from wasmlet.bindings.faas import ModuleCall
from wasmlet.capabilities.backends import Backends
from wasmlet.registry import MemoryRegistry
from wasmlet.scaffold import scaffold
from wasmlet.testing import BuildError, FunctionHarness, LogLine, source_digest

API = "https://api.example.com"
GRANTS = f"""
[kv]
stores = ["default"]
[outbound_http]
allowed_hosts = ["{API}"]
[modules]
allowed = ["pricing", "pyprobe"]
"""
ORDER = {"order_id": 1, "product_id": 12, "quantity": 2, "amount": 56.0, "shipping": 15.0, "tax": 2.0,
         "shipping_address": "Mataderos 2312"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def probe(runtime: Runtime, probe_wasm: dict[str, Path], lang: str = "rust", manifest: str = GRANTS,
          **options: object) -> FunctionHarness:
    return FunctionHarness(probe_wasm[lang], name="probe", manifest=Manifest.from_toml(manifest), runtime=runtime,
                           **options)  # type: ignore[arg-type]


# ------------------------------------------------------------ both languages

@pytest.mark.parametrize("lang", ["rust", "python"])
def test_orders_example_from_its_source_folder(runtime: Runtime, orders_wasm: dict[str, Path], tmp_path: Path,
                                               lang: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A source folder with its own function.toml, built through the harness cache (the prebuilt fixture
    warms cargo's target dir and componentize-py's cache), on a temporary SQLite database."""
    monkeypatch.setenv("CARGO_TARGET_DIR", str(CARGO_TARGET))
    src = ROOT / ("guest-rust" if lang == "rust" else "guest-python") / "examples" / "orders"
    with FunctionHarness(src, config={"database": "default"}, runtime=runtime, build_dir=tmp_path / "cache") as fn:
        assert fn.name == "orders" and fn.url == "http://testserver/orders/latest/"
        assert fn.manifest.grants.sql == ("default",)  # the folder's function.toml
        assert fn.client.get("/init").json() == {"status": "initialized"}
        assert fn.client.get("/orders").json() == []
        assert fn.client.post("/create_orders", json=[ORDER]).json() == {"created": 1}
        assert fn.client.get("/orders").json() == [ORDER]
        assert fn.sql_rows("SELECT order_id, shipping_address FROM orders") == [
            {"order_id": 1, "shipping_address": "Mataderos 2312"}]
        data = Path(fn.backends.data_dir)
        assert (data / "sql-default.sqlite3").is_file()
    assert not data.exists(), "the temporary stores outlive the harness"


@pytest.mark.parametrize("lang", ["rust", "python"])
def test_ungranted_sql_is_denied_as_in_production(runtime: Runtime, orders_wasm: dict[str, Path], lang: str) -> None:
    with FunctionHarness(orders_wasm[lang], name="orders", config={"database": "default"}, runtime=runtime) as fn:
        resp = fn.client.get("/init")
        assert resp.status_code == 403 and "denied" in resp.text


@pytest.mark.parametrize("lang", ["rust", "python"])
def test_config_merges_over_the_manifest(runtime: Runtime, probe_wasm: dict[str, Path], lang: str) -> None:
    manifest = '[config]\ngreeting = "from manifest"\nplace = "kept"\n'
    with probe(runtime, probe_wasm, lang, manifest, config={"greeting": "from harness", "extra": "x"}) as fn:
        assert "from harness" in fn.client.get("/config?key=greeting").text
        assert "kept" in fn.client.get("/config?key=place").text
        assert "x" in fn.client.get("/config?key=extra").text
        denied = fn.client.get("/config?key=HOME")
        assert denied.status_code == 403 and "denied" in denied.text
    with pytest.raises(TypeError, match="strings"):
        probe(runtime, probe_wasm, lang, manifest, config={"port": 80})


def test_a_wasm_file_takes_the_manifest_beside_it(runtime: Runtime, probe_wasm: dict[str, Path],
                                                  tmp_path: Path) -> None:
    wasm = tmp_path / "greeter.wasm"
    shutil.copy(probe_wasm["rust"], wasm)
    (tmp_path / "greeter.toml").write_text('[config]\ngreeting = "beside"\n')
    with FunctionHarness(wasm, runtime=runtime) as fn:
        assert fn.name == "greeter" and fn.mount == "/greeter/latest"
        assert fn.client.get("/info").text == "GET /info ? mount=/greeter/latest"
        assert "beside" in fn.client.get("/config?key=greeting").text


# ------------------------------------------------------------ limits as in production

def test_a_guest_past_its_timeout_gets_the_production_504(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    manifest = "[limits]\ntimeout_ms = 300\nmax_body_bytes = 16\n"
    registry = MemoryRegistry()
    registry.put("probe", probe_wasm["rust"].read_bytes(), Manifest.from_toml(manifest))
    with probe(runtime, probe_wasm, "rust", manifest) as fn:
        harnessed = fn.client.get("/loop")

    async def from_production() -> httpx.Response:
        host = Host(runtime, registry)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://t") as c:
            return await c.get("/probe/latest/loop")

    real = anyio.run(from_production)
    assert harnessed.status_code == real.status_code == 504
    assert {k: v for k, v in harnessed.json().items() if k != "request_id"} == \
        {k: v for k, v in real.json().items() if k != "request_id"} == {"error": "probe timed out after 300 ms",
                                                                          "status": 504}
    assert harnessed.headers["x-request-id"] == harnessed.json()["request_id"]


def test_body_limit_and_invalid_responses_as_in_production(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    with probe(runtime, probe_wasm, "rust", "[limits]\nmax_body_bytes = 16\n") as fn:
        assert fn.client.post("/echo", content=b"x" * 17).status_code == 413
        assert fn.client.post("/echo", content=b"x" * 16).content == b"x" * 16
        assert fn.client.get("/bad-status").status_code == 502
        assert fn.client.get("/panic").status_code == 500
        assert fn.client.get("/hello").text == "hello from rust"  # the host kept serving


def test_invoke_runs_non_http_events_under_the_same_limits(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    with probe(runtime, probe_wasm, "rust", "[limits]\ntimeout_ms = 200\n") as fn:
        call = EventCall(ModuleCall("billing", Request("GET", "/info", "a=1", [], BodyText(""), "/probe/v9")))
        resp = fn.invoke(call)
        assert isinstance(resp, Response) and resp.status == 200
        assert resp.body == BodyText("GET /info ?a=1 mount=/probe/v9")
        with pytest.raises(Timeout):
            fn.invoke(EventHttp(Request("GET", "/loop", "", [], BodyText(""), fn.mount)))
        assert fn.client.get("/hello").status_code == 200


# ------------------------------------------------------------ outbound HTTP

@pytest.mark.parametrize("lang", ["rust", "python"])
def test_a_mocked_call_is_answered_and_recorded(runtime: Runtime, probe_wasm: dict[str, Path], lang: str) -> None:
    with probe(runtime, probe_wasm, lang) as fn:
        mock = fn.mock_http("GET", f"{API}/v1/price", json={"price": 42}, headers={"x-upstream": "mock"})
        resp = fn.client.get(f"/http?url={API}/v1/price?sku=a%26b")
        assert resp.status_code == 200 and resp.text == '200 {"price": 42}'
        [call] = fn.outbound_calls
        assert (call.function, call.method, call.url, call.status, call.mocked) == \
            ("probe", "GET", f"{API}/v1/price?sku=a&b", 200, True)
        assert call.header("host") == "api.example.com" and call.body == b""
        assert mock.calls == [call] and fn.unmocked_calls == []


@pytest.mark.parametrize("lang", ["rust", "python"])
def test_an_ungranted_host_is_denied_even_when_mocked(runtime: Runtime, probe_wasm: dict[str, Path],
                                                      lang: str) -> None:
    with probe(runtime, probe_wasm, lang) as fn:
        evil = fn.mock_http("*", "https://evil.example.com/steal", body="should never be served")
        other_port = fn.mock_http("GET", "https://api.example.com:8443/x", body="nor this")
        for url in ("https://evil.example.com/steal", "https://api.example.com:8443/x", "http://api.example.com/x"):
            resp = fn.client.get("/http", params={"url": url})
            assert resp.status_code == 403 and "denied" in resp.text and "never" not in resp.text, url
        assert fn.outbound_calls == [] and evil.calls == [] and other_port.calls == []


def test_a_redirect_to_an_ungranted_host_is_denied_and_a_granted_one_followed(runtime: Runtime,
                                                                               probe_wasm: dict[str, Path]) -> None:
    with probe(runtime, probe_wasm) as fn:
        fn.mock_http("GET", f"{API}/away", status=302, headers={"location": "https://evil.example.com/x"})
        fn.mock_http("GET", "https://evil.example.com/x", body="leaked")
        fn.mock_http("GET", f"{API}/moved", status=301, headers={"location": "/here"})
        fn.mock_http("GET", f"{API}/here", body="arrived")
        away = fn.client.get(f"/http?url={API}/away")
        assert away.status_code == 403 and "evil.example.com" in away.text and "leaked" not in away.text
        assert fn.client.get(f"/http?url={API}/moved").text == "200 arrived"
        assert [c.url for c in fn.outbound_calls] == [f"{API}/away", f"{API}/moved", f"{API}/here"]


def test_an_unmocked_granted_call_fails_clearly(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    with probe(runtime, probe_wasm) as fn:
        fn.mock_http("GET", f"{API}/known", body="ok")
        resp = fn.client.get(f"/http?url={API}/unknown")
        assert resp.status_code == 502 and "no mock for GET https://api.example.com/unknown" in resp.text
        [call] = fn.unmocked_calls
        assert call.status is None and not call.mocked and "mock_http" in (call.error or "")


def test_handler_mocks_newest_wins_and_failures(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    with probe(runtime, probe_wasm) as fn:
        fn.mock_http("GET", f"{API}/echo", body="older")
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(201, text=f"q={request.url.params.get('q')}")

        fn.mock_http("GET", f"{API}/echo", handler=handler)
        assert fn.client.get("/http", params={"url": f"{API}/echo?q=1"}).text == "201 q=1"
        assert seen[0].method == "GET" and seen[0].headers["host"] == "api.example.com"
        fn.mock_http("*", re.compile(r"https://api\.example\.com/boom.*"),
                     handler=lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")))
        boom = fn.client.get(f"/http?url={API}/boom")
        assert boom.status_code == 502 and "ConnectError" in boom.text and "refused" in boom.text

        def slow(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("upstream too slow")

        fn.mock_http("GET", f"{API}/slow", handler=slow)
        assert "timeout" in fn.client.get(f"/http?url={API}/slow").text
        assert [c.status for c in fn.outbound_calls] == [201, None, None]
    with pytest.raises(ValueError, match="not both"):
        with probe(runtime, probe_wasm) as fn:
            fn.mock_http("GET", f"{API}/x", json={}, body="also")
    with pytest.raises(ValueError, match="absolute"):
        with probe(runtime, probe_wasm) as fn:
            fn.mock_http("GET", "/relative", body="x")


# ------------------------------------------------------------ kv, sql, logs

@pytest.mark.parametrize("lang", ["rust", "python"])
def test_kv_contents_are_visible(runtime: Runtime, probe_wasm: dict[str, Path], lang: str) -> None:
    with probe(runtime, probe_wasm, lang) as fn:
        assert fn.kv() == {}
        for key, value in (("user:1", "ada"), ("user:2", "bob")):
            assert fn.client.get(f"/kv?op=set&key={key}&value={value}").text == "ok"
        assert fn.client.get("/kv?op=delete&key=user:2").text == "ok"
        assert fn.kv() == {"user:1": b"ada"}
        denied = fn.client.get("/kv?op=set&store=secret&key=k&value=v")
        assert denied.status_code == 403  # a store the manifest does not grant stays denied


def test_two_harnesses_share_no_kv_or_sql(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    manifest = GRANTS + '[sql]\ndatabases = ["default"]\n'
    with probe(runtime, probe_wasm, "python", manifest) as a, probe(runtime, probe_wasm, "python", manifest) as b:
        assert a.client.get("/kv?op=set&key=k&value=from-a").text == "ok"
        assert b.kv() == {} and a.kv() == {"k": b"from-a"}
        create = {"db": "default", "statement": "CREATE TABLE t (x INTEGER)"}
        assert a.client.post("/sql", json=create).status_code == 200
        query = {"db": "default", "statement": "SELECT x FROM t", "query": True}
        assert a.client.post("/sql", json=query).json() == []
        missing = b.client.post("/sql", json=query)
        assert missing.status_code == 502 and "no such table" in missing.text
        assert a.backends.data_dir != b.backends.data_dir


def test_real_backends_can_be_passed(runtime: Runtime, probe_wasm: dict[str, Path], tmp_path: Path) -> None:
    backends = Backends(tmp_path / "mine")
    with probe(runtime, probe_wasm, backends=backends) as fn:
        assert fn.client.get("/kv?op=set&key=kept&value=1").text == "ok"
    assert (tmp_path / "mine" / "kv-default.sqlite3").is_file()  # not removed: the caller's stores
    config = tmp_path / "wasmlet.toml"
    config.write_text('[kv.cache]\ntype = "sqlite"\npath = "cache-file.sqlite3"\n')
    with probe(runtime, probe_wasm, "rust", GRANTS.replace('["default"]', '["cache"]'), backends=config) as fn:
        assert fn.client.get("/kv?op=set&store=cache&key=a&value=1").text == "ok"
        assert fn.kv("cache") == {"a": b"1"}
        assert (Path(fn.backends.data_dir) / "cache-file.sqlite3").is_file()


@pytest.mark.parametrize("lang", ["rust", "python"])
def test_logs_are_captured_per_harness(runtime: Runtime, probe_wasm: dict[str, Path], lang: str) -> None:
    with probe(runtime, probe_wasm, lang) as a, probe(runtime, probe_wasm, lang) as b:
        assert a.client.get("/log").text == "logged"
        [line] = a.logs
        assert isinstance(line, LogLine) and (line.level, line.message, line.function, line.stream) == \
            ("info", "hello from the probe", "probe", "log")
        assert b.logs == []
        a.clear_records()
        assert a.logs == []


def test_log_flood_is_capped_and_escaped_as_in_production(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    with probe(runtime, probe_wasm, "python", "[limits]\nmax_log_lines = 5\n") as fn:
        assert fn.client.get("/log-flood?n=50").text == "logged 50"
        lines = fn.logs
        assert len([ln for ln in lines if ln.stream == "log"]) == 5
        assert all("\n" not in ln.message and "\x1b" not in ln.message for ln in lines)
        assert any(ln.stream == "host" and "dropped" in ln.message for ln in lines)


# ------------------------------------------------------------ modules

def test_a_module_stub_is_called(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    seen: list[Request] = []

    def pricing(request: Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"path": request.path})

    with probe(runtime, probe_wasm, modules={"pricing": pricing}) as fn:
        resp = fn.client.get("/call?module=pricing&path=/quote")
        assert resp.text == '201 {"path":"/quote"}'  # httpx's compact JSON
        assert seen[0].mount == "/pricing/latest" and seen[0].method == "GET"
        [record] = fn.module_calls
        assert (record.caller, record.module, record.status, record.stub) == ("probe", "pricing/latest", 201, True)
        fn.add_module("billing", pricing)  # served, but the manifest does not allow it
        denied = fn.client.get("/call?module=billing&path=/x")
        assert denied.status_code == 403 and len(seen) == 1


def test_a_stub_that_raises_or_returns_garbage_fails_the_call(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    def broken(request: Request) -> Response:
        raise RuntimeError("stub bug")

    garbage = lambda request: "not a response"  # noqa: E731
    with probe(runtime, probe_wasm, modules={"pricing": broken, "pyprobe": garbage}) as fn:  # type: ignore[dict-item]
        first = fn.client.get("/call?module=pricing&path=/")
        assert first.status_code == 502 and "RuntimeError: stub bug" in first.text
        second = fn.client.get("/call?module=pyprobe&path=/")
        assert second.status_code == 502 and "expected wasmlet.Response" in second.text
        assert [c.status for c in fn.module_calls] == [None, None]


def test_a_module_can_be_another_harness(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    with probe(runtime, probe_wasm, "python", config={"greeting": "from pyprobe"}) as callee:
        callee.mock_http("GET", f"{API}/callee-only", body="callee's mock")
        with probe(runtime, probe_wasm, "rust", modules={"pyprobe": callee}) as fn:
            assert fn.client.get("/call?module=pyprobe&path=/hello").text == "200 hello from python"
            assert fn.module_calls[0].status == 200 and not fn.module_calls[0].stub
            via = fn.client.get("/call", params={"module": "pyprobe", "path": f"/http?url={API}/callee-only"})
            assert via.text == "200 200 callee's mock"  # the callee's requests meet the callee's mocks
            assert [c.function for c in callee.outbound_calls] == ["pyprobe"] and fn.outbound_calls == []
            with pytest.raises(ValueError, match="already served"):
                fn.add_module("pyprobe", callee)
    with pytest.raises(TypeError, match="expected a FunctionHarness"):
        probe(runtime, probe_wasm, modules={"pricing": 42})


# ------------------------------------------------------------ clients

@pytest.mark.anyio
async def test_async_client_and_sync_client_in_an_async_test(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    with probe(runtime, probe_wasm) as fn:
        async with fn.async_client() as client:
            results: list[str] = []

            async def one() -> None:
                results.append((await client.get("/hello")).text)

            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(one)
            assert results == ["hello from rust"] * 8
        assert fn.client.get("/hello").text == "hello from rust"  # on its own loop, from inside this one
        assert len(fn.logs) == 0


def test_a_closed_harness_refuses_requests_and_removed_its_stores(runtime: Runtime,
                                                                   probe_wasm: dict[str, Path]) -> None:
    fn = probe(runtime, probe_wasm)
    assert fn.client.get("/kv?op=set&key=a&value=b").text == "ok"
    data = Path(fn.backends.data_dir)
    fn.close()
    fn.close()  # idempotent
    assert not data.exists()
    with pytest.raises(RuntimeError):
        fn.client.get("/hello")


def test_clear_errors_for_bad_sources(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such"):
        FunctionHarness(tmp_path / "nothing.wasm", runtime=runtime)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BuildError, match="no Cargo.toml"):
        FunctionHarness(tmp_path / "empty", runtime=runtime)
    (tmp_path / "Bad Name.wasm").write_bytes(b"\0asm\x0d\0\x01\0")
    with pytest.raises(ValueError, match="pass name="):
        FunctionHarness(tmp_path / "Bad Name.wasm", runtime=runtime)
    (tmp_path / "text.wasm").write_text("(component)")
    with pytest.raises(Exception, match="text.wasm.*not a WebAssembly binary"):
        FunctionHarness(tmp_path / "text.wasm", runtime=runtime)


# ------------------------------------------------------------ build cache

def _rust_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from wasmlet.build import find_rust

    try:
        find_rust()
    except BuildError as exc:
        unavailable(str(exc))
    monkeypatch.setenv("CARGO_TARGET_DIR", str(CARGO_TARGET))
    return scaffold("rust", "cached", tmp_path)


def test_the_build_cache_reuses_the_component(runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _rust_function(tmp_path, monkeypatch)
    (src / "function.toml").write_text("[limits]\ntimeout_ms = 1234\n")
    cache = tmp_path / "cache"
    built: list[Path] = []
    real_build = harness_build.build

    def counting(src: Path, out: Path, **kwargs: object) -> Path:
        built.append(out)
        return real_build(src, out, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(harness_build, "build", counting)
    with FunctionHarness(src, runtime=runtime, build_dir=cache) as first:
        assert first.client.get("/hello/cache").text == "Hello, cache!"
        assert first.manifest.timeout_ms == 1234  # function.toml of the folder
    with FunctionHarness(src, runtime=runtime, build_dir=cache) as second:
        assert second.wasm_path == first.wasm_path
        assert second.client.get("/hello/again").text == "Hello, again!"
    assert len(built) == 1, "the second harness rebuilt an unchanged source"
    digest = source_digest(src)
    (src / "integration").mkdir(exist_ok=True)
    (src / "integration" / "test_more.py").write_text("def test_x() -> None: ...\n")
    (src / "target").mkdir(exist_ok=True)
    (src / "target" / "junk.txt").write_text("build output")
    assert source_digest(src) == digest, "tests and build output must not change the component's key"
    lib = src / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace('"Hello, {}!"', '"Howdy, {}!"'))
    assert source_digest(src) != digest
    with FunctionHarness(src, runtime=runtime, build_dir=cache) as third:
        assert third.client.get("/hello/you").text == "Howdy, you!"
    assert len(built) == 2


def test_a_rust_build_failure_carries_the_compiler_output(runtime: Runtime, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    src = _rust_function(tmp_path, monkeypatch)
    lib = src / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("fn hello(", "fn hello( this is not rust"))
    with pytest.raises(BuildError) as caught:
        FunctionHarness(src, runtime=runtime, build_dir=tmp_path / "cache")
    message = str(caught.value)
    assert "for wasmlet.testing failed" in message and "error" in message and "lib.rs" in message
    assert not list((tmp_path / "cache").glob("*.wasm")), "a failed build left a component in the cache"


def test_a_python_build_failure_carries_the_traceback(runtime: Runtime, tmp_path: Path) -> None:
    if shutil.which("componentize-py") is None and not (Path(sys.executable).parent / "componentize-py").exists():
        unavailable("componentize-py is not installed")
    src = tmp_path / "broken"
    src.mkdir()
    (src / "app.py").write_text("from wasmlet_guest import App\napp = App()\ndef broken(:\n    pass\n")
    with pytest.raises(BuildError) as caught:
        FunctionHarness(src, runtime=runtime, build_dir=tmp_path / "cache")
    assert "SyntaxError" in str(caught.value) and "app.py" in str(caught.value)


# ------------------------------------------------------------ pytest plugin

def test_the_pytest_fixture_from_the_entry_point(probe_wasm: dict[str, Path], tmp_path: Path) -> None:
    """A user's test file with no conftest: the `wasmlet_function` fixture comes from the `pytest11`
    entry point, and the harness it made is closed at teardown."""
    (tmp_path / "test_user.py").write_text(f'''
from pathlib import Path

import pytest

WASM = Path({str(probe_wasm["rust"])!r})
made = []


def test_uses_the_fixture(wasmlet_function):
    fn = wasmlet_function(WASM, name="probe", manifest={{"kv": {{"stores": ["default"]}}}})
    made.append(fn)
    assert fn.client.get("/hello").text == "hello from rust"
    assert fn.client.get("/kv?op=set&key=a&value=1").text == "ok"
    assert fn.kv() == {{"a": b"1"}}


def test_the_harness_was_closed_at_teardown():
    with pytest.raises(RuntimeError, match="closed"):
        made[0].client.get("/hello")
''')
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    env["WASMLET_HARNESS_CACHE"] = str(tmp_path / "cache")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 passed" in proc.stdout

