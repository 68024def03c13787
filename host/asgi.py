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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import anyio.to_thread

from ._admission import MemoryBudget
from .bindings.faas import BodyText, Event, EventCall, EventHttp, FunctionImports, ModuleCall, Request, Response
from .bodies import body_bytes, body_from_bytes
from .capabilities import GuestLog, InvocationContext
from .capabilities._context import escape_control
from .capabilities.backends import Backends
from .capabilities.config import ConfigHost
from .capabilities.kv import KvHost
from .capabilities.modules import ModulesHost
from .capabilities.outbound_http import OutboundHttpHost, OutboundPools
from .capabilities.sql import SqlHost
from .errors import GuestTrap, InvocationError, LoadError, OutOfMemory, Timeout
from .manifest import Manifest
from .metrics import Metrics
from .registry import FunctionSource, RegistryError, Version
from .runtime import CompiledFunction, OverBudget, Runtime

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

access_log = logging.getLogger("wasmlet.access")
log = logging.getLogger("wasmlet")

_FORGIVE = 0.05
_INLINE_LOAD_MAX = 4 << 20
_INLINE_BINARY_MAX = 64 << 10
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what HTTP/1.1 clients (and uvicorn) refuse; tab is fine
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
               "proxy-connection", "x-request-id"}
_NO_BODY: dict[int, bytes | None] = {204: None, 205: b"0", 304: None}
"""Statuses that never carry a body: the content-length the host sends for each (None: none)."""
_CLOSE = [(b"connection", b"close")]
_NO_BODY_VERSIONS = ("1.0", "1.1")


@dataclass(frozen=True)
class HostSettings:
    """Process-wide knobs of the HTTP host."""

    worker_threads: int = 8
    """Invocations running at once across all functions; more wait for a thread."""
    max_in_flight: int = 256
    """Requests admitted at once (running or waiting); beyond it 503."""
    json_logs: bool = False
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
        self.settings = settings or HostSettings()
        self.backends = backends or Backends(Path(".wasmlet/data"))
        self.outbound = OutboundPools()
        self.memory = MemoryBudget(self.settings.memory_budget_mb or math.inf)
        self._imports: dict[Manifest, Callable[[InvocationContext], FunctionImports]] = {}
        self.metrics = Metrics()
        self.threads = anyio.CapacityLimiter(self.settings.worker_threads)
        self._thread_shares: dict[str, anyio.CapacityLimiter] = {}
        self._compiled: dict[str, CompiledFunction] = {}
        self._compiling: dict[str, anyio.Lock] = {}
        self._in_flight = 0
        self._overruns: dict[str, float] = {}
        self._per_function: dict[str, int] = {}

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            elif scope["type"] == "websocket":
                await _refuse_websocket(scope, receive, send)
            return
        rid = f"{random.getrandbits(128):032x}"  # no system call (os.urandom cost 4 % of a hello)
        start = time.perf_counter()
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        fn_label, version_label = "-", "-"
        status, sent = 500, 0
        try:
            if raw == b"/_wasmlet/health":
                status, sent = await _send(send, 200, b'{"status":"ok"}', rid, "application/json")
                return
            if raw == b"/_wasmlet/metrics" and self.settings.public_metrics:
                status, sent = await _send(send, 200, self.metrics.render(), rid,
                                           "text/plain; version=0.0.4; charset=utf-8")
                return
            if len(scope["headers"]) > self.settings.max_headers:
                raise _Reject(431, f"more than {self.settings.max_headers} request headers", _CLOSE)
            parts = raw.split(b"/", 3)
            if len(parts) < 3 or not parts[1] or not parts[2] or parts[1] == b"_wasmlet":
                raise _Reject(404, "no function here: use /<function>/<version>/<path>")
            name, ver = parts[1].decode("latin-1"), parts[2].decode("latin-1")
            version = None if "%" in name or "%" in ver else self.source.resolve(name, ver)
            if version is None:
                raise _Reject(404, f"unknown function or version: {escape_control(name)}/{escape_control(ver)}")
            fn_label, version_label = name, version.version
            status, sent = await self._serve(scope, receive, send, version, f"/{name}/{ver}",
                                             _sub_path(parts), rid)
        except _Reject as r:
            status, sent = await _send_error(send, r.status, r.message, rid, r.headers)
        except Exception:
            log.exception("internal error serving %s (request %s)", escape_control(scope["path"]), rid)
            status, sent = await _send_error(send, 500, "internal error in the host", rid, _CLOSE)
        finally:
            elapsed = time.perf_counter() - start
            if fn_label != "-":  # only known functions: unknown names must not grow the label space
                self.metrics.observe_request(fn_label, version_label, status, elapsed)
            if self.settings.access_log:
                self._access(scope, status, sent, elapsed, fn_label, version_label, rid)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.outbound.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------- requests
    async def _serve(self, scope: Scope, receive: Receive, send: Send, version: Version, mount: str,
                     sub_path: str, rid: str) -> tuple[int, int]:
        manifest = version.manifest
        # the body first: a client trickling it must not hold a slot meant for running functions
        body = await _read_body(scope, receive, manifest.max_body_bytes, self.settings.body_timeout_ms)
        if self._in_flight >= self.settings.max_in_flight:
            raise _Reject(503, "host is at capacity, retry shortly", [(b"retry-after", b"1")])
        if self._per_function.get(version.function, 0) >= manifest.max_concurrency:
            raise _Reject(503, f"{version.function} is at its concurrency limit ({manifest.max_concurrency})",
                          [(b"retry-after", b"1")])
        self._in_flight += 1
        self._per_function[version.function] = self._per_function.get(version.function, 0) + 1
        try:
            compiled = await self._compiled_for(version)
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            request_body = body_from_bytes(body)
            event = EventHttp(Request(
                method=scope["method"], path=sub_path, query=scope["query_string"].decode("latin-1"),
                headers=headers, body=request_body, mount=mount,
            ))
            ctx = InvocationContext(version.function, version.version, rid,
                                    logging.getLogger(f"wasmlet.guest.{version.function}"))
            imports = self.imports_for(manifest)
            self.metrics.in_flight.inc()
            try:
                # a large binary body takes ~0.1 s per MB to hand over (one C value per byte): not on the loop
                small = isinstance(request_body, BodyText) or len(body) <= _INLINE_BINARY_MAX
                response = await self._invoke(compiled, event, manifest, ctx, imports, may_inline=small)
            except Timeout:
                raise _Reject(504, f"{version.function} timed out after {manifest.timeout_ms} ms") from None
            except OutOfMemory:
                raise _Reject(500, f"{version.function} ran out of memory ({manifest.memory_mb} MB)") from None
            except GuestTrap as exc:
                log.warning("guest trap in %s/%s (request %s): %s", version.function, version.version, rid, exc)
                raise _Reject(500, f"{version.function} failed: {exc.message}") from None
            except InvocationError as exc:
                raise _Reject(500, f"{version.function} failed: {exc.message}") from None
            finally:
                self.metrics.in_flight.dec()
            out_headers = _check_response(response)
            return await _send_guest(send, response.status, body_bytes(response.body), rid, out_headers,
                                     scope["method"] == "HEAD")
        finally:
            self._in_flight -= 1
            self._per_function[version.function] -= 1

    async def _invoke(self, compiled: CompiledFunction, event: Event, manifest: Manifest, ctx: InvocationContext,
                      imports: Callable[[InvocationContext], FunctionImports], may_inline: bool = True) -> Response:
        """Runs one invocation where `HostSettings.dispatch` says (inline attempt or worker thread)."""
        dispatch = self.settings.dispatch
        if dispatch == "inline":
            return self.runtime.invoke(compiled, event, limits=manifest.limits, ctx=ctx, imports=imports)
        sha = compiled.sha256
        # a component with WASI imports can block inside WASI (a clock subscription, a poll), where
        # the epoch deadline cannot stop it: on the loop it would stall every request
        auto = dispatch == "auto" and _effect_free(manifest) and not compiled.uses_wasi
        reserved = self.memory.try_acquire(manifest.memory_mb) if auto and may_inline else None
        if reserved is not None and self._overruns.get(sha, 0.0) < self.settings.inline_strikes:
            try:
                response = self.runtime.invoke(compiled, event, limits=manifest.limits, ctx=ctx, imports=imports,
                                               budget_ms=self.settings.inline_budget_ms)
                self._forgive(sha)
                return response
            except OverBudget:
                self._overruns[sha] = self._overruns.get(sha, 0.0) + 1.0
                self.metrics.inline_overruns.labels(ctx.function).inc()
            finally:
                self.memory.release(reserved)
        elif reserved is not None:
            self.memory.release(reserved)
        took: list[float] = []

        def timed() -> Response:
            start = time.thread_time()  # this thread's CPU: not the waits for the GIL or a busy machine
            try:
                return self.runtime.invoke(compiled, event, limits=manifest.limits, ctx=ctx, imports=imports)
            finally:
                took.append(time.thread_time() - start)

        share = self._thread_shares.get(ctx.function)
        if share is None:  # one function, however stuck, leaves the other half of the threads to the rest
            share = self._thread_shares[ctx.function] = anyio.CapacityLimiter(max(1, self.settings.worker_threads // 2))
        async with share:  # waiting for a thread holds no memory: reserve only when about to run
            try:
                reserved = await self.memory.acquire(manifest.memory_mb, manifest.timeout_ms / 1000)
            except TimeoutError:
                raise _Reject(503, "host memory budget is in use, retry shortly", [(b"retry-after", b"1")]) from None
            try:
                response = await anyio.to_thread.run_sync(timed, limiter=self.threads)
            finally:
                self.memory.release(reserved)
        if auto and took[0] * 2000 < self.settings.inline_budget_ms:
            self._forgive(sha)  # it needed well under the budget here too: let it try the loop again
        return response

    def _forgive(self, sha256: str) -> None:
        """A quick invocation wears a past overrun down (a busy machine can make any call overrun now and then)."""
        score = self._overruns.get(sha256)
        if score:
            self._overruns[sha256] = max(0.0, score - _FORGIVE)

    async def _compiled_for(self, version: Version) -> CompiledFunction:
        compiled = self._compiled.get(version.sha256)
        if compiled is not None:
            return compiled
        lock = self._compiling.setdefault(version.sha256, anyio.Lock())
        async with lock:  # one compile per component, however many requests wait for it
            try:
                size = self.runtime.engine.cached_size(version.sha256)
                if size is not None and size < _INLINE_LOAD_MAX:
                    return self.compiled(version)  # a small compiled artifact maps in well under a millisecond
                return await anyio.to_thread.run_sync(self.compiled, version)
            except (OSError, LoadError, RegistryError) as exc:
                raise _Reject(500, f"{version.function}/{version.version} could not be loaded: {exc}") from None

    def compiled(self, version: Version) -> CompiledFunction:
        """The compiled function for a version: kept in memory after its first call (blocking)."""
        compiled = self._compiled.get(version.sha256)
        if compiled is None:
            compiled = self.runtime.load_stored(version.sha256, lambda: self.source.wasm(version))
            if not compiled.cache_hit:
                self.metrics.cold_starts.labels(version.function).inc()
            self._compiled[version.sha256] = compiled
        return compiled

    def preload(self, compiled: CompiledFunction) -> None:
        """Keeps an already compiled function (the dev server loads before it swaps versions)."""
        self._compiled[compiled.sha256] = compiled

    def imports_for(self, manifest: Manifest) -> Callable[[InvocationContext], FunctionImports]:
        """The hostcall implementations an invocation gets: exactly what the manifest grants
        (built once per manifest; only the per-invocation parts are made per call)."""
        cached = self._imports.get(manifest)
        if cached is not None:
            return cached
        grants = manifest.grants
        config = ConfigHost(grants)
        patterns, pools = OutboundHttpHost.parse(grants.allowed_hosts), self.outbound
        kv_labels, sql_labels = frozenset(grants.kv), frozenset(grants.sql)
        kv_backends, sql_backends = self.backends.kv, self.backends.sql

        def factory(ctx: InvocationContext) -> FunctionImports:
            return FunctionImports(log=GuestLog(ctx), config=config, kv=KvHost(kv_labels, kv_backends, ctx),
                                   sql=SqlHost(sql_labels, sql_backends, ctx),
                                   outbound_http=OutboundHttpHost(patterns, pools, ctx),
                                   modules=ModulesHost(grants.modules, self, ctx))

        self._imports[manifest] = factory
        return factory

    def call_module(self, name: str, version: str, request: Request, parent: InvocationContext) -> Response:
        """Runs another function in this thread (a module call); raises LookupError or InvocationError."""
        target = self.source.resolve(name, version)
        if target is None:
            raise LookupError(f"unknown function or version: {name}/{version}")
        try:
            compiled = self.compiled(target)
        except (OSError, LoadError, RegistryError) as exc:
            raise InvocationError(f"could not be loaded: {exc}", function=target.function) from None
        reserved = self.memory.try_acquire(target.manifest.memory_mb)
        if reserved is None:
            raise InvocationError("the host's memory budget is in use", function=target.function)
        try:
            return self._call(target, compiled, name, version, request, parent)
        finally:
            self.memory.release(reserved, from_thread=True)

    def _call(self, target: Version, compiled: CompiledFunction, name: str, version: str, request: Request,
              parent: InvocationContext) -> Response:
        """The module call itself, its memory reserved."""
        ctx = InvocationContext(target.function, target.version, parent.request_id,
                                logging.getLogger(f"wasmlet.guest.{target.function}"), depth=parent.depth + 1,
                                deadline=parent.deadline)  # the callee gets what is left of the caller's time
        call = replace(request, mount=f"/{name}/{version}")
        return self.runtime.invoke(compiled, EventCall(ModuleCall(parent.function, call)),
                                   limits=target.manifest.limits, ctx=ctx, imports=self.imports_for(target.manifest))

    def forget(self, sha256: str) -> None:
        """Drops a compiled function (the dev server calls it after a reload)."""
        self._compiled.pop(sha256, None)

    def _access(self, scope: Scope, status: int, sent: int, elapsed: float, fn: str, ver: str, rid: str) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        client = scope.get("client") or ("-", 0)
        target = scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
        target = escape_control(target)  # a decoded %0a must not start a forged log line
        if self.settings.json_logs:
            access_log.info(json.dumps({
                "client": client[0], "method": scope["method"], "target": target, "status": status,
                "bytes": sent, "ms": round(elapsed * 1000, 3), "function": fn, "version": ver, "request_id": rid,
            }))
        else:
            access_log.info('%s "%s %s" %d %d %.1fms fn=%s/%s rid=%s', client[0], scope["method"], target,
                            status, sent, elapsed * 1000, fn, ver, rid)


def _sub_path(parts: list[bytes]) -> str:
    """What the guest sees as its path: the raw rest of the URL, percent-decoded once."""
    sub = "/" + parts[3].decode("utf-8", "replace") if len(parts) > 3 else "/"
    return unquote(sub) if "%" in sub else sub


async def _read_body(scope: Scope, receive: Receive, limit: int, timeout_ms: int) -> bytes:
    """Reads the request body within `timeout_ms` (408), refusing (413) as soon as it passes `limit`."""
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
        return b""  # HTTP/1 with neither a length nor chunking has no body: nothing to wait for
    with anyio.move_on_after(timeout_ms / 1000):
        return await _collect_body(receive, limit)
    raise _Reject(408, f"the request body did not arrive within {timeout_ms} ms", _CLOSE)


async def _collect_body(receive: Receive, limit: int) -> bytes:
    """The body's chunks until the last one; 413 past `limit`, 499 when the client goes away."""
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
            return b"".join(chunks)


def _effect_free(manifest: Manifest) -> bool:
    """Granted nothing that waits on I/O or changes the world (only config and logging),
    so an inline attempt can be thrown away and run again unseen."""
    g = manifest.grants
    return not (g.kv or g.sql or g.allowed_hosts or g.modules)


def _check_response(response: Response) -> list[tuple[bytes, bytes]]:
    """The guest's headers as ASGI wants them; 502 when status or a header is invalid."""
    if not 200 <= response.status <= 599:
        raise _Reject(502, f"function returned an invalid status {response.status}")
    out = []
    for name, value in response.headers:
        if not _TOKEN.match(name):
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
