"""The Python guest SDK under plain CPython: router, extractors, middleware, static files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from wasmlet_guest import App, Body, CallNext, Headers, HostError, Json, Query, Request, Response
from wasmlet_guest._static import etag


@dataclass
class Person:
    name: str
    age: int


@pytest.fixture
def app(tmp_path: Path) -> App:
    app = App()
    (tmp_path / "static" / "sub").mkdir(parents=True)
    (tmp_path / "static" / "index.html").write_text("<h1>home</h1>")
    (tmp_path / "static" / "sub" / "page.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("no")
    app._base = str(tmp_path)
    app.static("/", "static/")

    @app.get("/hello/{name}")
    def hello(name: str) -> str:
        return f"hi {name}"

    @app.get("/num/:n")
    def num(n: int) -> str:
        return str(n * 2)

    @app.get("/files/*rest")
    def files(rest: str) -> str:
        return rest

    @app.get("/q")
    def q(query: Query) -> str:
        return ",".join(query.get_all("k"))

    @app.get("/h")
    def h(headers: Headers) -> str:
        return headers.get("X-Thing") or "none"

    @app.post("/person")
    def person(p: Json[Person]) -> Person:
        return p

    @app.post("/raw")
    def raw(body: Body, request: Request) -> bytes:
        return bytes(body) + request.method.encode()

    @app.route("/thing", methods=["PUT", "PATCH"])
    def thing() -> dict[str, str]:
        return {"changed": "yes"}

    @app.get("/made")
    def made() -> tuple[int, Response]:
        return 201, Response.text("created")

    return app


def get(app: App, path: str, **kw: object) -> Response:
    return app.handle(Request("GET", path, **kw))  # type: ignore[arg-type]


def test_path_parameters_and_patterns(app: App) -> None:
    assert get(app, "/hello/bob").body == b"hi bob"
    assert get(app, "/hello/a%20b").body == b"hi a b"
    assert get(app, "/num/21").body == b"42"
    assert get(app, "/num/x").status == 400
    assert get(app, "/files/a/b/c.txt").body == b"a/b/c.txt"


def test_query_keeps_repeated_keys_and_headers_are_case_insensitive(app: App) -> None:
    assert get(app, "/q?k=1&x=0&k=2&k=a%20b").body == b"1,2,a b"
    assert get(app, "/h", headers=[("x-thing", "yes")]).body == b"yes"


def test_json_extractor_and_responses(app: App) -> None:
    ok = app.handle(Request("POST", "/person", body=b'{"name":"a","age":3}'))
    assert (ok.status, ok.body, ok.header("content-type")) == (200, b'{"name":"a","age":3}', "application/json")
    assert app.handle(Request("POST", "/person", body=b"{")).status == 400
    missing = app.handle(Request("POST", "/person", body=b'{"name":"a"}'))
    assert missing.status == 400 and b"missing field `age`" in missing.body
    wrong = app.handle(Request("POST", "/person", body=b'{"name":"a","age":"x"}'))
    assert wrong.status == 400 and b"expected int" in wrong.body
    assert app.handle(Request("POST", "/raw", body=b"\x00\xff")).body == b"\x00\xffPOST"
    made = get(app, "/made")
    assert (made.status, made.body) == (201, b"created")


def test_unknown_route_is_404_and_wrong_method_is_405_with_allow(app: App) -> None:
    assert get(app, "/nope").status == 404
    resp = app.handle(Request("DELETE", "/thing"))
    assert resp.status == 405 and resp.header("allow") == "PUT, PATCH"
    assert app.handle(Request("PATCH", "/thing")).body == b'{"changed":"yes"}'


def test_static_files_with_index_content_type_and_etag(app: App) -> None:
    index = get(app, "/")
    assert index.body == b"<h1>home</h1>" and index.header("content-type") == "text/html; charset=utf-8"
    assert get(app, "/sub/page.css").header("content-type") == "text/css; charset=utf-8"
    tag = index.header("etag")
    assert tag == etag(b"<h1>home</h1>")
    again = get(app, "/", headers=[("if-none-match", tag)])
    assert (again.status, again.body) == (304, b"")
    head = app.handle(Request("HEAD", "/hello/x"))
    assert (head.status, head.body) == (200, b"")
    assert get(app, "/../secret.txt").status == 404
    assert get(app, "/sub/").status == 404


def test_etag_matches_the_rust_sdk() -> None:
    # the same FNV-1a tag the Rust SDK computes (guest-rust/src/static_files.rs)
    assert etag(b"") == '"cbf29ce484222325-0"'
    assert etag(b"a") == '"af63dc4c8601ec8c-1"'


def test_middleware_is_an_onion_and_can_short_circuit() -> None:
    app = App()
    trace: list[str] = []

    @app.middleware
    def outer(req: Request, call_next: CallNext) -> Response:
        trace.append("outer-in")
        resp = call_next(req)
        trace.append("outer-out")
        return resp

    @app.middleware
    def inner(req: Request, call_next: CallNext) -> Response:
        trace.append("inner-in")
        if req.header("x-block"):
            return Response.text("blocked", 403)
        resp = call_next(req)
        trace.append("inner-out")
        return resp

    @app.get("/")
    def root() -> str:
        return "ok"

    assert app.handle(Request("GET", "/")).body == b"ok"
    assert trace == ["outer-in", "inner-in", "inner-out", "outer-out"]
    trace.clear()
    assert app.handle(Request("GET", "/", headers=[("x-block", "1")])).status == 403
    assert trace == ["outer-in", "inner-in", "outer-out"]


def test_export_outside_a_component_is_a_clear_stub() -> None:
    world = App().export()
    with pytest.raises(RuntimeError, match="only inside a component"):
        world().handle(None)


def test_every_supported_parameter_kind_is_accepted_at_decoration() -> None:
    app = App()

    @app.post("/all/{a}/:b/*rest")
    def everything(a: int, b: str, rest: str, q: Query, j: Json[Person], h: Headers, body: Body, raw: bytes,
                   req: Request) -> str:
        return f"{a}|{b}|{rest}|{q.get('x')}|{j.name}|{h.get('x-h')}|{len(body)}|{len(raw)}|{req.method}"

    resp = app.handle(Request("POST", "/all/7/bee/c/d?x=1", headers=[("x-h", "hh")], body=b'{"name":"n","age":1}'))
    assert resp.body == b"7|bee|c/d|1|n|hh|20|20|POST"


def misspelt(nme: str) -> str:
    return nme


def unannotated(word) -> str:  # type: ignore[no-untyped-def]
    return str(word)


def bare_dataclass(p: Person) -> str:
    return p.name


def defaulted(x: int = 3) -> str:
    return str(x)


@pytest.mark.parametrize(("pattern", "handler", "fragments"), [
    ("/hello/{name}", misspelt, ["misspelt() for GET HEAD /hello/{name}", "parameter `nme`", "path parameters: name"]),
    ("/", unannotated, ["parameter `word`", "it has none", "Query, Json[T], Headers, Body or bytes, Request"]),
    ("/people", bare_dataclass, ["parameter `p`", "`p: Json[Person]`"]),
    ("/x/*rest", defaulted, ["parameter `x`", "path parameters: rest"]),
])
def test_a_parameter_no_request_can_fill_fails_at_decoration(pattern: str, handler: Any, fragments: list[str]) -> None:
    # Raised while the module is imported, i.e. while componentize-py builds the component,
    # instead of every request answering 500.
    with pytest.raises(TypeError) as info:
        App().get(pattern)(handler)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(("kind", "status"), [
    ("denied", 403), ("backend", 503), ("timeout", 503), ("not-found", 500), ("failed", 500),
])
def test_an_uncaught_host_error_is_a_json_response(kind: str, status: int) -> None:
    app = App()
    seen: list[int] = []

    @app.middleware
    def record(req: Request, call_next: CallNext) -> Response:
        resp = call_next(req)
        seen.append(resp.status)  # middleware sees the answer, not the exception
        return resp

    @app.get("/kv/{key}")
    def read(key: str) -> str:
        raise HostError(kind, f"store `default` for {key}")

    resp = app.handle(Request("GET", "/kv/k1"))
    assert (resp.status, resp.header("content-type")) == (status, "application/json")
    assert json.loads(resp.body) == {"error": "store `default` for k1", "kind": kind}
    assert resp.body == b'{"error":"store `default` for k1","kind":"%s"}' % kind.encode()  # the Rust SDK's bytes
    assert seen == [status]


def test_a_middleware_host_error_is_answered_and_other_exceptions_still_raise() -> None:
    app = App()

    @app.middleware
    def gate(req: Request, call_next: CallNext) -> Response:
        if req.header("x-gate"):
            raise HostError("denied", "kv store `sessions` is not granted")
        return call_next(req)

    @app.get("/boom")
    def boom() -> str:
        raise ValueError("a bug, not a hostcall")

    gated = app.handle(Request("GET", "/boom", headers=[("x-gate", "1")]))
    assert (gated.status, json.loads(gated.body)["kind"]) == (403, "denied")
    with pytest.raises(ValueError, match="a bug"):
        app.handle(Request("GET", "/boom"))
    head = app.handle(Request("HEAD", "/boom", headers=[("x-gate", "1")]))
    assert (head.status, head.body) == (403, b"")
