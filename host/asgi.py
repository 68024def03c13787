"""The public HTTP host: an ASGI app that routes `/<function>/<version>/<path…>` to a function.

Async code is anyio, so it runs on asyncio and trio. Each invocation runs in a
worker thread (a slow guest never stalls the event loop), capped globally and
per function; traps, timeouts and bad responses map to 500, 504 and 502, every
response carries `x-request-id` and every error body is JSON.

Routing reads `raw_path`, so a percent-encoded slash is never a separator: the
function and version segments are matched exactly as sent (a `%` in either is
404, since no name contains one), and the rest, the sub-path the guest sees, is
percent-decoded once (`/f/latest/a%2Fb` reaches the guest as `/a/b`, like the
decoded `scope["path"]` it got before). What reaches the wire is decided here,
not by the guest: no body for 204, 205 and 304 or for any answer to HEAD (the
headers, with the length the body would have had, are kept), no framing or
hop-by-hop headers from the guest, and only header values a client can parse.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio

from . import telemetry
from ._admission import MemoryBudget
from ._streaming import STREAM_AFTER, StreamAborted, StreamedRequest, StreamedResponse
from .bindings.faas import BodyText, Event, EventHttp, Request, Response
from .bodies import BodyError, body_bytes, body_from_bytes
from .capabilities import InvocationContext
from .capabilities._context import escape_control
from .capabilities.backends import Backends
from .dispatch import Dispatcher, Job, MemoryBusy
from .errors import GuestTrap, HostBusy, InvalidResponse, InvocationError, OutOfMemory, Timeout
from .functions import Functions, NotLoadable
from .metrics import Metrics
from .registry import FunctionSource, Version
from .runtime import PROXY_WORLD, CompiledFunction, Runtime

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

access_log = logging.getLogger("wasmlet.access")
log = logging.getLogger("wasmlet")

_INLINE_BINARY_MAX = 64 << 10
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # fullmatch: `$` would let a final newline in
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what HTTP/1.1 clients (and uvicorn) refuse; tab is fine
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
               "proxy-connection", "x-request-id"}
_NO_BODY: dict[int, bytes | None] = {204: None, 205: b"0", 304: None}
"""Statuses that never carry a body: the content-length the host sends for each (None: none)."""
_CLOSE = [(b"connection", b"close")]
_ASYNC_PREFIX = b"/_wasmlet/async/"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_NO_BODY_VERSIONS = ("1.0", "1.1")


@dataclass(frozen=True)
class HostSettings:
    """Process-wide knobs of the HTTP host."""

    worker_threads: int = 8
    """Invocations running at once across all functions; more wait for a thread."""
    max_in_flight: int = 256
    """Requests admitted at once (running or waiting); beyond it 503."""
    access_log: bool = True
    """One line per request on the `wasmlet.access` logger."""
    dispatch: str = "auto"
    """Where invocations run. `auto`: a function granted nothing but config and logging
    is first tried on the event loop with a deadline of `inline_budget_ms`; if it runs
    past it, the attempt is thrown away (it could not have changed anything) and the
    invocation runs again in a worker thread; a function version that overruns often
    (see `inline_strikes`) goes straight to worker threads. Functions granted kv, sql, outbound HTTP or
    modules, and requests with a binary body over 64 KiB, always run in worker threads. `thread`: always worker threads. `inline`:
    always on the loop (a slow guest stalls every request; for measurement only)."""
    inline_budget_ms: int = 10
    """The longest an inline attempt may hold the event loop (epoch-tick precision)."""
    inline_strikes: int = 3
    """Overruns, net of forgiveness (each quick call wears 1/20 of one away), after which
    a function version runs in worker threads until quick calls bring it back."""
    body_timeout_ms: int = 10_000
    """The longest a request body may take to arrive; past it 408 and the connection closes.
    A request counts against `max_in_flight` and `max_concurrency` only once its body is in."""
    max_headers: int = 100
    """Request headers allowed; more is 431 (the uvicorn protocol refuses earlier, while parsing)."""
    public_metrics: bool = False
    """Serve `/_wasmlet/metrics` on this (public) app too; by default only the admin API has them."""
    memory_budget_mb: int = 1024
    """Guest memory (the sum of running invocations' `memory_mb`) this process admits at once;
    the next invocation waits for room, up to its own timeout, then 503. 0: no budget."""


class _Reject(Exception):
    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status, self.message, self.headers = status, message, headers or []


class Host:
    """The ASGI application."""

    def __init__(self, runtime: Runtime, source: FunctionSource, settings: HostSettings | None = None,
                 backends: Backends | None = None) -> None:
        self.runtime = runtime
        self.source = source
        self.backends = backends or Backends(Path(".wasmlet/data"))
        self.metrics = Metrics()
        self.async_calls: Any = None
        """`events.async_calls.AsyncInvocations` when `[server] async_source` is set (else 501)."""
        self.draining = False
        """Set when the host received SIGTERM: readiness answers 503 while in-flight work finishes."""
        self.ready_check: Callable[[], str | None] | None = None
        """Why the host cannot serve now (its registry unreachable), or None."""
        self._in_flight = 0
        self._per_function: dict[str, int] = {}
        self.settings = settings or HostSettings()

    @property
    def settings(self) -> HostSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: HostSettings) -> None:
        """New settings (before serving): the dispatcher, memory budget and functions follow them."""
        self._settings = settings
        self.memory = MemoryBudget(settings.memory_budget_mb or math.inf)
        self.functions = Functions(self.runtime, self.source, self.backends, self.memory, self.metrics)
        self.dispatcher = Dispatcher(mode=settings.dispatch, inline_budget_ms=settings.inline_budget_ms,
                                     inline_strikes=settings.inline_strikes, worker_threads=settings.worker_threads,
                                     memory=self.memory, on_overrun=self._overran)

    def _overran(self, function: str) -> None:
        self.metrics.inline_overruns.labels(function).inc()

    def preload(self, compiled: CompiledFunction) -> None:
        """Keeps an already compiled function (the dev server loads before it swaps versions)."""
        self.functions.preload(compiled)

    def forget(self, sha256: str) -> None:
        """Drops a compiled function (the dev server calls it after a reload)."""
        self.functions.forget(sha256)

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            elif scope["type"] == "websocket":
                await _refuse_websocket(scope, receive, send)
            return
        rid = _request_id(scope)
        trace = telemetry.request(scope, rid)  # None unless tracing is on
        start = time.perf_counter()
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        fn_label, version_label = "-", "-"
        status, sent = 500, 0
        try:
            if raw == b"/_wasmlet/health" or raw == b"/_wasmlet/live":
                status, sent = await _send(send, 200, b'{"status":"ok"}', rid, "application/json")
                return
            if raw == b"/_wasmlet/ready":
                reason = await self._not_ready()
                body = json.dumps({"status": "ready"} if reason is None else {"status": "not ready", "reason": reason})
                status, sent = await _send(send, 200 if reason is None else 503, body.encode(), rid, "application/json")
                return
            if raw == b"/_wasmlet/metrics" and self.settings.public_metrics:
                status, sent = await _send(send, 200, self.metrics.render(), rid,
                                           "text/plain; version=0.0.4; charset=utf-8")
                return
            if len(scope["headers"]) > self.settings.max_headers:
                raise _Reject(431, f"more than {self.settings.max_headers} request headers", _CLOSE)
            if raw.startswith(_ASYNC_PREFIX):
                status, sent, fn_label, version_label = await self._asynchronous(scope, receive, send, raw, rid)
                return
            parts = raw.split(b"/", 3)
            if len(parts) < 3 or not parts[1] or not parts[2] or parts[1] == b"_wasmlet":
                raise _Reject(404, "no function here: use /<function>/<version>/<path>")
            name, ver = parts[1].decode("latin-1"), parts[2].decode("latin-1")
            version = None if "%" in name or "%" in ver else self.functions.resolve(name, ver)
            if version is None:
                raise _Reject(404, f"unknown function or version: {escape_control(name)}/{escape_control(ver)}")
            fn_label, version_label = name, version.version
            if len(parts) == 3:  # `/fn/latest`: relative links in its pages resolve below `/fn/latest/`
                query = scope.get("query_string") or b""
                location = raw + b"/" + (b"?" + query if query else b"")
                status, sent = await _send_error(send, 308, f"the function is served under {name}/{ver}/", rid,
                                                 [(b"location", location)])
                return
            status, sent = await self._serve(scope, receive, send, version, f"/{name}/{ver}", parts, rid)
        except _Reject as r:
            status, sent = await _send_error(send, r.status, r.message, rid, r.headers)
        except StreamAborted as aborted:  # the head is out: the body is cut off, never completed
            status, sent = aborted.status, aborted.sent
            log.warning("response of %s/%s (request %s) cut off after %d bytes: %s", fn_label, version_label, rid,
                        sent, escape_control(aborted.reason))
        except Exception:
            log.exception("internal error serving %s (request %s)", escape_control(scope["path"]), rid)
            status, sent = await _send_error(send, 500, "internal error in the host", rid, _CLOSE)
        finally:
            elapsed = time.perf_counter() - start
            if fn_label != "-":  # only known functions: unknown names must not grow the label space
                self.metrics.observe_request(fn_label, version_label, status, elapsed)
            if self.settings.access_log:
                self._access(scope, status, sent, elapsed, fn_label, version_label, rid)
            if trace is not None:
                telemetry.request_done(trace, status, fn_label, version_label)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.functions.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------- requests
    async def _serve(self, scope: Scope, receive: Receive, send: Send, version: Version, mount: str,
                     parts: list[bytes], rid: str) -> tuple[int, int]:
        manifest = version.manifest
        # the body first: a client trickling it must not hold a slot meant for running functions. A
        # standard wasi:http component (once loaded) reads a body past its first 64 KiB as it arrives.
        loaded = self.functions.loaded(version)
        streams = loaded is not None and loaded.world == PROXY_WORLD
        body, complete = await _read_body_start(scope, receive, manifest.max_body_bytes,
                                                self.settings.body_timeout_ms, STREAM_AFTER if streams else None)
        request_stream = None if complete else StreamedRequest(receive, manifest.max_body_bytes, len(body))
        if self._in_flight >= self.settings.max_in_flight:
            raise _Reject(503, "host is at capacity, retry shortly", [(b"retry-after", b"1")])
        if self._per_function.get(version.function, 0) >= manifest.max_concurrency:
            raise _Reject(503, f"{version.function} is at its concurrency limit ({manifest.max_concurrency})",
                          [(b"retry-after", b"1")])
        self._in_flight += 1
        self._per_function[version.function] = self._per_function.get(version.function, 0) + 1
        try:
            try:
                compiled = await self.functions.compiled_for(version)
            except NotLoadable as exc:
                raise _Reject(exc.status, str(exc)) from None
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            request_body = body_from_bytes(body)
            # a wasmlet function gets its path decoded once; a standard component, as the client sent it
            # (as under `wasmtime serve`: a `%3F` must not become a query)
            path = _raw_sub_path(parts) if compiled.world == PROXY_WORLD else _sub_path(parts)
            event = EventHttp(Request(
                method=scope["method"], path=path, query=scope["query_string"].decode("latin-1"),
                headers=headers, body=request_body, mount=mount,
            ))
            # a standard wasi:http component's body is a stream: a large one is sent as it is written
            stream = StreamedResponse(send, rid, scope["method"] == "HEAD", _check_response, frozenset(_NO_BODY)) \
                if compiled.world == PROXY_WORLD else None
            try:
                response = await self._invoke(version, compiled, event, rid,
                                              # to a 0.1.0 guest a large binary body crosses as list<u8>, ~0.1 s
                                              # per MB: not on the loop (0.2.0 and later take it as one string)
                                              small=not compiled.contract.adapts or isinstance(request_body, BodyText)
                                              or len(body) <= _INLINE_BINARY_MAX, stream=stream,
                                              request_stream=request_stream)
            except _Reject as rejected:
                if stream is not None and stream.started:
                    raise StreamAborted(stream.status, stream.sent, rejected.message) from None
                raise
            if stream is not None and stream.started:
                return await stream.finish(body_bytes(response.body))
            out_headers = _check_response(response)
            try:
                out_body = body_bytes(response.body)
            except BodyError as exc:
                raise _Reject(502, f"function returned an invalid body: {exc}") from None
            return await _send_guest(send, response.status, out_body, rid, out_headers,
                                     scope["method"] == "HEAD")
        finally:
            self._in_flight -= 1
            self._per_function[version.function] -= 1

    async def _not_ready(self) -> str | None:
        """Why a load balancer should not send requests here now (None: it should)."""
        if self.draining:
            return "draining: the host is stopping"
        if self.ready_check is not None:
            try:
                with anyio.fail_after(2):
                    return await anyio.to_thread.run_sync(self.ready_check)
            except TimeoutError:
                return "the registry did not answer within 2 s"
        return None

    async def _asynchronous(self, scope: Scope, receive: Receive, send: Send, raw: bytes,
                            rid: str) -> tuple[int, int, str, str]:
        """`POST /_wasmlet/async/<fn>/<version>/<path>` queues an invocation (202 with its id);
        `GET /_wasmlet/async/<id>` says how it went. Returns status, bytes sent, function, version."""
        if self.async_calls is None:
            raise _Reject(501, "asynchronous invocations are not enabled on this host (set [server] async_source "
                               "to a NATS messaging source)")
        rest = raw[len(_ASYNC_PREFIX):]
        if scope["method"] == "GET" and b"/" not in rest:
            found = await self.async_calls.status(rest.decode("latin-1"))
            if found is None:
                raise _Reject(404, "no such asynchronous invocation (or its status has expired)")
            status, sent = await _send(send, 200, json.dumps(found).encode(), rid, "application/json")
            return status, sent, "-", "-"
        parts = rest.split(b"/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise _Reject(404, "use POST /_wasmlet/async/<function>/<version>/<path> or GET /_wasmlet/async/<id>")
        if scope["method"] != "POST":
            raise _Reject(405, "asynchronous invocations are submitted with POST", [(b"allow", b"POST")])
        name, ver = parts[0].decode("latin-1"), parts[1].decode("latin-1")
        version = None if "%" in name or "%" in ver else self.functions.resolve(name, ver)
        if version is None:
            raise _Reject(404, f"unknown function or version: {escape_control(name)}/{escape_control(ver)}")
        if not version.manifest.triggers.asynchronous:
            raise _Reject(403, f"{name} does not accept asynchronous invocations ([triggers] async = true in its "
                               "manifest)")
        body = await _read_body(scope, receive, version.manifest.max_body_bytes, self.settings.body_timeout_ms)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        key = next((v for k, v in headers if k == "idempotency-key"), None)
        request = {"method": "POST", "path": "/" + unquote((parts[2] if len(parts) > 2 else b"").decode("latin-1")),
                   "query": scope["query_string"].decode("latin-1"), "headers": headers,
                   "mount": f"/{name}/{ver}"}
        try:
            invocation, repeated = await self.async_calls.submit(name, version.version, request, body, key)
        except Exception as exc:
            log.warning("asynchronous invocation of %s not queued: %s", name, exc)
            raise _Reject(503, "the invocation queue is not reachable, retry shortly",
                          [(b"retry-after", b"1")]) from None
        where = f"/_wasmlet/async/{invocation}"
        out = json.dumps({"id": invocation, "status_url": where, "repeated": repeated}).encode()
        status, sent = await _send(send, 202, out, rid, "application/json", [(b"location", where.encode())])
        return status, sent, name, version.version

    async def deliver(self, version: Version, event: Event, rid: str) -> tuple[int, str]:
        """Runs a non-HTTP event (a message, a schedule) with the function's limits, through the same
        dispatcher as requests; returns the response's status and, for a failure, what went wrong."""
        status, detail, _ = await self.deliver_response(version, event, rid)
        return status, detail

    async def deliver_response(self, version: Version, event: Event, rid: str) -> tuple[int, str, Response | None]:
        """`deliver`, with the function's response too (None when it did not answer)."""
        try:
            compiled = await self.functions.compiled_for(version)
        except NotLoadable as exc:
            return exc.status, str(exc), None
        try:
            response = await self._invoke(version, compiled, event, rid, small=True)
        except _Reject as rejected:
            return rejected.status, rejected.message, None
        if not 100 <= response.status <= 599:
            return 502, f"{version.function} answered status {response.status}", None
        return response.status, "" if response.status < 400 else _detail(response), response

    async def _invoke(self, version: Version, compiled: CompiledFunction, event: Event, rid: str,
                      small: bool, stream: StreamedResponse | None = None,
                      request_stream: StreamedRequest | None = None) -> Response:
        """Runs one invocation through the dispatcher and maps its failure to an HTTP error."""
        manifest = version.manifest
        ctx = InvocationContext(version.function, version.version, rid,
                                logging.getLogger(f"wasmlet.guest.{version.function}"))
        ctx.response_stream = stream
        ctx.request_stream = request_stream
        imports = self.functions.imports_for(manifest)

        def run(budget_ms: int | None) -> Response:
            return self.runtime.invoke(compiled, event, limits=manifest.limits, ctx=ctx, imports=imports,
                                       budget_ms=budget_ms)

        # an attempt may be thrown away only when nothing granted has effects and the guest
        # cannot block inside WASI (a clock subscription), where no deadline reaches it
        may_attempt = small and not compiled.uses_wasi and not self.functions.has_effects(manifest)
        job = Job(compiled.sha256, version.function, manifest.memory_mb, manifest.timeout_ms / 1000, may_attempt,
                  telemetry.dispatching(ctx, run))
        self.metrics.in_flight.inc()
        try:
            with telemetry.invocation(ctx, compiled.cache_hit):
                return await self.dispatcher.run(job)
        except MemoryBusy:
            raise _Reject(503, "host memory budget is in use, retry shortly", [(b"retry-after", b"1")]) from None
        except HostBusy:
            raise _Reject(503, "host has no instance slot free, retry shortly", [(b"retry-after", b"1")]) from None
        except Timeout:
            raise _Reject(504, f"{version.function} timed out after {manifest.timeout_ms} ms") from None
        except OutOfMemory:
            raise _Reject(500, f"{version.function} ran out of memory ({manifest.memory_mb} MB)") from None
        except InvalidResponse as exc:
            raise _Reject(502, f"{version.function} answered no valid response: {exc.message}") from None
        except GuestTrap as exc:
            log.warning("guest trap in %s/%s (request %s): %s", version.function, version.version, rid,
                        escape_control(str(exc)))  # its output tail is the guest's: no forged log lines
            raise _Reject(500, f"{version.function} failed: {exc.message}") from None
        except InvocationError as exc:
            raise _Reject(500, f"{version.function} failed: {exc.message}") from None
        finally:
            self.metrics.in_flight.dec()

    def _access(self, scope: Scope, status: int, sent: int, elapsed: float, fn: str, ver: str, rid: str) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        client = scope.get("client") or ("-", 0)
        target = scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
        target = escape_control(target)  # a decoded %0a must not start a forged log line
        access_log.info('%s "%s %s" %d %d %.1fms fn=%s/%s rid=%s', client[0], scope["method"], target,
                        status, sent, elapsed * 1000, fn, ver, rid,
                        extra={"client": client[0], "method": scope["method"], "target": target, "status": status,
                               "bytes": sent, "ms": round(elapsed * 1000, 3), "function": fn, "version": ver,
                               "request_id": rid})


def _detail(response: Response) -> str:
    """A failure response's body, short, for a dead letter's reason."""
    try:
        text = body_bytes(response.body).decode("utf-8", errors="replace")
    except BodyError:
        return f"status {response.status}"
    return escape_control(text[:300]) or f"status {response.status}"


def _request_id(scope: Scope) -> str:
    """The client's `x-request-id` when valid (1–64 of `[A-Za-z0-9._-]`), so its id follows the request
    through the logs and traces; else a fresh one."""
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            if _REQUEST_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return f"{random.getrandbits(128):032x}"  # no system call (os.urandom cost 4 % of a hello)


def _raw_sub_path(parts: list[bytes]) -> str:
    """The raw rest of the URL, not decoded."""
    return "/" + parts[3].decode("latin-1") if len(parts) > 3 else "/"


def _sub_path(parts: list[bytes]) -> str:
    """What the guest sees as its path: the raw rest of the URL, percent-decoded once."""
    sub = "/" + parts[3].decode("utf-8", "replace") if len(parts) > 3 else "/"
    return unquote(sub) if "%" in sub else sub


async def _read_body(scope: Scope, receive: Receive, limit: int, timeout_ms: int) -> bytes:
    """Reads the request body within `timeout_ms` (408), refusing (413) as soon as it passes `limit`."""
    body, _ = await _read_body_start(scope, receive, limit, timeout_ms)
    return body


async def _read_body_start(scope: Scope, receive: Receive, limit: int, timeout_ms: int,
                           stop_after: int | None = None) -> tuple[bytes, bool]:
    """`_read_body`, stopping once `stop_after` bytes are in (the guest reads the rest); returns the
    bytes read and whether that is the whole body."""
    framed = False
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise _Reject(400, "invalid content-length", _CLOSE) from None
            if declared > limit:
                raise _Reject(413, f"request body of {declared} bytes is over this function's limit of {limit}",
                              _CLOSE)
            framed = declared > 0
        elif key == b"transfer-encoding":
            framed = True
    if not framed and scope.get("http_version", "1.1") in _NO_BODY_VERSIONS:
        return b"", True  # HTTP/1 with neither a length nor chunking has no body: nothing to wait for
    with anyio.move_on_after(timeout_ms / 1000):
        return await _collect_body(receive, limit, stop_after)
    raise _Reject(408, f"the request body did not arrive within {timeout_ms} ms", _CLOSE)


async def _collect_body(receive: Receive, limit: int, stop_after: int | None = None) -> tuple[bytes, bool]:
    """The body's chunks until the last one (or past `stop_after` bytes), and whether that was the
    last; 413 past `limit`, 499 when the client goes away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Reject(499, "client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Reject(413, f"request body is over this function's limit of {limit} bytes", _CLOSE)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if stop_after is not None and size >= stop_after:
            return b"".join(chunks), False


def _check_response(response: Response) -> list[tuple[bytes, bytes]]:
    """The guest's headers as ASGI wants them; 502 when status or a header is invalid."""
    if not 200 <= response.status <= 599:
        raise _Reject(502, f"function returned an invalid status {response.status}")
    out = []
    for name, value in response.headers:
        if not _TOKEN.fullmatch(name):
            raise _Reject(502, f"function returned an invalid header name {name[:40]!r}")
        if _BAD_VALUE.search(value):
            raise _Reject(502, f"function returned an invalid value for header {name!r}")
        if name.lower() in _HOP_BY_HOP:
            continue
        try:
            out.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise _Reject(502, f"function returned a non-Latin-1 value for header {name!r}") from None
    return out


async def _send_guest(send: Send, status: int, body: bytes, rid: str, headers: list[tuple[bytes, bytes]],
                      head: bool) -> tuple[int, int]:
    """Sends a guest's response as HTTP allows it: no body for 204/205/304 or HEAD, the host's own length."""
    if status in _NO_BODY:
        length = _NO_BODY[status]
    elif head:
        length = str(len(body)).encode()
    else:
        return await _send(send, status, body, rid, None, headers)
    if length is not None:
        headers.append((b"content-length", length))
    headers.append((b"x-request-id", rid.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
    return status, 0


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    """Functions speak request/response only: a WebSocket handshake gets a JSON 501 (or a close)."""
    rid = f"{random.getrandbits(128):032x}"
    if (await receive())["type"] != "websocket.connect":
        return
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1003})
        return
    body = json.dumps({"error": "WebSocket is not supported", "status": 501, "request_id": rid}).encode()
    await send({"type": "websocket.http.response.start", "status": 501, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"x-request-id", rid.encode())]})
    await send({"type": "websocket.http.response.body", "body": body})


async def _send(send: Send, status: int, body: bytes, rid: str, content_type: str | None,
                headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, int]:
    out = list(headers or [])
    if content_type is not None:
        out.append((b"content-type", content_type.encode()))
    out.append((b"content-length", str(len(body)).encode()))
    out.append((b"x-request-id", rid.encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
    return status, len(body)


async def _send_error(send: Send, status: int, message: str, rid: str,
                      headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    if status == 499:
        return status, 0
    body = json.dumps({"error": message, "status": status, "request_id": rid}).encode()
    return await _send(send, status, body, rid, "application/json", headers)
