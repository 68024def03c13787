"""`wasi:http/types` and `outgoing-handler` for one invocation.

The incoming request is the one wasmlet routed (path below the function's mount); the response the
guest sets is collected into a wasmlet `Response`, so everything after the guest (wire policing,
access log, metrics) is the same as for wasmlet functions. Outgoing requests go through the
function's allow-listed outbound HTTP (`capabilities/outbound_http.py`): its grants apply per hop,
under the invocation's deadline and response size cap. A request is sent when the guest first asks
for its response, so a body written after `handle` is called is sent with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from wasmlet.bindings._abi import Err, Ok, Result

from .._streaming import STREAM_AFTER
from ..bindings import faas
from ..bindings import wasi_http as w
from ..bodies import body_bytes, body_from_bytes
from ..capabilities import InvocationContext
from ._io import READY, Budget, InputStream, IoError, OutputStream, Pollable, Sink

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # fullmatch: `$` would let a final newline in
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
MAX_FIELDS_BYTES = 64 * 1024
"""Header data one `fields` may hold (names and values): more than any HTTP peer takes, and what
`entries` hands the guest in one call costs the host about 70 bytes a byte (one C value per byte)."""
FORBIDDEN = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host",
                       "http2-settings"})
"""Headers a guest may not set: the connection's framing is the host's."""

_METHODS: dict[str, w.Method] = {
    "GET": w.MethodGet(), "HEAD": w.MethodHead(), "POST": w.MethodPost(), "PUT": w.MethodPut(),
    "DELETE": w.MethodDelete(), "CONNECT": w.MethodConnect(), "OPTIONS": w.MethodOptions(),
    "TRACE": w.MethodTrace(), "PATCH": w.MethodPatch(),
}


def method_of(name: str) -> w.Method:
    return _METHODS.get(name.upper(), w.MethodOther(name))


def method_name(method: w.Method) -> str:
    return method.value if isinstance(method, w.MethodOther) else method.tag.upper()


class Fields:
    """`fields`: header names lower-case, order and duplicates kept; immutable once part of a
    request or response the host made."""

    def __init__(self, entries: list[tuple[str, bytes]] | None = None, immutable: bool = False) -> None:
        self.entries = entries or []
        self.immutable = immutable

    def copy(self, immutable: bool = False) -> Fields:
        return Fields(list(self.entries), immutable)


def _check(name: str, value: bytes | None = None) -> w.HeaderError | None:
    if not _TOKEN.fullmatch(name.encode("utf-8", "replace")):
        return w.HeaderErrorInvalidSyntax()
    if value is not None and _BAD_VALUE.search(value):
        return w.HeaderErrorInvalidSyntax()
    if name.lower() in FORBIDDEN:
        return w.HeaderErrorForbidden()
    return None


@dataclass
class Body:
    """An outgoing body: its sink and whether the guest finished it (or dropped it unfinished)."""

    sink: Sink
    taken: bool = False
    finished: bool = False
    dropped: bool = False

    def close(self) -> None:
        """The guest dropped its handle (or the invocation ended)."""
        self.dropped = True


@dataclass
class OutgoingResponse:
    headers: Fields
    status: int = 200
    body: Body | None = None


@dataclass
class IncomingRequest:
    method: str
    path_with_query: str
    authority: str | None
    headers: Fields
    body: bytes
    source: Any = None
    """The rest of the body, still arriving (`_streaming.StreamedRequest`), if any."""
    consumed: bool = False


@dataclass
class IncomingBody:
    data: bytes
    source: Any = None
    streamed: bool = False


@dataclass
class FutureTrailers:
    taken: bool = False


@dataclass
class OutgoingRequest:
    headers: Fields
    method: w.Method = field(default_factory=w.MethodGet)
    path_with_query: str | None = None
    scheme: w.Scheme | None = None
    authority: str | None = None
    body: Body | None = None


@dataclass
class RequestOptions:
    connect_timeout: int | None = None
    first_byte_timeout: int | None = None
    between_bytes_timeout: int | None = None


@dataclass
class IncomingResponse:
    status: int
    headers: Fields
    body: bytes
    consumed: bool = False


class ResponseSink(Sink):
    """A response body: buffered while small, then, once the guest has set its response and the
    body passes `STREAM_AFTER`, sent as it comes through the invocation's `response_stream` (the
    host then holds one piece at a time, so the memory cap no longer bounds the whole body)."""

    def __init__(self, budget: Budget, response: OutgoingResponse, outcome: Outcome, ctx: InvocationContext) -> None:
        super().__init__(budget, "response body")
        self.response = response
        self.outcome = outcome
        self.ctx = ctx
        self.stream = ctx.response_stream

    def write(self, data: bytes) -> IoError | None:
        error = super().write(data)
        if (error is None and self.stream is not None and self.size >= STREAM_AFTER
                and self.outcome.response is self.response and self.stream.wants(self.response.status)):
            self.drain()
        return error

    def drain(self) -> None:
        if not self.stream.started:
            headers = [(k, v.decode("latin-1")) for k, v in self.response.headers.entries]
            self.stream.start(self.response.status, headers, self.ctx.deadline)
        self.stream.write(self.release(), self.ctx.deadline)


class ResponseOutparam:
    """Where the guest puts its response; `Outcome` reads it after `handle` returns."""


@dataclass
class Outcome:
    """What the guest answered: a response (and its body), an error code, or nothing yet."""

    response: OutgoingResponse | None = None
    error: w.HttpTypesErrorCode | None = None
    set: bool = False


class FutureIncomingResponse:
    """An outgoing request, sent on the first `get` or wait (its body is written by then)."""

    def __init__(self, send: OutboundSender, request: OutgoingRequest) -> None:
        self.send = send
        self.request: OutgoingRequest | None = request
        self.result: Result[IncomingResponse, w.HttpTypesErrorCode] | None = None
        self.taken = False

    def ready(self) -> bool:
        """It can be sent (or was): its body, if the guest took one, is finished (or dropped)."""
        body = self.request.body if self.request is not None else None
        return self.result is not None or body is None or not body.taken or body.finished or body.dropped

    def resolve(self) -> Result[IncomingResponse, w.HttpTypesErrorCode]:
        if self.result is None:
            assert self.request is not None
            self.result = self.send(self.request)
            self.request = None
        return self.result


class OutboundSender:
    """Sends a guest's outgoing request through the function's allow-listed outbound HTTP."""

    def __init__(self, imports: faas.FunctionImports, budget: Budget) -> None:
        self.imports = imports
        self.budget = budget

    def __call__(self, request: OutgoingRequest) -> Result[IncomingResponse, w.HttpTypesErrorCode]:
        if request.authority is None:
            return Err(w.HttpTypesErrorCodeHTTPRequestURIInvalid())
        scheme = request.scheme or w.SchemeHTTPS()
        scheme_text = scheme.value if isinstance(scheme, w.SchemeOther) else scheme.tag.lower()
        url = f"{scheme_text}://{request.authority}{request.path_with_query or '/'}"
        body = request.body
        if body is not None and body.sink.overflowed:
            body.sink.release()
            return Err(w.HttpTypesErrorCodeHTTPRequestBodySize(body.sink.limit))
        if body is not None and body.taken and not body.finished:  # dropped unfinished: never sent, as a
            body.sink.release()  # half-written body must not pass for a whole one
            return Err(w.HttpTypesErrorCodeInternalError("the request body was not finished"))
        data = body.sink.release() if body is not None else b""
        headers = [(k, v.decode("latin-1")) for k, v in request.headers.entries]
        sent = self.imports.outbound_http.send(faas.OutgoingRequest(method_name(request.method), url, headers,
                                                                    body_from_bytes(data)))
        if isinstance(sent, Err):
            error = sent.value
            if isinstance(error, faas.OutboundHttpErrorDenied):
                return Err(w.HttpTypesErrorCodeHTTPRequestDenied())
            if isinstance(error, faas.OutboundHttpErrorTimeout):
                return Err(w.HttpTypesErrorCodeConnectionTimeout())
            return Err(w.HttpTypesErrorCodeInternalError(getattr(error, "value", None) or str(error)))
        resp = sent.value
        entries = [(k, v.encode("latin-1")) for k, v in resp.headers]
        data = body_bytes(resp.body)
        if not self.budget.take(len(data) + _size(entries)):  # kept until the guest reads it
            return Err(w.HttpTypesErrorCodeHTTPResponseBodySize(len(data)))
        return Ok(IncomingResponse(resp.status, Fields(entries, True), data))


class HttpTypesHost:
    """`wasi:http/types` for one invocation; `outcome` holds what the guest answers."""

    def __init__(self, ctx: InvocationContext, outcome: Outcome, budget: Budget) -> None:
        self.ctx = ctx
        self.outcome = outcome
        self.budget = budget

    @staticmethod
    def _room(kept: list[tuple[str, bytes]] | None, added: list[tuple[str, bytes]]) -> None:
        """Stops the guest when a `fields` would hold more than `MAX_FIELDS_BYTES`."""
        size = sum(len(n) + len(v) for n, v in (kept or [])) + sum(len(n) + len(v) for n, v in added)
        if size > MAX_FIELDS_BYTES:
            raise ValueError(f"header fields larger than {MAX_FIELDS_BYTES} bytes")

    def _owned(self, headers: Fields) -> Fields:
        """Fields the guest hands over to a request or response it makes: taken as they are, or a
        mutable copy of immutable ones (those of a request or response the host made)."""
        if not headers.immutable:
            return headers
        self.budget.charge(_size(headers.entries), "header fields")
        return headers.copy()

    def http_error_code(self, err: IoError) -> w.HttpTypesErrorCode | None:
        return err.http_code  # type: ignore[return-value]

    # fields
    def fields_new(self) -> Fields:
        return Fields()

    def fields_from_list(self, entries: list[tuple[str, bytes]]) -> Result[Fields, w.HeaderError]:
        for name, value in entries:
            error = _check(name, value)
            if error is not None:
                return Err(error)
        self._room(None, entries)
        self.budget.charge(_size(entries), "header fields")
        return Ok(Fields([(n.lower(), v) for n, v in entries]))

    def fields_get(self, self_: Fields, name: str) -> list[bytes]:
        key = name.lower()
        return [v for n, v in self_.entries if n == key]

    def fields_has(self, self_: Fields, name: str) -> bool:
        key = name.lower()
        return any(n == key for n, _ in self_.entries)

    def fields_set(self, self_: Fields, name: str, value: list[bytes]) -> Result[None, w.HeaderError]:
        if self_.immutable:
            return Err(w.HeaderErrorImmutable())
        for v in value:
            error = _check(name, v)
            if error is not None:
                return Err(error)
        key = name.lower()
        self._room([(n, v) for n, v in self_.entries if n != key], [(key, v) for v in value])
        self.budget.charge(_size([(key, v) for v in value]), "header fields")
        self_.entries = [(n, v) for n, v in self_.entries if n != key] + [(key, v) for v in value]
        return Ok(None)

    def fields_delete(self, self_: Fields, name: str) -> Result[None, w.HeaderError]:
        if self_.immutable:
            return Err(w.HeaderErrorImmutable())
        error = _check(name)
        if error is not None:
            return Err(error)
        key = name.lower()
        self_.entries = [(n, v) for n, v in self_.entries if n != key]
        return Ok(None)

    def fields_append(self, self_: Fields, name: str, value: bytes) -> Result[None, w.HeaderError]:
        if self_.immutable:
            return Err(w.HeaderErrorImmutable())
        error = _check(name, value)
        if error is not None:
            return Err(error)
        self._room(self_.entries, [(name, value)])
        self.budget.charge(_size([(name, value)]), "header fields")
        self_.entries.append((name.lower(), value))
        return Ok(None)

    def fields_entries(self, self_: Fields) -> list[tuple[str, bytes]]:
        return list(self_.entries)

    def fields_clone(self, self_: Fields) -> Fields:
        self.budget.charge(_size(self_.entries), "header fields")
        return self_.copy()

    # incoming request
    def incoming_request_method(self, self_: IncomingRequest) -> w.Method:
        return method_of(self_.method)

    def incoming_request_path_with_query(self, self_: IncomingRequest) -> str | None:
        return self_.path_with_query

    def incoming_request_scheme(self, self_: IncomingRequest) -> w.Scheme | None:
        return w.SchemeHTTP()

    def incoming_request_authority(self, self_: IncomingRequest) -> str | None:
        return self_.authority

    def incoming_request_headers(self, self_: IncomingRequest) -> Fields:
        return self_.headers  # immutable, so one object serves every handle to it

    def incoming_request_consume(self, self_: IncomingRequest) -> Result[IncomingBody, None]:
        if self_.consumed:
            return Err(None)
        self_.consumed = True
        return Ok(IncomingBody(self_.body, self_.source))

    # outgoing request
    def outgoing_request_new(self, headers: Fields) -> OutgoingRequest:
        return OutgoingRequest(self._owned(headers))

    def outgoing_request_body(self, self_: OutgoingRequest) -> Result[Body, None]:
        if self_.body is not None:
            return Err(None)
        self_.body = Body(Sink(self.budget, "request body"))
        return Ok(self_.body)

    def outgoing_request_method(self, self_: OutgoingRequest) -> w.Method:
        return self_.method

    def outgoing_request_set_method(self, self_: OutgoingRequest, method: w.Method) -> Result[None, None]:
        if isinstance(method, w.MethodOther) and not _TOKEN.fullmatch(method.value.encode("utf-8", "replace")):
            return Err(None)
        self_.method = method
        return Ok(None)

    def outgoing_request_path_with_query(self, self_: OutgoingRequest) -> str | None:
        return self_.path_with_query

    def outgoing_request_set_path_with_query(self, self_: OutgoingRequest,
                                             path_with_query: str | None) -> Result[None, None]:
        if path_with_query is not None and (not path_with_query.startswith("/") or _has_space(path_with_query)):
            return Err(None)
        self_.path_with_query = path_with_query
        return Ok(None)

    def outgoing_request_scheme(self, self_: OutgoingRequest) -> w.Scheme | None:
        return self_.scheme

    def outgoing_request_set_scheme(self, self_: OutgoingRequest, scheme: w.Scheme | None) -> Result[None, None]:
        if isinstance(scheme, w.SchemeOther):
            return Err(None)
        self_.scheme = scheme
        return Ok(None)

    def outgoing_request_authority(self, self_: OutgoingRequest) -> str | None:
        return self_.authority

    def outgoing_request_set_authority(self, self_: OutgoingRequest, authority: str | None) -> Result[None, None]:
        if authority is not None and (not authority or _has_space(authority) or "/" in authority or "@" in authority):
            return Err(None)
        self_.authority = authority
        return Ok(None)

    def outgoing_request_headers(self, self_: OutgoingRequest) -> Fields:
        return self_.headers

    # request options
    def request_options_new(self) -> RequestOptions:
        return RequestOptions()

    def request_options_connect_timeout(self, self_: RequestOptions) -> int | None:
        return self_.connect_timeout

    def request_options_set_connect_timeout(self, self_: RequestOptions, duration: int | None) -> Result[None, None]:
        self_.connect_timeout = duration
        return Ok(None)

    def request_options_first_byte_timeout(self, self_: RequestOptions) -> int | None:
        return self_.first_byte_timeout

    def request_options_set_first_byte_timeout(self, self_: RequestOptions, duration: int | None) -> Result[None, None]:
        self_.first_byte_timeout = duration
        return Ok(None)

    def request_options_between_bytes_timeout(self, self_: RequestOptions) -> int | None:
        return self_.between_bytes_timeout

    def request_options_set_between_bytes_timeout(self, self_: RequestOptions,
                                                  duration: int | None) -> Result[None, None]:
        self_.between_bytes_timeout = duration
        return Ok(None)

    # the response the guest answers with
    def response_outparam_set(self, param: ResponseOutparam,
                              response: Result[OutgoingResponse, w.HttpTypesErrorCode]) -> None:
        if self.outcome.set:
            raise RuntimeError("response-outparam.set called twice")
        self.outcome.set = True
        if isinstance(response, Ok):
            self.outcome.response = response.value
        else:
            self.outcome.error = response.value

    # incoming response (of an outgoing request)
    def incoming_response_status(self, self_: IncomingResponse) -> int:
        return self_.status

    def incoming_response_headers(self, self_: IncomingResponse) -> Fields:
        return self_.headers

    def incoming_response_consume(self, self_: IncomingResponse) -> Result[IncomingBody, None]:
        if self_.consumed:
            return Err(None)
        self_.consumed = True
        return Ok(IncomingBody(self_.body))

    # incoming bodies
    def incoming_body_stream(self, self_: IncomingBody) -> Result[InputStream, None]:
        if self_.streamed:
            return Err(None)
        self_.streamed = True
        return Ok(InputStream(self_.data, self_.source, self.ctx))

    def incoming_body_finish(self, this: IncomingBody) -> FutureTrailers:
        return FutureTrailers()

    def future_trailers_subscribe(self, self_: FutureTrailers) -> Pollable:
        return Pollable(READY)

    def future_trailers_get(self, self_: FutureTrailers) -> object:
        if self_.taken:
            return Err(None)  # some(err): asked twice
        self_.taken = True
        return Ok(Ok(None))  # some(ok(ok(none))): no trailers

    # outgoing response
    def outgoing_response_new(self, headers: Fields) -> OutgoingResponse:
        return OutgoingResponse(self._owned(headers))

    def outgoing_response_status_code(self, self_: OutgoingResponse) -> int:
        return self_.status

    def outgoing_response_set_status_code(self, self_: OutgoingResponse, status_code: int) -> Result[None, None]:
        if not 100 <= status_code <= 999:
            return Err(None)
        self_.status = status_code
        return Ok(None)

    def outgoing_response_headers(self, self_: OutgoingResponse) -> Fields:
        return self_.headers

    def outgoing_response_body(self, self_: OutgoingResponse) -> Result[Body, None]:
        if self_.body is not None:
            return Err(None)
        self_.body = Body(ResponseSink(self.budget, self_, self.outcome, self.ctx))
        return Ok(self_.body)

    # outgoing bodies
    def outgoing_body_write(self, self_: Body) -> Result[OutputStream, None]:
        if self_.taken:
            return Err(None)
        self_.taken = True
        return Ok(OutputStream(self_.sink))

    def outgoing_body_finish(self, this: Body, trailers: Fields | None) -> Result[None, w.HttpTypesErrorCode]:
        this.finished = True
        this.sink.closed = True
        if this.sink.overflowed:
            return Err(w.HttpTypesErrorCodeHTTPResponseBodySize(this.sink.limit))
        return Ok(None)

    # future incoming response
    def future_incoming_response_subscribe(self, self_: FutureIncomingResponse) -> Pollable:
        def check() -> bool:
            if not self_.ready():
                return False
            self_.resolve()
            return True

        return Pollable(check=check)

    def future_incoming_response_get(self, self_: FutureIncomingResponse) -> object:
        if self_.taken:
            return Err(None)  # some(err): asked twice
        if not self_.ready():
            return None  # none: the guest is still writing the body
        self_.taken = True
        return Ok(self_.resolve())  # some(ok(ok(response))) or some(ok(err(code)))


class OutgoingHandlerHost:
    """`wasi:http/outgoing-handler`: a future that sends through the allow-listed outbound HTTP."""

    def __init__(self, send: OutboundSender) -> None:
        self.send = send

    def handle(self, request: OutgoingRequest,
               options: RequestOptions | None) -> Result[FutureIncomingResponse, w.HttpTypesErrorCode]:
        if request.authority is None:
            return Err(w.HttpTypesErrorCodeHTTPRequestURIInvalid())
        return Ok(FutureIncomingResponse(self.send, request))


_ENTRY_OVERHEAD = 64
"""Bytes an entry costs the host beyond its name and value (the tuple, the list slot)."""


def _size(entries: list[tuple[str, bytes]]) -> int:
    return sum(len(n) + len(v) + _ENTRY_OVERHEAD for n, v in entries)


def _has_space(text: str) -> bool:
    return any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text)
