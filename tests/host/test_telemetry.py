"""OpenTelemetry traces: the span tree of a request, trace context in and out, request ids, and OTLP export."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from servers import eventually, free_port, running

from wasmlet import telemetry
from wasmlet.asgi import Host, HostSettings
from wasmlet.capabilities._traced import _backend, _verb
from wasmlet.capabilities.backends import Backends
from wasmlet.config import TelemetryConfig
from wasmlet.manifest import Grants, Manifest
from wasmlet.registry import MemoryRegistry
from wasmlet.runtime import Runtime

pytestmark = pytest.mark.anyio

SECRET = "s3cret-value"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    telemetry.start(SimpleSpanProcessor(exporter), "wasmlet-test")
    try:
        yield exporter
    finally:
        telemetry.shutdown()




def make_host(runtime: Runtime, probe: Path, tmp_path: Path, upstream: int = 0) -> Host:
    """`caller` may call `callee` and reach the upstream; `callee` may use the default kv store."""
    registry = MemoryRegistry()
    wasm = probe.read_bytes()
    allowed = (f"http://127.0.0.1:{upstream}",) if upstream else ()
    registry.put("caller", wasm, Manifest(grants=Grants(modules=("callee",), allowed_hosts=allowed)))
    registry.put("callee", wasm, Manifest(grants=Grants(kv=("default",))))
    return Host(runtime, registry, HostSettings(worker_threads=4), Backends(tmp_path))


def client(host: Host) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://test", timeout=30)


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = [s for s in finished if s.name == name]
    assert len(found) == 1, [s.name for s in finished]
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def assert_no_secrets(finished: tuple[ReadableSpan, ...], *secrets: str) -> None:
    for span in finished:
        for key, value in (span.attributes or {}).items():
            for secret in secrets:
                assert secret not in str(value), (span.name, key, value)


async def test_span_tree_of_a_module_call_with_a_kv_hostcall(runtime: Runtime, probe_wasm: dict[str, Path],
                                                             tmp_path: Path, spans: InMemorySpanExporter) -> None:
    inner = quote(f"/kv?op=set&key=user-key&value={SECRET}", safe="")
    async with client(make_host(runtime, probe_wasm["rust"], tmp_path)) as c:
        resp = await c.get(f"/caller/latest/call?module=callee&path={inner}")
    assert resp.status_code == 200 and resp.text == "200 ok", resp.text
    finished = spans.get_finished_spans()
    request = by_name(finished, "GET /{function}/{version}")
    caller = by_name(finished, "invoke caller")
    call = by_name(finished, "modules.call")
    callee = by_name(finished, "invoke callee")
    kv = by_name(finished, "kv.set")
    assert len(finished) == 5
    assert {s.context.trace_id for s in finished} == {request.context.trace_id}
    assert request.parent is None
    assert parent_of(caller) == request.context.span_id
    assert parent_of(call) == caller.context.span_id
    assert parent_of(callee) == call.context.span_id
    assert parent_of(kv) == callee.context.span_id

    rid = resp.headers["x-request-id"]
    assert request.attributes == {"http.request.method": "GET", "wasmlet.request_id": rid,
                                  "http.response.status_code": 200, "http.route": "/{function}/{version}",
                                  "wasmlet.function": "caller", "wasmlet.version": "dev"}
    assert caller.attributes is not None and callee.attributes is not None
    assert caller.attributes["wasmlet.request_id"] == callee.attributes["wasmlet.request_id"] == rid
    assert caller.attributes["wasmlet.dispatch"] == "thread"  # granted modules: never an inline attempt
    assert caller.attributes["wasmlet.outcome"] == callee.attributes["wasmlet.outcome"] == "ok"
    assert isinstance(caller.attributes["wasmlet.cache_hit"], bool)
    assert callee.attributes["wasmlet.dispatch"] == "caller-thread" and callee.attributes["wasmlet.depth"] == 1
    assert call.attributes == {"wasmlet.module": "callee", "wasmlet.hostcall.operation": "call",
                               "http.request.method": "GET", "wasmlet.outcome": "ok",
                               "http.response.status_code": 200}
    assert kv.attributes == {"wasmlet.hostcall.label": "default", "wasmlet.hostcall.backend": "sqlite",
                             "wasmlet.hostcall.operation": "set", "wasmlet.outcome": "ok"}
    assert_no_secrets(finished, SECRET, "user-key")


async def test_hostcall_errors_and_inline_attempts(runtime: Runtime, probe_wasm: dict[str, Path], tmp_path: Path,
                                                   spans: InMemorySpanExporter) -> None:
    async with client(make_host(runtime, probe_wasm["rust"], tmp_path)) as c:
        denied = await c.get("/caller/latest/kv?op=get&key=k")  # the caller is granted no kv store
        hello = await c.get("/callee/latest/hello")
    assert denied.status_code == 403 and hello.status_code == 200
    finished = spans.get_finished_spans()
    kv = by_name(finished, "kv.get")
    assert kv.attributes is not None and kv.attributes["wasmlet.outcome"] == "denied"
    assert kv.status.status_code.name == "ERROR"
    callee = by_name(finished, "invoke callee")  # granted only kv, but /hello used none: still not attempted
    assert callee.attributes is not None and callee.attributes["wasmlet.dispatch"] == "thread"


async def test_inline_attempt_is_recorded(runtime: Runtime, hostile_wasm: Path, spans: InMemorySpanExporter) -> None:
    registry = MemoryRegistry()
    registry.put("hostile", hostile_wasm.read_bytes())
    async with client(Host(runtime, registry)) as c:
        assert (await c.get("/hostile/latest/hello")).status_code == 200
    invocation = by_name(spans.get_finished_spans(), "invoke hostile")
    assert invocation.attributes is not None and invocation.attributes["wasmlet.dispatch"] == "inline"
    assert invocation.attributes["wasmlet.inline_overrun"] is False


async def test_inbound_traceparent_is_continued(runtime: Runtime, probe_wasm: dict[str, Path], tmp_path: Path,
                                                spans: InMemorySpanExporter) -> None:
    async with client(make_host(runtime, probe_wasm["rust"], tmp_path)) as c:
        resp = await c.get("/callee/latest/hello", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        fresh = await c.get("/callee/latest/hello", headers={"traceparent": "00-not-a-valid-header-01"})
    assert resp.status_code == fresh.status_code == 200
    requests = [s for s in spans.get_finished_spans() if s.name.startswith("GET")]
    continued, started = requests
    assert f"{continued.context.trace_id:032x}" == TRACE_ID
    assert continued.parent is not None and f"{continued.parent.span_id:016x}" == PARENT_ID
    assert continued.parent.is_remote
    assert started.parent is None and f"{started.context.trace_id:032x}" != TRACE_ID


async def test_outbound_traceparent_is_injected(runtime: Runtime, probe_wasm: dict[str, Path], tmp_path: Path,
                                                upstream: int, spans: InMemorySpanExporter) -> None:
    url = quote(f"http://user:pw@127.0.0.1:{upstream}/echo-headers?token={SECRET}", safe="")
    async with client(make_host(runtime, probe_wasm["rust"], tmp_path, upstream)) as c:
        resp = await c.get(f"/caller/latest/http?url={url}",
                           headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert resp.status_code == 200, resp.text
    status, _, body = resp.text.partition(" ")
    seen = json.loads(body)
    send = by_name(spans.get_finished_spans(), "outbound_http.send")
    assert seen["traceparent"] == f"00-{TRACE_ID}-{send.context.span_id:016x}-01"
    assert send.kind.name == "CLIENT"
    assert send.attributes == {"http.request.method": "GET", "wasmlet.hostcall.operation": "send",
                               "url.scheme": "http", "server.address": "127.0.0.1", "server.port": upstream,
                               "wasmlet.outcome": "ok", "http.response.status_code": 200}
    assert_no_secrets(spans.get_finished_spans(), SECRET, "pw", "echo-headers")


async def test_request_id_kept_when_valid(runtime: Runtime, probe_wasm: dict[str, Path], tmp_path: Path) -> None:
    async with client(make_host(runtime, probe_wasm["rust"], tmp_path)) as c:
        for sent, kept in (("abc-123.X_y", True), ("a" * 64, True), ("a" * 65, False), ("bad id!", False),
                           ("", False), ("é", False)):
            resp = await c.get("/callee/latest/hello", headers={"x-request-id": sent.encode("latin-1")})
            rid = resp.headers["x-request-id"]
            assert (rid == sent) is kept, (sent, rid)
            if not kept:
                assert len(rid) == 32
        missing = await c.get("/nope/latest/")
        assert missing.status_code == 404 and len(missing.headers["x-request-id"]) == 32


def test_settings_from_file_and_environment() -> None:
    on, off = TelemetryConfig(enabled=True), TelemetryConfig()
    assert not telemetry.wanted(off, {}) and telemetry.wanted(on, {})
    assert telemetry.wanted(off, {"OTEL_TRACES_EXPORTER": "otlp"})
    assert not telemetry.wanted(on, {"OTEL_TRACES_EXPORTER": "none"})
    assert not telemetry.wanted(on, {"OTEL_SDK_DISABLED": "true"})
    with pytest.raises(telemetry.TelemetryError):
        telemetry.wanted(off, {"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(telemetry.TelemetryError):
        telemetry.wanted(on, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert not telemetry.setup(off, {}) and not telemetry.active()


def test_sql_spans_name_the_verb_only() -> None:
    assert _verb(f"  select * from users where name = '{SECRET}'") == "SELECT"
    assert _verb("WITH x AS (SELECT 1) SELECT * FROM x") == "WITH"
    assert _verb("/* comment */ DELETE FROM t") == "OTHER" and _verb("") == "OTHER"
    assert _backend({"main": {"type": "postgres", "url": f"postgresql://u:{SECRET}@db/x"}}, "main") == "postgres"
    assert _backend({}, "default") == "sqlite" and _backend({}, "other") == "none"


def test_off_by_default_imports_nothing() -> None:
    import subprocess

    code = ("import sys, wasmlet.asgi, wasmlet.cli, wasmlet.functions; "
            "print(any(m.startswith('opentelemetry') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---------------------------------------------------------------- end to end
class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: decodes each `POST /v1/traces` and keeps its spans."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.services: set[str] = set()
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        import gzip

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        data = self.rfile.read(int(self.headers["content-length"]))
        if self.headers.get("content-encoding") == "gzip":
            data = gzip.decompress(data)
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        export = ExportTraceServiceRequest.FromString(data)
        for resource in export.resource_spans:
            for attr in resource.resource.attributes:
                if attr.key == "service.name":
                    self.server.services.add(attr.value.string_value)
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.server.spans.append({"name": span.name, "trace": span.trace_id.hex(),
                                              "id": span.span_id.hex(), "parent": span.parent_span_id.hex()})
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_dev_exports_spans_over_otlp(probe_wasm: dict[str, Path], tmp_path: Path) -> None:
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        for name, manifest in (("caller", '[modules]\nallowed = ["callee"]\n'), ("callee", '[kv]\nstores = ["default"]\n')):
            shutil.copy(probe_wasm["rust"], tmp_path / f"{name}.wasm")
            (tmp_path / f"{name}.toml").write_text(manifest)
        port = free_port()
        env = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SERVICE_NAME": "wasmlet-e2e", "OTEL_BSP_SCHEDULE_DELAY": "100",
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.server_address[1]}"}
        args = ["dev", "--bind", f"127.0.0.1:{port}", "--no-access-log", "-m", "caller:caller.wasm",
                "-m", "callee:callee.wasm"]
        inner = quote("/kv?op=set&key=k&value=v", safe="")
        with running(args, f"http://127.0.0.1:{port}/_wasmlet/health", tmp_path / "dev.log", env=env, cwd=tmp_path):
            resp = httpx.get(f"http://127.0.0.1:{port}/caller/latest/call?module=callee&path={inner}",
                             headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}, timeout=30)
            assert resp.status_code == 200 and resp.text == "200 ok", resp.text
            names = {"GET /{function}/{version}", "invoke caller", "modules.call", "invoke callee", "kv.set"}
            assert eventually(lambda: names <= {s["name"] for s in receiver.spans}, timeout=20), receiver.spans
    finally:
        receiver.shutdown()
        receiver.server_close()
    spans = {s["name"]: s for s in receiver.spans if s["trace"] == TRACE_ID}
    assert receiver.services == {"wasmlet-e2e"}
    assert spans["GET /{function}/{version}"]["parent"] == PARENT_ID
    for child, parent in (("invoke caller", "GET /{function}/{version}"), ("modules.call", "invoke caller"),
                          ("invoke callee", "modules.call"), ("kv.set", "invoke callee")):
        assert spans[child]["parent"] == spans[parent]["id"], (child, spans)
