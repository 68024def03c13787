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
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import free_port, running
from wasi_http import build_js_echo, build_python_echo, build_python_hello, build_tiny, wasmtime_serve

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
                                              "[limits]\ntimeout_ms = 5000\nmemory_mb = 128\n")
        args += ["-m", f"{name}:{copy}"]
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
