"""`wasmlet:faas/outbound-http`: requests through httpx to allow-listed origins only.

The allow-list is checked on every hop: redirects are followed here, one at a
time, and a hop to an origin that is not allowed is refused. Names are matched
as written: an IP literal does not match an allowed host name.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import urljoin, urlsplit

from wasmlet_bindgen.abi import Err, Ok, Result

from ..bindings.faas import (
    OutboundHttpError,
    OutboundHttpErrorDenied,
    OutboundHttpErrorFailed,
    OutboundHttpErrorTimeout,
    OutgoingRequest,
    Response,
)
from ..bodies import body_bytes, body_from_bytes

if TYPE_CHECKING:
    import httpx

ClientSource = Union["httpx.Client", Callable[[], "httpx.Client"]]
"""A client, or how to get the shared one (the host makes it on first use: importing
httpx is a tenth of the host's start-up)."""

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class OriginPattern:
    """`scheme://host[:port]`; host may start with `*.`, port may be `*`."""

    scheme: str
    host: str
    port: int | None  # None: any port

    @classmethod
    def parse(cls, text: str) -> OriginPattern:
        scheme, sep, rest = text.partition("://")
        if not sep or scheme not in DEFAULT_PORTS:
            raise ValueError(f"{text!r}: expected http://host[:port] or https://host[:port]")
        rest = rest.rstrip("/")
        if "/" in rest or "?" in rest or "@" in rest or not rest:
            raise ValueError(f"{text!r}: only scheme, host and port, no path or credentials")
        if rest.startswith("["):
            host, _, port = rest[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = rest.partition(":")
        if port == "*":
            return cls(scheme, host.lower(), None)
        if port and not port.isdigit():
            raise ValueError(f"{text!r}: invalid port {port!r}")
        return cls(scheme, host.lower(), int(port) if port else DEFAULT_PORTS[scheme])

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if scheme != self.scheme or (self.port is not None and port != self.port):
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and host != self.host[2:]
        return fnmatch.fnmatchcase(host, self.host) if "*" in self.host else host == self.host


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return parts.scheme, parts.hostname.lower(), parts.port or DEFAULT_PORTS[parts.scheme]


class OutboundHttpHost:
    """Implements `outbound-http` for one function's allow-list."""

    def __init__(self, allowed: tuple[str, ...], client: ClientSource, timeout_s: float = 10.0,
                 max_response_bytes: int = 10 * 1024 * 1024) -> None:
        self.patterns = [OriginPattern.parse(a) for a in allowed]
        self._client = client
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes

    def allowed(self, url: str) -> bool:
        try:
            scheme, host, port = origin_of(url)
        except ValueError:
            return False
        return any(p.matches(scheme, host, port) for p in self.patterns)

    @property
    def client(self) -> httpx.Client:
        c = self._client
        return c() if callable(c) else c

    def send(self, request: OutgoingRequest) -> Result[Response, OutboundHttpError]:
        import httpx

        url, method = request.url, request.method.upper()
        body: bytes | None = body_bytes(request.body) or None
        headers = [(k, v) for k, v in request.headers if k.lower() not in ("host", "content-length")]
        for _ in range(MAX_REDIRECTS + 1):
            if not self.allowed(url):
                return Err(OutboundHttpErrorDenied(f"outbound HTTP to {_origin_text(url)} is not allowed"))
            try:
                result = self._one(method, url, headers, body)
            except httpx.TimeoutException as exc:
                return Err(OutboundHttpErrorTimeout(f"{method} {url}: {type(exc).__name__}"))
            except httpx.HTTPError as exc:
                return Err(OutboundHttpErrorFailed(f"{method} {url}: {type(exc).__name__}: {exc}"))
            if isinstance(result, Err):
                return result
            status, resp_headers, data, location = result
            if location is None:
                return Ok(Response(status, resp_headers, body_from_bytes(data)))
            url = urljoin(url, location)
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body = "GET", None
        return Err(OutboundHttpErrorFailed(f"more than {MAX_REDIRECTS} redirects"))

    def _one(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> Any:
        with self.client.stream(method, url, headers=headers, content=body, timeout=self.timeout_s,
                                follow_redirects=False) as resp:
            if resp.is_redirect and "location" in resp.headers:
                return resp.status_code, [], b"", resp.headers["location"]
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > self.max_response_bytes:
                    return Err(OutboundHttpErrorFailed(f"response larger than {self.max_response_bytes} bytes"))
                chunks.append(chunk)
            out_headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in resp.headers.raw
                           if k.lower() not in (b"content-length", b"transfer-encoding", b"content-encoding")]
            return resp.status_code, out_headers, b"".join(chunks), None


def _origin_text(url: str) -> str:
    try:
        scheme, host, port = origin_of(url)
    except ValueError:
        return repr(url)
    return f"{scheme}://{host}:{port}"
