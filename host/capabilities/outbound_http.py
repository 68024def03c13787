"""`wasmlet:faas/outbound-http`: requests to allow-listed origins only, under the invocation's deadline.

The allow-list is checked on every hop: redirects are followed here, one at a
time, and a hop to an origin that is not allowed is refused. Names are matched
as written: an IP literal does not match an allowed host name, and a wildcard
stands for whole DNS labels only. Requests go through httpcore (httpx's
transport layer) with one connection pool per function and no cookie jar, so
nothing one function receives is ever sent by another; every connect, read and
write is capped at what is left of the invocation's deadline, so a trickling
upstream cannot hold a request past its timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from wasmlet.bindings._abi import Err, Ok, Result

from ..bindings.faas import (
    OutboundHttpError,
    OutboundHttpErrorDenied,
    OutboundHttpErrorFailed,
    OutboundHttpErrorTimeout,
    OutgoingRequest,
    Response,
)
from ..bodies import BodyError, body_bytes, body_from_bytes
from ..manifest import DEFAULT_PORTS, Grants, OriginPattern
from ._capability import Capability, HostServices, PerInvocation
from ._context import InvocationContext

if TYPE_CHECKING:
    import httpcore

MAX_REDIRECTS = 5
_UNBOUNDED_S = 30.0
"""The longest a request may take when its invocation has no deadline (a host-level call)."""
_DROPPED_REQUEST_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
                            "te", "trailer", "proxy-authorization", "proxy-connection"}
_DROPPED_RESPONSE_HEADERS = {b"content-length", b"transfer-encoding", b"connection", b"keep-alive"}


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return parts.scheme, parts.hostname.lower(), parts.port or DEFAULT_PORTS[parts.scheme]


_sending = threading.local()
"""The invocation whose request this thread is sending (see `_cap`)."""


def _cap(timeout: float | None, kind: str) -> float:
    """`timeout` cut to what is left of this thread's invocation deadline; raises once none is."""
    import httpcore

    ctx: InvocationContext | None = getattr(_sending, "ctx", None)
    if ctx is None:
        return 30.0 if timeout is None else timeout
    left = min(ctx.remaining(), _UNBOUNDED_S)
    if left <= 0:
        raise (httpcore.ConnectTimeout if kind == "connect" else httpcore.ReadTimeout)("deadline exceeded")
    return left if timeout is None else min(timeout, left)


def _deadline_backend() -> httpcore.NetworkBackend:
    """httpcore's sync network backend with every connect, read and write capped by `_cap`."""
    import httpcore

    class Stream(httpcore.NetworkStream):
        def __init__(self, inner: httpcore.NetworkStream) -> None:
            self.inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self.inner.read(max_bytes, _cap(timeout, "read"))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self.inner.write(buffer, _cap(timeout, "write"))

        def close(self) -> None:
            self.inner.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                      timeout: float | None = None) -> httpcore.NetworkStream:
            return Stream(self.inner.start_tls(ssl_context, server_hostname, _cap(timeout, "connect")))

        def get_extra_info(self, info: str) -> Any:
            return self.inner.get_extra_info(info)

    class Backend(httpcore.NetworkBackend):
        def __init__(self) -> None:
            self.inner = httpcore.SyncBackend()

        def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                        socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
            return Stream(self.inner.connect_tcp(host, port, _cap(timeout, "connect"), local_address,
                                                 socket_options))

        def connect_unix_socket(self, path: str, timeout: float | None = None,
                                socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
            raise httpcore.ConnectError("unix sockets are not reachable from functions")

        def sleep(self, seconds: float) -> None:
            time.sleep(min(seconds, _cap(None, "read")))

    return Backend()


class OutboundPools:
    """One connection pool per function (made on first use), so no connection or state is
    shared between functions; closed with the host."""

    def __init__(self, max_connections: int = 20) -> None:
        self.max_connections = max_connections
        self._pools: dict[str, httpcore.ConnectionPool] = {}
        self._lock = threading.Lock()

    def for_function(self, function: str) -> httpcore.ConnectionPool:
        pool = self._pools.get(function)
        if pool is None:
            with self._lock:
                pool = self._pools.get(function)
                if pool is None:
                    import httpcore
                    import httpx

                    pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(),
                                                   max_connections=self.max_connections,
                                                   network_backend=_deadline_backend())
                    self._pools[function] = pool
        return pool

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


class OutboundHttpCalls:
    """Implements `outbound-http` for one invocation: its function's allow-list, pool, deadline and limits."""

    def __init__(self, patterns: tuple[OriginPattern, ...], pools: OutboundPools,
                 ctx: InvocationContext | None = None) -> None:
        self.patterns = patterns
        self.pools = pools
        self.ctx = ctx or InvocationContext(function="")

    @classmethod
    def parse(cls, allowed: Iterable[str]) -> tuple[OriginPattern, ...]:
        return tuple(OriginPattern.parse(a) for a in allowed)

    def allowed(self, url: str) -> bool:
        try:
            scheme, host, port = origin_of(url)
        except ValueError:
            return False
        return any(p.matches(scheme, host, port) for p in self.patterns)

    def send(self, request: OutgoingRequest) -> Result[Response, OutboundHttpError]:
        import httpcore

        url, method = request.url, request.method.upper()
        if not self.allowed(url):
            return Err(OutboundHttpErrorDenied(f"outbound HTTP to {_origin_text(url)} is not allowed"))
        try:
            body: bytes | None = body_bytes(request.body) or None
        except BodyError as exc:
            return Err(OutboundHttpErrorFailed(f"request body: {exc}"))
        headers = [(k, v) for k, v in request.headers if k.lower() not in _DROPPED_REQUEST_HEADERS]
        pool = self.pools.for_function(self.ctx.function)
        _sending.ctx = self.ctx
        try:
            for _ in range(MAX_REDIRECTS + 1):
                if not self.allowed(url):
                    return Err(OutboundHttpErrorDenied(f"outbound HTTP to {_origin_text(url)} is not allowed"))
                try:
                    result = self._one(pool, method, url, headers, body)
                except httpcore.TimeoutException:
                    return Err(OutboundHttpErrorTimeout(f"{method} {_origin_text(url)}: deadline exceeded"))
                except (httpcore.ProtocolError, httpcore.NetworkError, httpcore.UnsupportedProtocol,
                        httpcore.ProxyError, ValueError, TypeError, UnicodeError) as exc:  # TypeError: a non-ASCII URL
                    return Err(OutboundHttpErrorFailed(f"{method} {_origin_text(url)}: {type(exc).__name__}: {exc}"))
                if isinstance(result, Err):
                    return result
                status, resp_headers, data, location = result
                if location is None:
                    return Ok(Response(status, resp_headers, body_from_bytes(data)))
                url = urljoin(url, location)
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method, body = "GET", None
            return Err(OutboundHttpErrorFailed(f"more than {MAX_REDIRECTS} redirects"))
        finally:
            _sending.ctx = None

    def _one(self, pool: httpcore.ConnectionPool, method: str, url: str, headers: list[tuple[str, str]],
             body: bytes | None) -> Any:
        """One hop: (status, headers, body, None), (status, [], b"", location) for a redirect, or an Err."""
        limit = self.ctx.limits.max_outbound_response_bytes
        left = _cap(None, "connect")
        timeouts = {"connect": left, "read": left, "write": left, "pool": left}
        with pool.stream(method, url, headers=headers, content=body, extensions={"timeout": timeouts}) as resp:
            location = _header(resp.headers, b"location")
            if resp.status in (301, 302, 303, 307, 308) and location is not None:
                return resp.status, [], b"", location.decode("latin-1")
            declared = _header(resp.headers, b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                return Err(OutboundHttpErrorFailed(f"response larger than {limit} bytes"))
            chunks, size = [], 0
            for chunk in resp.iter_stream():
                size += len(chunk)
                if size > limit:
                    return Err(OutboundHttpErrorFailed(f"response larger than {limit} bytes"))
                chunks.append(chunk)
            out_headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in resp.headers
                           if k.lower() not in _DROPPED_RESPONSE_HEADERS]
            return resp.status, out_headers, b"".join(chunks), None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _origin_text(url: str) -> str:
    try:
        scheme, host, port = origin_of(url)
    except ValueError:
        return repr(url[:200])
    return f"{scheme}://{host}:{port}"


_NO_POOLS = OutboundPools()
"""For a host without outbound HTTP: with no allowed origin nothing ever asks it for a pool."""


def _bind(grants: Grants, services: HostServices) -> PerInvocation:
    patterns = OutboundHttpCalls.parse(grants.allowed_hosts)
    pools = services.outbound if services.outbound is not None else _NO_POOLS
    return lambda ctx: OutboundHttpCalls(patterns, pools, ctx)


CAPABILITY = Capability("outbound_http", "outbound_http", effects=True, granted=lambda g: bool(g.allowed_hosts),
                        bind=_bind)
