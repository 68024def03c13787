"""The hello-world function, once per language: the Rust, Python and TypeScript builds answer every
route identically.

The routes are checked in process through `wasmlet.testing` (the production host, no socket);
one test keeps a real `wasmlet dev` to check the same function over the wire."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import free_port, running

from wasmlet import Runtime
from wasmlet.testing import FunctionHarness

LANGS = ["rust", "python", "js"]


@pytest.fixture(scope="module")
def hello(hello_wasm: dict[str, Path], runtime: Runtime) -> Iterator[dict[str, FunctionHarness]]:
    with contextlib.ExitStack() as stack:
        yield {lang: stack.enter_context(FunctionHarness(hello_wasm[lang], name=f"hello-{lang}", runtime=runtime))
               for lang in LANGS}


def fetch(hello: dict[str, FunctionHarness], lang: str, method: str, path: str, **kw: object) -> httpx.Response:
    return hello[lang].client.request(method, path, **kw)  # type: ignore[arg-type]


CASES = [
    ("GET", "/", {}),
    ("GET", "/subdir/page2.html", {}),
    ("GET", "/api/capitalize/hello-world", {}),
    ("GET", "/api/echo-query?name=cattchen&age=21", {}),
    ("POST", "/api/echo-person", {"json": {"name": "cattchen", "age": 21}}),
    ("POST", "/api/echo-person", {"content": b'{"name": "cattchen", '}),
    ("POST", "/api/echo-person", {"content": b'{"name": "cattchen"}'}),
    ("GET", "/no/such/route", {}),
    ("DELETE", "/api/echo-person", {}),
    ("POST", "/api/echo-bytes", {"content": bytes(range(256))}),
]


@pytest.mark.parametrize("lang", LANGS)
def test_every_byte_value_crosses_both_ways_through_the_sdk(hello: dict[str, FunctionHarness], lang: str) -> None:
    """Binary bodies travel as `octets` (one code point per byte) both ways: no byte may change."""
    import random

    rng = random.Random(1)
    payloads = [bytes(range(256)), bytes(range(255, -1, -1)) * 3, b"\x00", b"\xff", b"\xc3\x28", b"ok\x80",
                "é".encode() + b"\xe9", rng.randbytes(1 << 20), bytes(rng.choice([0x00, 0x7f, 0x80, 0xc2, 0xc3, 0xff])
                                                                    for _ in range(4096))]
    for payload in payloads:
        resp = fetch(hello, lang, "POST", "/api/echo-bytes", content=payload)
        assert resp.status_code == 200 and resp.content == payload, (lang, payload[:16])
        assert resp.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("lang", LANGS)
def test_hello_routes(hello: dict[str, FunctionHarness], lang: str) -> None:
    index = fetch(hello, lang, "GET", "/")
    assert index.status_code == 200 and index.headers["content-type"] == "text/html; charset=utf-8"
    assert './subdir/page2.html' in index.text
    page2 = fetch(hello, lang, "GET", "/subdir/page2.html")
    assert page2.status_code == 200 and "Page 2" in page2.text
    assert fetch(hello, lang, "GET", "/", headers={"if-none-match": index.headers["etag"]}).status_code == 304
    assert fetch(hello, lang, "GET", "/api/capitalize/hello-world").text == "HELLO-WORLD"
    echo = fetch(hello, lang, "GET", "/api/echo-query?name=cattchen&age=21").json()
    assert echo == {"name": "cattchen", "age": "21"}
    person = fetch(hello, lang, "POST", "/api/echo-person", json={"name": "cattchen", "age": 21})
    assert person.json() == {"name": "cattchen", "age": 21}
    assert person.headers["content-type"] == "application/json"
    bad = fetch(hello, lang, "POST", "/api/echo-person", content=b'{"name": ')
    assert bad.status_code == 400 and bad.json()["error"].startswith("invalid JSON body")
    missing = fetch(hello, lang, "GET", "/no/such/route")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not found", "path": "/no/such/route"}
    wrong_method = fetch(hello, lang, "DELETE", "/api/echo-person")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    no_age = fetch(hello, lang, "POST", "/api/echo-person", content=b'{"name": "cattchen"}')
    assert no_age.status_code == 400 and "age" in no_age.json()["error"]


@pytest.mark.parametrize(("method", "path", "kw"), CASES, ids=[f"{m} {p}" for m, p, _ in CASES])
def test_every_language_answers_identically(hello: dict[str, FunctionHarness], method: str, path: str,
                                            kw: dict[str, object]) -> None:
    rust, *others = (fetch(hello, lang, method, path, **kw) for lang in LANGS)
    for lang, other in zip(LANGS[1:], others):
        assert rust.status_code == other.status_code, lang
        for header in ("content-type", "etag", "allow"):
            assert rust.headers.get(header) == other.headers.get(header), (lang, header)
        if rust.status_code == 400:  # the parser's own words differ; the kind of error does not
            assert rust.json()["error"].split(":")[0] == other.json()["error"].split(":")[0], lang
        else:
            assert rust.content == other.content, lang


def test_wasmlet_dev_serves_hello_over_a_real_socket(hello_wasm: dict[str, Path],
                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    """The server itself: a real `wasmlet dev` process serving both builds on a loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("hello") / "dev.log"
    modules = [arg for lang in LANGS for arg in ("-m", f"hello-{lang}:{hello_wasm[lang]}")]
    with running(["dev", "--bind", f"127.0.0.1:{port}", *modules], f"{url}/_wasmlet/health", log):
        for lang in LANGS:
            index = httpx.get(f"{url}/hello-{lang}/latest/", timeout=30)
            assert index.status_code == 200 and index.headers["x-request-id"]
            again = httpx.get(f"{url}/hello-{lang}/latest/", headers={"if-none-match": index.headers["etag"]},
                              timeout=30)
            assert again.status_code == 304 and again.content == b""
            assert httpx.get(f"{url}/hello-{lang}/latest/api/capitalize/over-the-wire", timeout=30).text == \
                "OVER-THE-WIRE"
