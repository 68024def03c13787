"""Outbound HTTP answered by mocks: a stand-in for the capability's per-function connection pool.

The outbound-http capability checks the manifest's allow-list before it asks
for a pool, so a request to an origin the manifest does not grant is `denied`
whatever is mocked. A granted request reaches `MockPool.handle_request`, which
records it and answers from the newest matching mock; a request no mock matches
fails like an unreachable network (the guest gets a `failed` error naming the
missing mock) unless real HTTP was allowed.
"""

from __future__ import annotations

import json as jsonlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import httpcore
import httpx

from ..capabilities.outbound_http import OutboundPools

MockHandler = Callable[[httpx.Request], httpx.Response]
"""Answers one mocked request: takes the request as an `httpx.Request`, returns an `httpx.Response`."""
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNSET: Any = object()


@dataclass(frozen=True)
class OutboundCall:
    """One outbound HTTP request a function made (one per redirect hop), as it would have gone on the wire."""

    function: str
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int | None
    """The status it was answered with; None when it failed (no mock, or the mock raised)."""
    mocked: bool
    """A mock answered it (False: no mock matched, or it went to the real network)."""
    error: str | None = None
    """Why it failed, when it did."""

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.body)


def _origin_and_path(url: httpx.URL) -> tuple[str, str, int, str]:
    return url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme, 0), url.path or "/"


@dataclass
class HttpMock:
    """A registered answer: requests with this method (`*`: any) to this URL get its response or
    its handler's. A URL without a query matches any query; a compiled regex is matched in full."""

    method: str
    url: str | re.Pattern[str]
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    handler: MockHandler | None = None
    calls: list[OutboundCall] = field(default_factory=list)
    """The requests this mock answered."""

    def matches(self, method: str, url: httpx.URL) -> bool:
        if self.method != "*" and self.method != method:
            return False
        if isinstance(self.url, re.Pattern):
            return self.url.fullmatch(str(url)) is not None
        want = httpx.URL(self.url)
        if _origin_and_path(want) != _origin_and_path(url):
            return False
        return not want.query or want.query == url.query

    def respond(self, request: httpx.Request) -> httpx.Response:
        if self.handler is not None:
            response = self.handler(request)
            if not isinstance(response, httpx.Response):
                raise TypeError(f"a mock handler must return an httpx.Response, not {type(response).__name__}")
            response.read()
            return response
        return httpx.Response(self.status, headers=list(self.headers), content=self.body)


def make_mock(method: str, url: str | re.Pattern[str], *, status: int, json: Any, body: str | bytes | None,
              headers: Mapping[str, str] | Sequence[tuple[str, str]] | None, handler: MockHandler | None) -> HttpMock:
    """Checks a `mock_http` call and makes its `HttpMock`."""
    if handler is not None and (json is not _UNSET or body is not None or headers is not None or status != 200):
        raise ValueError("mock_http: give either a handler or status/json/body/headers, not both")
    if json is not _UNSET and body is not None:
        raise ValueError("mock_http: give json= or body=, not both")
    if isinstance(url, str):
        parsed = httpx.URL(url)
        if parsed.scheme not in _DEFAULT_PORTS or not parsed.host:
            raise ValueError(f"mock_http: expected an absolute http(s) URL, got {url!r}")
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
    if json is not _UNSET:
        data = jsonlib.dumps(json).encode()
        if not any(k.lower() == "content-type" for k, _ in pairs):
            pairs.append(("content-type", "application/json"))
    else:
        data = body.encode() if isinstance(body, str) else (body or b"")
    return HttpMock(method.upper(), url, status, tuple(pairs), data, handler)


class MockRoutes:
    """The mocks and the record of one harness: what its function's outbound requests get."""

    def __init__(self) -> None:
        self.mocks: list[HttpMock] = []
        self.calls: list[OutboundCall] = []
        self.lock = threading.Lock()

    def add(self, mock: HttpMock) -> None:
        with self.lock:
            self.mocks.append(mock)

    def find(self, method: str, url: httpx.URL) -> HttpMock | None:
        """The newest matching mock: a later `mock_http` overrides an earlier one."""
        with self.lock:
            return next((m for m in reversed(self.mocks) if m.matches(method, url)), None)

    def record(self, call: OutboundCall, mock: HttpMock | None) -> None:
        with self.lock:
            self.calls.append(call)
            if mock is not None:
                mock.calls.append(call)


def _url_text(url: httpcore.URL) -> str:
    scheme, host = url.scheme.decode("ascii"), url.host.decode("ascii")
    port = f":{url.port}" if url.port is not None and url.port != _DEFAULT_PORTS.get(scheme) else ""
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}{port}{url.target.decode('ascii')}"


class MockPool(httpcore.ConnectionPool):
    """Answers one function's outbound requests from its routes (and the real network when allowed)."""

    def __init__(self, function: str, routes: MockRoutes, real: OutboundPools | None) -> None:
        super().__init__()
        self.function = function
        self.routes = routes
        self.real = real

    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        method = request.method.decode("ascii")
        url = _url_text(request.url)
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers)
        body = b"".join(cast(Iterable[bytes], request.stream))
        mock = self.routes.find(method, httpx.URL(url))

        def record(status: int | None, mocked: bool, error: str | None = None) -> None:
            self.routes.record(OutboundCall(self.function, method, url, headers, body, status, mocked, error),
                               mock if mocked else None)

        if mock is None:
            if self.real is not None:
                response = self.real.for_function(self.function).handle_request(request)
                record(response.status, False)
                return response
            error = (f"wasmlet.testing: no mock for {method} {url} "
                     f"(register one with mock_http({method!r}, {url.split('?')[0]!r}, ...))")
            record(None, False, error)
            raise httpcore.ConnectError(error)
        try:
            answer = mock.respond(httpx.Request(method, url, headers=list(headers), content=body))
        except httpx.TimeoutException as exc:  # a mock may simulate a slow upstream
            record(None, True, f"{type(exc).__name__}: {exc}")
            raise httpcore.ReadTimeout(str(exc)) from None
        except Exception as exc:  # a mock's bug or a simulated network failure: the guest sees `failed`
            record(None, True, f"{type(exc).__name__}: {exc}")
            raise httpcore.ConnectError(f"mock for {method} {url} raised {type(exc).__name__}: {exc}") from None
        record(answer.status_code, True)
        return httpcore.Response(answer.status_code, headers=answer.headers.raw, content=answer.content)


class MockPools(OutboundPools):
    """`OutboundPools` whose pools are `MockPool`s: each function's requests go to its harness's routes."""

    def __init__(self, default: MockRoutes, real_http: bool = False) -> None:
        super().__init__()
        self.default = default
        self.routes: dict[str, MockRoutes] = {}
        """Routes by function name (a module's harness answers its own function's requests)."""
        self.real = OutboundPools() if real_http else None
        self._mock_pools: dict[str, MockPool] = {}
        self._mock_lock = threading.Lock()

    def route(self, function: str, routes: MockRoutes) -> None:
        """Requests of `function` go to `routes` from now on."""
        with self._mock_lock:
            self.routes[function] = routes
            self._mock_pools.pop(function, None)

    def for_function(self, function: str) -> httpcore.ConnectionPool:
        with self._mock_lock:
            pool = self._mock_pools.get(function)
            if pool is None:
                routes = self.routes.get(function, self.default)
                pool = self._mock_pools[function] = MockPool(function, routes, self.real)
            return pool

    def close(self) -> None:
        if self.real is not None:
            self.real.close()
        super().close()
