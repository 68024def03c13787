"""The Python guest SDK under plain CPython: router, extractors, middleware, static files, messages,
schedules and publishing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from wasmlet_guest import App, Body, CallNext, Headers, HostError, Json, Message, Query, Request, Response, Schedule, messaging
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


# ------------------------------------------------------------------ messages and schedules (contract 0.3.0)


@dataclass
class _Wire:
    """A stand-in for one componentize-py variant case or record: `value` and any fields."""

    value: Any = None


class _Msg:
    def __init__(self, source: str, subject: str, payload: Any, headers: list[tuple[str, str]], attempt: int,
                 id: str) -> None:
        self.source, self.subject, self.payload, self.headers, self.attempt, self.id = (
            source, subject, payload, headers, attempt, id)


@dataclass
class _Req:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: Any
    mount: str


def _wire_types() -> Any:
    """A stand-in for `wit_world.imports.types`: the classes `_component` checks and builds."""
    from types import SimpleNamespace

    names = ["Body_Text", "Body_Octets", "Body_Bytes", "Event_Http", "Event_Call", "Event_Message", "Event_Schedule"]
    return SimpleNamespace(**{n: type(n, (_Wire,), {}) for n in names})


def _events_app() -> tuple[App, list[str]]:
    app = App()
    seen: list[str] = []

    @app.middleware
    def never(req: Request, call_next: CallNext) -> Response:
        seen.append("middleware")
        return call_next(req)

    @app.message("orders.created")
    def created(msg: Message) -> None:
        seen.append(f"created {msg.text()}")

    @app.message("orders.*.shipped")
    def shipped(msg: Message) -> Response:
        return Response.text(f"shipped {msg.subject}")

    @app.message("orders.>")
    def other(msg: Message) -> tuple[int, str]:
        return 422, f"rest {msg.subject}"

    @app.message("orders.created")  # shadowed: the first registered match wins
    def second(msg: Message) -> str:
        return "never"

    @app.message("kv.>")
    def denied(msg: Message) -> None:
        raise HostError("denied", "kv store `default` is not granted")

    @app.message("json")
    def parsed(msg: Message) -> dict[str, Any]:
        return {"n": msg.json()["n"], "attempt": msg.attempt, "id": msg.id, "h": msg.header("X-Trace")}

    @app.schedule("nightly")
    def nightly(s: Schedule) -> None:
        seen.append(f"{s.name} {s.due_ms}")

    @app.schedule("broken")
    def broken(s: Schedule) -> tuple[int, str]:
        return 503, "try later"

    return app, seen


@pytest.mark.parametrize(("pattern", "subject", "matches"), [
    ("a.b", "a.b", True), ("a.b", "a.c", False), ("a.b", "a.b.c", False), ("a.b", "a", False),
    ("a.*", "a.b", True), ("a.*", "a.b.c", False), ("a.*", "a", False), ("*.b.*", "x.b.y", True),
    ("a.>", "a.b", True), ("a.>", "a.b.c.d", True), ("a.>", "a", False), (">", "anything.at.all", True),
    ("*.>", "a", False), ("*.>", "a.b", True),
])
def test_subject_patterns_match_as_nats_does(pattern: str, subject: str, matches: bool) -> None:
    from wasmlet_guest._events import subject_matches

    assert subject_matches(pattern, subject) is matches


def test_a_greater_than_before_the_last_token_fails_at_decoration() -> None:
    with pytest.raises(ValueError, match="may only be the last token"):
        App().message("a.>.b")


def test_messages_dispatch_by_subject_first_match_wins_and_skip_middleware() -> None:
    app, seen = _events_app()
    ok = app.handle_message(Message("nats", "orders.created", b"o-1"))
    assert (ok.status, ok.body) == (200, b"")
    assert seen == ["created o-1"]  # no middleware: it is HTTP middleware
    shipped = app.handle_message(Message(subject="orders.eu.shipped"))
    assert (shipped.status, shipped.body) == (200, b"shipped orders.eu.shipped")
    rest = app.handle_message(Message(subject="orders.eu.shipped.late"))
    assert (rest.status, rest.body) == (422, b"rest orders.eu.shipped.late")


def test_message_return_values_host_errors_and_no_handler() -> None:
    app, _ = _events_app()
    denied = app.handle_message(Message(subject="kv.read"))
    assert denied.status == 403
    assert json.loads(denied.body) == {"error": "kv store `default` is not granted", "kind": "denied"}
    missing = app.handle_message(Message(subject="payments.done"))
    assert (missing.status, json.loads(missing.body)) == (404, {"error": "no handler for message on payments.done"})
    parsed = app.handle_message(Message(subject="json", payload=b'{"n": 7}', headers=[("x-trace", "t")], attempt=3,
                                        id="m-9"))
    assert json.loads(parsed.body) == {"n": 7, "attempt": 3, "id": "m-9", "h": "t"}
    bad = app.handle_message(Message(subject="json", payload=b"{"))
    assert bad.status == 400 and json.loads(bad.body)["error"].startswith("invalid JSON payload: ")


def test_schedules_dispatch_by_name() -> None:
    app, seen = _events_app()
    assert app.handle_schedule(Schedule("nightly", 1_767_225_600_000)).status == 200
    assert seen == ["nightly 1767225600000"]
    assert app.handle_schedule(Schedule("broken", 0)).status == 503
    missing = app.handle_schedule(Schedule("hourly", 0))
    assert (missing.status, json.loads(missing.body)) == (404, {"error": "no handler for schedule hourly"})


def test_wire_events_are_dispatched_and_every_payload_byte_is_kept() -> None:
    from wasmlet_guest._component import handle_event

    types = _wire_types()
    app = App()
    got: list[Message] = []
    app.message(">")(got.append)
    app.schedule("tick")(lambda s: f"{s.name}@{s.due_ms}")
    app.get("/hi")(lambda: "hi")
    all_bytes = bytes(range(256))
    for body in (types.Body_Octets(all_bytes.decode("latin-1")), types.Body_Bytes(list(all_bytes))):
        event = types.Event_Message(_Msg("nats", "a.b", body, [("k", "v")], 2, "id-1"))
        assert handle_event(app, types, event).status == 200
    assert [m.payload for m in got] == [all_bytes, all_bytes]
    assert (got[0].source, got[0].subject, got[0].headers, got[0].attempt, got[0].id) == ("nats", "a.b", [("k", "v")],
                                                                                         2, "id-1")
    event = types.Event_Message(_Msg("nats", "t", types.Body_Text("héllo"), [], 1, "i"))
    handle_event(app, types, event)
    assert got[-1].payload == "héllo".encode()
    tick = handle_event(app, types, types.Event_Schedule(Schedule("tick", 5)))
    assert (tick.status, tick.body) == (200, b"tick@5")
    request = _Req("GET", "/hi", "", [], types.Body_Text(""), "/fn/latest")
    assert handle_event(app, types, types.Event_Http(request)).body == b"hi"


class _FakeErr(Exception):
    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


def test_publish_sends_a_body_and_maps_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmlet_guest import _host

    types = _wire_types()
    sent: list[tuple[Any, ...]] = []
    Error_Denied = type("Error_Denied", (_Wire,), {})
    Error_Failed = type("Error_Failed", (_Wire,), {})

    def publish(source: str, subject: str, payload: Any, headers: list[tuple[str, str]]) -> None:
        if subject == "denied.x":
            raise _FakeErr(Error_Denied("publish to denied.x on nats is not granted"))
        if subject == "failed.x":
            raise _FakeErr(Error_Failed("broker unreachable"))
        sent.append((source, subject, payload, headers))

    monkeypatch.setattr(_host, "INSIDE_COMPONENT", True)
    monkeypatch.setattr(_host, "_types", types, raising=False)
    monkeypatch.setattr(_host, "_Err", _FakeErr, raising=False)
    monkeypatch.setattr(_host, "_messaging", type("M", (), {"publish": staticmethod(publish)}), raising=False)
    messaging.publish("nats", "a.b", "héllo", [("k", "v")])
    messaging.publish("nats", "a.c", b"\x00\xff")
    assert [(s, subj, type(p).__name__, p.value, h) for s, subj, p, h in sent] == [
        ("nats", "a.b", "Body_Text", "héllo", [("k", "v")]),
        ("nats", "a.c", "Body_Octets", "\x00\xff", []),
    ]
    with pytest.raises(HostError) as denied:
        messaging.publish("nats", "denied.x", b"")
    assert (denied.value.kind, denied.value.status) == ("denied", 403)
    assert denied.value.message == "publish to denied.x on nats is not granted"
    with pytest.raises(HostError) as failed:
        messaging.publish("nats", "failed.x", b"")
    assert (failed.value.kind, failed.value.status) == ("failed", 500)


def test_publish_outside_a_component_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="only inside a component"):
        messaging.publish("nats", "a", b"x")
