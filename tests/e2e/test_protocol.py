"""Hostile clients and hostile guests against the HTTP layer (issue 10), grouped by threat.

Raw-socket tests talk to real `wasmlet dev` processes on loopback, under uvicorn
and hypercorn; responses are parsed with h11 as a client, so a forged response
is read exactly as a real keep-alive client would read it.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import anyio
import h11
import httpx
import pytest
from servers import free_port, running

from wasmlet.asgi import Host, HostSettings
from wasmlet.manifest import Manifest
from wasmlet.registry import MemoryRegistry
from wasmlet.runtime import Runtime

BODY_TIMEOUT_S = 1.5
HEADER_TIMEOUT_S = 1.5
KEEP_ALIVE_S = 1
FORGED = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 6\r\n\r\nforged"
HELLO = b"GET /hostile/latest/hello HTTP/1.1\r\nHost: t\r\n\r\n"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, object]:
        """The JSON error body, checked: status and request id match the response."""
        data = json.loads(self.body)
        assert data["status"] == self.status and data["request_id"] == self.headers["x-request-id"], data
        assert len(data["request_id"]) == 32 and data["error"]
        return dict(data)


@dataclass
class Server:
    kind: str
    port: int

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def read_replies(sock: socket.socket, methods: list[str]) -> list[Reply]:
    """Reads one response per method from `sock`, as an HTTP/1.1 client would (HEAD/204/304 have no body)."""
    conn = h11.Connection(h11.CLIENT)
    replies: list[Reply] = []
    for method in methods:
        conn.send(h11.Request(method=method, target="/", headers=[("host", "t")]))
        conn.send(h11.EndOfMessage())
        reply = Reply(0, {}, b"")
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    conn.receive_data(sock.recv(65536))
                except ConnectionResetError:
                    conn.receive_data(b"")
                continue
            if isinstance(event, h11.Response):
                reply.status = event.status_code
                reply.headers = {k.decode(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                reply.body += bytes(event.data)
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        if reply.status:
            replies.append(reply)
        if conn.their_state is not h11.DONE or conn.our_state is not h11.DONE:
            break
        conn.start_next_cycle()
    return replies


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the peer closes `sock` within `seconds` (whatever it sends first is read and dropped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


def respond(status: int, body: bytes = b"", headers: tuple[str, ...] = ()) -> str:
    """A target on the hostile guest that answers exactly this status, these headers and this body."""
    query = [f"status={status}"] + [f"h={quote(h, safe='')}" for h in headers] + [f"body={quote(body, safe='')}"]
    return "/hostile/latest/respond?" + "&".join(query)


@pytest.fixture(scope="module", params=["uvicorn", "hypercorn"])
def server(request: pytest.FixtureRequest, hostile_wasm: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`wasmlet dev` serving the hostile guest (max_concurrency 4) with short deadlines."""
    tmp = tmp_path_factory.mktemp(f"dev-{request.param}")
    wasm = tmp / "hostile.wasm"
    shutil.copy(hostile_wasm, wasm)
    (tmp / "hostile.toml").write_text("[limits]\nmax_concurrency = 4\n")
    config = tmp / "wasmlet.toml"
    config.write_text(f"[server]\nbody_timeout_ms = {int(BODY_TIMEOUT_S * 1000)}\n"
                      f"header_timeout_ms = {int(HEADER_TIMEOUT_S * 1000)}\nkeep_alive_s = {KEEP_ALIVE_S}\n")
    port = free_port()
    with running(["dev", "--bind", f"127.0.0.1:{port}", "-m", f"hostile:{wasm}", "--server", request.param,
                  "--config", str(config), "--no-access-log"],
                 f"http://127.0.0.1:{port}/_wasmlet/health", tmp / "dev.log"):
        yield Server(request.param, port)


def assert_serving(server: Server) -> None:
    """A fresh client still gets the real hello, quickly."""
    start = time.monotonic()
    resp = httpx.get(f"http://127.0.0.1:{server.port}/hostile/latest/hello", timeout=5)
    assert resp.status_code == 200 and resp.text == "hello from hostile"
    assert time.monotonic() - start < 1.0


# ---------------------------------------------------------------- 1. a guest forging the next response
@pytest.mark.parametrize("status", [204, 205, 304])
def test_bodiless_status_cannot_smuggle_a_response(server: Server, status: int) -> None:
    with server.connect() as sock:
        sock.sendall(f"GET {respond(status, FORGED)} HTTP/1.1\r\nHost: t\r\n\r\n".encode() + HELLO)
        first, second = read_replies(sock, ["GET", "GET"])
    assert first.status == status and first.body == b""
    assert second.status == 200 and second.body == b"hello from hostile"


def test_head_sends_the_headers_and_the_length_but_no_body(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(f"HEAD {respond(200, FORGED, ('x-kept:yes',))} HTTP/1.1\r\nHost: t\r\n\r\n".encode() + HELLO)
        first, second = read_replies(sock, ["HEAD", "GET"])
    assert first.status == 200 and first.headers["x-kept"] == "yes"
    assert first.headers["content-length"] == str(len(FORGED))
    assert second.status == 200 and second.body == b"hello from hostile"


@pytest.mark.parametrize("framing", ["content-length:0", "transfer-encoding:chunked", "content-length:5000",
                                     "connection:keep-alive"])
def test_guest_framing_headers_are_replaced_by_the_hosts(server: Server, framing: str) -> None:
    with server.connect() as sock:
        sock.sendall(f"GET {respond(200, FORGED, (framing,))} HTTP/1.1\r\nHost: t\r\n\r\n".encode() + HELLO)
        first, second = read_replies(sock, ["GET", "GET"])
    assert first.status == 200 and first.body == FORGED  # only ever the first response's body
    assert second.status == 200 and second.body == b"hello from hostile"


@pytest.mark.parametrize("status", [100, 101, 199, 600])
def test_status_outside_200_599_is_502_json(server: Server, status: int) -> None:
    target = respond(status, FORGED, ("upgrade:websocket", "connection:upgrade"))
    with server.connect() as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode() + HELLO)
        first, second = read_replies(sock, ["GET", "GET"])
    assert first.status == 502 and "invalid status" in str(first.error()["error"])
    assert second.status == 200 and second.body == b"hello from hostile"


# ---------------------------------------------------------------- 4. every error the host sends is JSON
@pytest.mark.parametrize("header", ["x-evil:a\x01b", "x-evil:a\r\nset-cookie: p=1", "x-evil:a\x7f", "x-evil:\x00"])
def test_guest_header_with_control_characters_is_502_json(server: Server, header: str) -> None:
    with server.connect() as sock:
        sock.sendall(f"GET {respond(200, b'x', (header,))} HTTP/1.1\r\nHost: t\r\n\r\n".encode() + HELLO)
        first, second = read_replies(sock, ["GET", "GET"])
    assert first.status == 502 and "invalid value" in str(first.error()["error"])
    assert second.status == 200 and second.body == b"hello from hostile"


def test_websocket_upgrade_is_refused_with_json(server: Server) -> None:
    upgrade = (b"GET /hostile/latest/hello HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    with server.connect() as sock:
        sock.sendall(upgrade)
        (reply,) = read_replies(sock, ["GET"])
    assert reply.status == 501 and "WebSocket" in str(reply.error()["error"])
    assert_serving(server)


def test_malformed_request_is_400(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /hostile/latest/hello HTTP/1.1\r\nHost: t\r\nbad header\x01: x\r\n\r\n")
        (reply,) = read_replies(sock, ["GET"])
    assert reply.status == 400
    if server.kind == "uvicorn":  # hypercorn answers its own protocol errors with an empty body
        reply.error()
    assert_serving(server)


# ---------------------------------------------------------------- 2. slow clients must not lock the server
def test_trickling_bodies_hold_no_slot_and_get_408(server: Server) -> None:
    socks: list[socket.socket] = []
    try:
        started = time.monotonic()
        for _ in range(40):  # ten times the function's max_concurrency of 4
            sock = server.connect()
            sock.sendall(b"POST /hostile/latest/hello HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nx")
            socks.append(sock)
        for _ in range(2):
            time.sleep(0.2)
            for sock in socks:
                sock.sendall(b"y")  # a byte now and then: alive, never done
        assert_serving(server)
        resp = httpx.post(f"http://127.0.0.1:{server.port}/hostile/latest/hello", content=b"z" * 1000, timeout=5)
        assert resp.status_code == 200
        for sock in socks:
            (reply,) = read_replies(sock, ["POST"])
            assert reply.status == 408 and "did not arrive" in str(reply.error()["error"])
            assert closed_within(sock, 2)
        waited = time.monotonic() - started
        assert BODY_TIMEOUT_S * 0.8 < waited < BODY_TIMEOUT_S + 3, waited
    finally:
        for sock in socks:
            sock.close()


def test_trickling_head_is_dropped_after_the_header_timeout(server: Server) -> None:
    limit = HEADER_TIMEOUT_S if server.kind == "uvicorn" else KEEP_ALIVE_S  # hypercorn: its keep-alive timer
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"GET /hostile/latest/hello HTTP/1.1\r\nHost: t\r\n")
        data = b""
        while time.monotonic() - started < limit + 3:
            try:
                sock.sendall(b"x-slow: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sock.settimeout(0.25)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            data += chunk
            if not chunk:
                break
        waited = time.monotonic() - started
    assert limit * 0.8 < waited < limit + 2, waited
    if server.kind == "uvicorn":
        assert data.startswith(b"HTTP/1.1 408 ") and b'"request_id"' in data
    assert_serving(server)


def test_idle_keep_alive_connection_is_closed(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(HELLO)
        (reply,) = read_replies(sock, ["GET"])
        assert reply.status == 200
        started = time.monotonic()
        assert closed_within(sock, KEEP_ALIVE_S + 2)
        assert time.monotonic() - started > KEEP_ALIVE_S * 0.8


# ---------------------------------------------------------------- 3. request header limits
def _send_head(server: Server, head: bytes) -> tuple[Reply | None, float]:
    """Sends a (large) request head in pieces, stopping when the server hangs up; its reply and how long."""
    started = time.monotonic()
    with server.connect() as sock:
        try:
            for at in range(0, len(head), 16384):
                sock.sendall(head[at:at + 16384])
        except (BrokenPipeError, ConnectionResetError):
            pass
        replies = read_replies(sock, ["GET"])
    return (replies[0] if replies else None), time.monotonic() - started


@pytest.mark.parametrize("shape", ["one 1 MB header", "200 headers", "1 MB request line"])
def test_oversized_heads_get_431(server: Server, shape: str) -> None:
    if shape == "one 1 MB header":
        head = b"GET /hostile/latest/hello HTTP/1.1\r\nHost: t\r\nx-big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    elif shape == "200 headers":
        head = b"GET /hostile/latest/hello HTTP/1.1\r\nHost: t\r\n" + b"".join(
            b"x-h%d: v\r\n" % i for i in range(200)) + b"\r\n"
    else:
        head = b"GET /hostile/latest/hello?" + b"q" * (1 << 20) + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    reply, took = _send_head(server, head)
    assert took < 2.0
    if server.kind == "hypercorn" and shape != "200 headers":
        assert reply is None or reply.status in (400, 431)  # h11's own cap: it may hang up before answering
    else:
        assert reply is not None and reply.status == 431
        reply.error()
    assert_serving(server)


# ---------------------------------------------------------------- 5. %2F never separates segments
@pytest.mark.parametrize(("target", "status", "body"), [
    ("/hostile%2Flatest/path/x", 404, None),
    ("/hostile%2flatest/path/x", 404, None),
    ("/hostile/lat%65st/path/x", 404, None),
    ("/%68ostile/latest/path/x", 404, None),
    ("/hostile/latest/path/a%2Fb", 200, b"/path/a/b"),
    ("/hostile/latest/path/%20sp%C3%A9", 200, "/path/ sp\u00e9".encode()),
])
def test_encoded_slash_routing(server: Server, target: str, status: int, body: bytes | None) -> None:
    with server.connect() as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        (reply,) = read_replies(sock, ["GET"])
    assert reply.status == status
    if body is None:
        reply.error()
    else:
        assert reply.body == body


# ---------------------------------------------------------------- 6. metrics are not public
def test_metrics_are_on_the_admin_api_only(tmp_path: Path, hostile_wasm: Path) -> None:
    port, admin_port = free_port(), free_port()
    base, admin = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin_port}",
            "--data-dir", str(tmp_path / "data"), "--no-access-log"]
    with running(args, f"{base}/_wasmlet/health", tmp_path / "serve.log", env={"WASMLET_ADMIN_TOKEN": "s3cret"}):
        token = {"authorization": "Bearer s3cret"}
        deployed = httpx.post(f"{admin}/v1/functions/hostile/versions", headers=token,
                              files={"component": ("c.wasm", hostile_wasm.read_bytes())}, data={"manifest": ""})
        assert deployed.status_code == 201
        assert httpx.get(f"{base}/hostile/latest/hello").status_code == 200
        public = httpx.get(f"{base}/_wasmlet/metrics")
        assert public.status_code == 404 and public.json()["request_id"] == public.headers["x-request-id"]
        assert httpx.get(f"{admin}/metrics").status_code == 401
        metrics = httpx.get(f"{admin}/metrics", headers=token)
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        assert 'wasmlet_requests_total{function="hostile",status="200",version="v1"} 1.0' in metrics.text


# ---------------------------------------------------------------- in-process: accounting, errors, logs
@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _host(runtime: Runtime, hostile_wasm: Path, **settings: object) -> Host:
    registry = MemoryRegistry()
    registry.put("hostile", hostile_wasm.read_bytes(), Manifest(max_concurrency=1))
    return Host(runtime, registry, HostSettings(max_in_flight=1, **settings))  # type: ignore[arg-type]


def _client(host: Host) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://t", timeout=10)


async def _stalled_post(host: Host, sent: list[dict[str, object]]) -> None:
    """A POST whose body never arrives: headers in, then nothing (the receive waits forever)."""
    scope = {"type": "http", "method": "POST", "path": "/hostile/latest/hello", "raw_path": b"/hostile/latest/hello",
             "query_string": b"", "headers": [(b"content-length", b"10")], "http_version": "1.1",
             "client": ("127.0.0.1", 1)}
    never = anyio.Event()

    async def receive() -> dict[str, object]:
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await host(scope, receive, send)


@pytest.mark.anyio
async def test_a_request_counts_against_limits_only_once_its_body_is_in(runtime: Runtime,
                                                                        hostile_wasm: Path) -> None:
    host = _host(runtime, hostile_wasm, body_timeout_ms=60_000)  # one slot for the host and for the function
    sent: list[dict[str, object]] = []
    async with anyio.create_task_group() as tg, _client(host) as c:
        for _ in range(3):
            tg.start_soon(_stalled_post, host, sent)
        await anyio.sleep(0.05)
        assert (await c.get("/hostile/latest/hello")).status_code == 200
        assert (await c.post("/hostile/latest/hello", content=b"0123456789")).status_code == 200
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_body_not_in_within_the_deadline_is_408_and_closes(runtime: Runtime, hostile_wasm: Path) -> None:
    host = _host(runtime, hostile_wasm, body_timeout_ms=200)
    sent: list[dict[str, object]] = []
    started = time.monotonic()
    await _stalled_post(host, sent)
    assert 0.15 < time.monotonic() - started < 2
    start, body = sent
    assert start["status"] == 408 and (b"connection", b"close") in start["headers"]  # type: ignore[operator]
    assert json.loads(body["body"])["status"] == 408  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_an_unexpected_host_error_is_a_logged_json_500(runtime: Runtime, hostile_wasm: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    host = _host(runtime, hostile_wasm)

    async def broken(version: object) -> object:
        raise RuntimeError("boom")

    host.functions.compiled_for = broken  # type: ignore[method-assign,assignment]
    async with _client(host) as c:
        resp = await c.get("/hostile/latest/hello")
    assert resp.status_code == 500 and resp.json()["request_id"] == resp.headers["x-request-id"]
    assert "boom" not in resp.text
    assert any(resp.headers["x-request-id"] in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.anyio
async def test_public_metrics_switch(runtime: Runtime, hostile_wasm: Path) -> None:
    async with _client(_host(runtime, hostile_wasm, public_metrics=True)) as c:
        resp = await c.get("/_wasmlet/metrics")
        assert resp.status_code == 200 and "wasmlet_process_id" in resp.text
    async with _client(_host(runtime, hostile_wasm)) as c:
        assert (await c.get("/_wasmlet/metrics")).status_code == 404


# ---------------------------------------------------------------- 7. the access log cannot be forged
@pytest.mark.anyio
async def test_access_log_escapes_control_characters(runtime: Runtime, hostile_wasm: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wasmlet.access")
    forged = "%0a127.0.0.1%20%22GET%20/admin%22%20200%200%200.1ms%0d%1b[2J"
    async with _client(_host(runtime, hostile_wasm)) as c:
        await c.get(f"/hostile/latest/path/{forged}")
        await c.get(f"/nope{forged}/latest/x")
    lines = [r.getMessage() for r in caplog.records if r.name == "wasmlet.access"]
    assert len(lines) == 2
    for line in lines:
        assert not any(ch in line for ch in "\n\r\x1b"), line
        assert "\\n127.0.0.1" in line
