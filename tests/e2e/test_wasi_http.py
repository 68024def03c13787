"""Standard wasi:http components built by componentize-py, componentize-js and by hand, served by
`wasmlet dev` and by the reference host (`wasmtime serve`), asked the same and compared.

Each component is unmodified: wasmlet mounts it at /<name>/dev/ and hands it the path below the
mount, so it answers there exactly as under `wasmtime serve` at /. Its manifest governs it as it
governs a wasmlet function: outbound HTTP only to granted origins, its deadline and memory limit.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import WASMLET, eventually, free_port, running
from wasi_http import build_js_echo, build_python_echo, build_python_hello, build_tiny, wasmtime_serve

DEV_LOG: list[Path] = []
"""The `wasmlet dev` log of this module's server, for tests that look for what the host said."""
BUILDERS = {"tiny": build_tiny, "pyhello": build_python_hello, "pyecho": build_python_echo, "jsecho": build_js_echo}
ECHOES = ["pyecho", "jsecho"]


@pytest.fixture(scope="module")
def components() -> dict[str, Path]:
    return {name: build() for name, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def wasmlet_dev(components: dict[str, Path], upstream: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `wasmlet dev` serving every component; the echoes may reach the upstream's /ok only."""
    tmp = tmp_path_factory.mktemp("wasi-http")
    args = ["dev", "--port", str(port := free_port())]
    for name, wasm in components.items():
        copy = tmp / f"{name}.wasm"
        copy.write_bytes(wasm.read_bytes())
        if name in ECHOES:
            (tmp / f"{name}.toml").write_text(f'[outbound_http]\nallowed_hosts = ["http://127.0.0.1:{upstream}"]\n'
                                              "[limits]\ntimeout_ms = 3000\nmemory_mb = 128\n")
        args += ["-m", f"{name}:{copy}"]
    DEV_LOG.append(tmp / "dev.log")
    with running(args, f"http://127.0.0.1:{port}/_wasmlet/health", tmp / "dev.log", ready_timeout=180):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def reference(components: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`wasmtime serve` for each component (its defaults: a fresh instance per request)."""
    exe = str(wasmtime_serve())
    tmp = tmp_path_factory.mktemp("wasmtime-serve")
    urls: dict[str, str] = {}
    procs = []
    try:
        for name, wasm in components.items():
            port = free_port()
            log = tmp / f"{name}.log"
            cm = running(["serve", "-Scli", "--addr", f"127.0.0.1:{port}", str(wasm)], f"http://127.0.0.1:{port}/",
                         log, command=[exe], ready_timeout=180)
            cm.__enter__()
            procs.append(cm)
            urls[name] = f"http://127.0.0.1:{port}"
        yield urls
    finally:
        for cm in reversed(procs):
            cm.__exit__(None, None, None)


def both(wasmlet_dev: str, reference: dict[str, str], name: str, method: str, path: str,
         **kw: object) -> tuple[httpx.Response, httpx.Response]:
    ours = httpx.request(method, f"{wasmlet_dev}/{name}/dev{path}", timeout=60, **kw)  # type: ignore[arg-type]
    theirs = httpx.request(method, f"{reference[name]}{path}", timeout=60, **kw)  # type: ignore[arg-type]
    return ours, theirs


def same_headers(a: httpx.Response, b: httpx.Response) -> None:
    """The guest's own headers are the same (each host adds its own date, request id, length)."""
    skip = {"date", "x-request-id", "content-length", "transfer-encoding", "server", "connection"}
    assert sorted((k, v) for k, v in a.headers.multi_items() if k not in skip) == \
        sorted((k, v) for k, v in b.headers.multi_items() if k not in skip)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_hello_answers_as_under_wasmtime_serve(wasmlet_dev: str, reference: dict[str, str], name: str) -> None:
    ours, theirs = both(wasmlet_dev, reference, name, "GET", "/")
    assert ours.status_code == theirs.status_code == 200
    assert ours.content == theirs.content == b"Hello, World!\n"
    same_headers(ours, theirs)
    assert ours.headers["x-request-id"]  # wasmlet's own guarantees still apply


@pytest.mark.parametrize("name", ECHOES)
def test_echo_method_path_query_headers_and_body(wasmlet_dev: str, reference: dict[str, str], name: str) -> None:
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH"]:
        body = b"" if method in ("GET", "DELETE") else f"body of {method} \xe9".encode() + bytes(range(256))
        ours, theirs = both(wasmlet_dev, reference, name, method, "/echo?a=1&b=%20two&a=3",
                            headers={"x-one": "1", "x-Two": "deux", "accept": "*/*"}, content=body)
        assert ours.status_code == theirs.status_code == 200, (ours.text, theirs.text)
        assert ours.content == theirs.content == body
        seen = json.loads(ours.headers["x-echo"])
        assert seen == json.loads(theirs.headers["x-echo"])
        assert seen["method"] == method and seen["path"] == "/echo" and seen["query"] == "a=1&b=%20two&a=3"
        assert ["x-one", "1"] in seen["headers"] and ["x-two", "deux"] in seen["headers"]
        same_headers(ours, theirs)


@pytest.mark.parametrize("name", ECHOES)
@pytest.mark.parametrize("status", [201, 204, 302, 404, 418, 500, 503])
def test_status_codes(wasmlet_dev: str, reference: dict[str, str], name: str, status: int) -> None:
    ours, theirs = both(wasmlet_dev, reference, name, "GET", f"/status/{status}", follow_redirects=False)
    assert ours.status_code == theirs.status_code == status
    assert ours.content == theirs.content  # no body after 204, as the reference does


def test_a_response_the_guest_breaks_fails_as_under_wasmtime_serve(wasmlet_dev: str,
                                                                   reference: dict[str, str]) -> None:
    ours, theirs = both(wasmlet_dev, reference, "jsecho", "GET", "/bad-204")
    assert ours.status_code == theirs.status_code == 500
    assert ours.json()["request_id"] == ours.headers["x-request-id"]  # wasmlet's JSON error


def test_the_path_reaches_the_guest_as_the_client_sent_it(wasmlet_dev: str, reference: dict[str, str]) -> None:
    """Not decoded: an encoded `?` must not become a query (a proxy in front matches paths too)."""
    for path in ["/echo%3Fsecret=1", "/ech%6F"]:
        ours, theirs = both(wasmlet_dev, reference, "pyecho", "GET", path)
        assert ours.status_code == theirs.status_code == 404, path
    ours, theirs = both(wasmlet_dev, reference, "pyecho", "GET", "/echo?a=%3F")
    assert json.loads(ours.headers["x-echo"])["query"] == json.loads(theirs.headers["x-echo"])["query"] == "a=%3F"


def test_repeated_headers(wasmlet_dev: str, reference: dict[str, str]) -> None:
    ours, theirs = both(wasmlet_dev, reference, "pyecho", "GET", "/headers")
    assert ours.headers.get_list("x-many") == theirs.headers.get_list("x-many") == ["a", "b"]
    same_headers(ours, theirs)


@pytest.mark.parametrize("name", ECHOES)
def test_ten_megabyte_body_streams_both_ways(wasmlet_dev: str, reference: dict[str, str], name: str,
                                             tmp_path: Path) -> None:
    big = os.urandom(10 * 1024 * 1024)

    def pieces() -> Iterator[bytes]:
        for at in range(0, len(big), 256 * 1024):
            yield big[at:at + 256 * 1024]

    digests = []
    for url in (f"{wasmlet_dev}/{name}/dev/echo", f"{reference[name]}/echo"):
        with httpx.stream("POST", url, content=pieces(), timeout=120,
                          headers={"content-type": "application/octet-stream"}) as resp:
            assert resp.status_code == 200
            h = hashlib.sha256()
            for chunk in resp.iter_bytes():
                h.update(chunk)
            digests.append(h.hexdigest())
    assert digests[0] == digests[1] == hashlib.sha256(big).hexdigest()


def test_ten_megabytes_written_by_the_guest(wasmlet_dev: str, reference: dict[str, str]) -> None:
    ours, theirs = both(wasmlet_dev, reference, "pyecho", "GET", "/stream?mb=10")
    assert ours.status_code == theirs.status_code == 200
    assert len(ours.content) == 10 * 1024 * 1024 and ours.content == theirs.content


@pytest.mark.parametrize("name", ECHOES)
def test_outbound_call_granted_and_denied(wasmlet_dev: str, reference: dict[str, str], name: str,
                                          upstream: int) -> None:
    allowed = f"http://127.0.0.1:{upstream}/ok"
    ours, theirs = both(wasmlet_dev, reference, name, "GET", "/outbound", params={"url": allowed})
    assert ours.status_code == theirs.status_code == 200
    assert ours.text == theirs.text == "upstream ok GET"
    # the same server by another name is another origin, which the manifest does not grant: wasmlet
    # refuses it (the guest sees HTTP-request-denied), wasmtime serve, with no allow-list, sends it
    ours, theirs = both(wasmlet_dev, reference, name, "GET", "/outbound",
                        params={"url": f"http://localhost:{upstream}/ok"})
    assert theirs.status_code == 200 and theirs.text == "upstream ok GET"
    assert ours.status_code == 502 and "upstream ok" not in ours.text
    if name == "pyecho":
        assert ours.text == "error: HttpRequestDenied\n"


# ------------------------------------------------------------------ hostile guests, same guarantees

def test_a_guest_that_waits_or_spins_past_its_deadline_is_stopped(wasmlet_dev: str) -> None:
    for path in ["/sleep?ms=600000", "/spin"]:
        started = time.monotonic()
        resp = httpx.get(f"{wasmlet_dev}/pyecho/dev{path}", timeout=60)
        assert resp.status_code == 504, resp.text
        assert time.monotonic() - started < 6  # timeout_ms = 3000
        assert resp.json()["request_id"] == resp.headers["x-request-id"]
    assert httpx.get(f"{wasmlet_dev}/pyecho/dev/").status_code == 200


def test_host_memory_is_bounded_by_the_guests_limits(wasmlet_dev: str) -> None:
    # writing zeroes costs the guest nothing: the host holds one piece at a time, streams the rest,
    # and stops the guest at its deadline, cutting the response off
    received = 0
    with pytest.raises(httpx.RemoteProtocolError):  # never a complete body
        with httpx.stream("GET", f"{wasmlet_dev}/pyecho/dev/flood", params={"mb": 100_000}, timeout=60) as flood:
            assert flood.status_code == 200
            for chunk in flood.iter_raw():
                received += len(chunk)
    assert 0 < received < 100_000 * 1024 * 1024
    huge = httpx.get(f"{wasmlet_dev}/pyecho/dev/random", params={"n": 1 << 40}, timeout=60)
    assert huge.status_code == 500
    assert httpx.get(f"{wasmlet_dev}/pyecho/dev/random", params={"n": 64}).text == "64"


def test_a_guest_cannot_forge_host_log_lines(wasmlet_dev: str) -> None:
    forged = '2026-12-08 05:20:40,000 INFO wasmlet.access: 10.9.9.9 "DELETE /billing" 200 2 1.0ms fn=billing/v7'
    resp = httpx.get(f"{wasmlet_dev}/pyecho/dev/forge", params={"line": forged}, timeout=30)
    assert resp.status_code == 500
    assert eventually(lambda: "trap after the forged line" in DEV_LOG[-1].read_text())
    assert not any(line.startswith(forged[:40]) for line in DEV_LOG[-1].read_text().splitlines())


def test_exit_is_a_failure_and_the_host_keeps_serving(wasmlet_dev: str) -> None:
    resp = httpx.get(f"{wasmlet_dev}/pyecho/dev/exit", timeout=60)
    assert resp.status_code == 500 and "exited" in resp.json()["error"]
    assert httpx.get(f"{wasmlet_dev}/pyecho/dev/").status_code == 200


def test_no_environment_files_or_network(wasmlet_dev: str) -> None:
    seen = httpx.get(f"{wasmlet_dev}/pyecho/dev/world", timeout=60).json()
    assert seen["env"] == {} and seen["argv"] == []
    assert seen["root"].startswith("FileNotFoundError") and seen["etc"].startswith("FileNotFoundError")
    assert seen["connect"].startswith("PermissionError")  # socket creation answers access-denied


# ------------------------------------------------------------------ registry and CLI

def test_deploy_inspect_and_list_a_wasi_http_component(components: dict[str, Path], tmp_path: Path) -> None:
    data, port, admin = tmp_path / "data", free_port(), free_port()
    env = {**os.environ, "WASMLET_ADMIN_TOKEN": "s3cret", "WASMLET_ADMIN_URL": f"http://127.0.0.1:{admin}"}
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}", "--data-dir", str(data)]
    with running(args, f"http://127.0.0.1:{port}/_wasmlet/health", tmp_path / "serve.log", env=env):
        client = httpx.Client(base_url=f"http://127.0.0.1:{admin}", headers={"authorization": "Bearer s3cret"},
                              timeout=120)

        def deploy(name: str, wasm: bytes, manifest: str = "") -> httpx.Response:
            return client.post(f"/v1/functions/{name}/versions", data={"manifest": manifest},
                               files={"component": ("c.wasm", wasm, "application/wasm")})

        tiny = components["tiny"].read_bytes()
        assert deploy("tiny", tiny, "[limits]\ntimeout_ms = 1000\n").status_code == 201
        hello = httpx.get(f"http://127.0.0.1:{port}/tiny/latest/")
        assert hello.status_code == 200 and hello.text == "Hello, World!\n"
        # a standard component answers HTTP only: triggers are refused with the reason
        refused = deploy("tiny", tiny, '[[triggers.schedule]]\nname = "tick"\ncron = "* * * * *"\n')
        assert refused.status_code == 422 and "HTTP requests only" in refused.json()["error"]
        # a broken one is refused before anything is stored
        broken = deploy("tiny", tiny[: len(tiny) // 2])
        assert broken.status_code == 422
        listing = client.get("/v1/functions").json()["functions"]["tiny"]
        assert [(v["version"], v["world"]) for v in listing["versions"]] == [("v1", "wasi-http")]
        ls = subprocess.run(WASMLET + ["ls"], env=env, capture_output=True, text=True, timeout=60)
        assert ls.returncode == 0 and "tiny\tv1\t" in ls.stdout and "\twasi-http\t" in ls.stdout
    inspect = subprocess.run(WASMLET + ["inspect", str(components["tiny"])], capture_output=True, text=True,
                             timeout=120)
    assert inspect.returncode == 0
    assert "world: wasi:http/proxy (exports wasi:http/incoming-handler@0.2.0" in inspect.stdout


# ------------------------------------------------------------------ streamed responses

def test_a_large_response_streams_as_the_guest_writes_it(wasmlet_dev: str) -> None:
    started = time.monotonic()
    arrivals = []
    with httpx.stream("GET", f"{wasmlet_dev}/pyecho/dev/slow-stream", params={"n": 6, "ms": 400},
                      timeout=30) as resp:
        assert resp.status_code == 200 and "content-length" not in resp.headers  # chunked: sent as it comes
        assert resp.headers["x-request-id"]
        total = 0
        for chunk in resp.iter_raw():
            total += len(chunk)
            arrivals.append(time.monotonic() - started)
    assert total == 6 * 131072
    assert arrivals[0] < 1.2 < arrivals[-1]  # the first piece came while the guest was still writing


def test_a_large_request_body_reaches_the_guest_as_it_arrives(wasmlet_dev: str) -> None:
    """The host reads the first 64 KiB before the guest runs, the guest the rest as it comes."""
    def trickled() -> Iterator[bytes]:
        yield b"a" * 100_000
        time.sleep(1.5)  # the guest waits for the rest, inside its deadline
        yield b"b" * 100_000

    started = time.monotonic()
    resp = httpx.post(f"{wasmlet_dev}/pyecho/dev/echo", content=trickled(), timeout=30)
    assert resp.status_code == 200 and resp.content == b"a" * 100_000 + b"b" * 100_000
    assert time.monotonic() - started >= 1.5
    # past max_body_bytes while streaming: the guest's read fails (HTTP-request-body-size) and it
    # answers as it chooses; the host keeps serving
    def endless() -> Iterator[bytes]:
        for _ in range(200):
            yield b"z" * 1_000_000

    over = httpx.post(f"{wasmlet_dev}/pyecho/dev/echo", content=endless(), timeout=30)
    assert over.status_code == 500  # the echo does not catch the stream error: it traps
    assert httpx.get(f"{wasmlet_dev}/pyecho/dev/").status_code == 200


def test_a_client_that_stops_sending_cannot_hold_the_guest_past_its_deadline(wasmlet_dev: str) -> None:
    import socket

    port = int(wasmlet_dev.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /pyecho/dev/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n"
                     + b"x" * 100_000)  # then nothing more
        sock.settimeout(10)
        started = time.monotonic()
        head = sock.recv(65536)
        assert time.monotonic() - started < 6  # timeout_ms = 3000
    assert head.startswith(b"HTTP/1.1 504")


def test_a_client_that_does_not_read_cannot_hold_the_guest_past_its_deadline(wasmlet_dev: str) -> None:
    import socket

    port = int(wasmlet_dev.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /pyecho/dev/stream?mb=500 HTTP/1.1\r\nhost: x\r\nx-request-id: slow-reader-1\r\n\r\n")
        time.sleep(4.5)  # timeout_ms = 3000: the guest, blocked on the client, is stopped by then
        assert httpx.get(f"{wasmlet_dev}/pyecho/dev/", timeout=10).status_code == 200
        log = DEV_LOG[-1].read_text()
        cut = [line for line in log.splitlines() if "slow-reader-1" in line and "cut off after" in line]
        assert cut and "timed out after 3000 ms" in cut[0]  # stopped at its deadline, the response never completed
