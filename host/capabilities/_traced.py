"""Hostcall spans: kv, sql, outbound HTTP and module calls wrapped at bind time, only while tracing is on.

Each span names the capability and operation (`kv.get`, `sql.query`, `outbound_http.send`,
`modules.call`) with the store or database label and its backend, the SQL verb, the
outbound origin or the module called; never keys, values, statements, parameters,
paths, query strings or credentials. With tracing off `traced` returns the builders
as they are: no wrapper, no cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from .. import telemetry
from ..bindings.faas import OutgoingRequest, Request
from ._capability import HostServices, PerInvocation
from ._context import InvocationContext

Builders = tuple[tuple[str, PerInvocation], ...]


def traced(builders: Builders, services: HostServices) -> Builders:
    """The builders, those of traced capabilities wrapped in spans while tracing is on."""
    if not telemetry.active():
        return builders
    backends = services.backends
    configs = {"kv": backends.kv_config if backends else {}, "sql": backends.sql_config if backends else {}}
    return tuple((name, _wrap(name, make, configs)) for name, make in builders)


def _wrap(name: str, make: PerInvocation, configs: Mapping[str, Mapping[str, Any]]) -> PerInvocation:
    if name in configs:
        config = configs[name]
        return lambda ctx: _Labelled(make(ctx), ctx, name, config)
    if name == "outbound_http":
        return lambda ctx: _Outbound(make(ctx), ctx)
    if name == "modules":
        return lambda ctx: _Modules(make(ctx), ctx)
    return make


def _backend(config: Mapping[str, Any], label: str) -> str:
    """The type of backend serving `label`, as `Backends` picks it."""
    table = config.get(label)
    if isinstance(table, Mapping):
        return str(table.get("type", "sqlite"))
    return "sqlite" if label == "default" else "none"


def _verb(statement: str) -> str:
    """A statement's first keyword (`SELECT`), the only part of it a span carries."""
    word = statement.lstrip().split(None, 1)[0] if statement.strip() else ""
    return word.upper() if word.isalpha() and len(word) <= 16 else "OTHER"


class _Labelled:
    """kv or sql for one invocation: every call (label first) in a span naming the label, backend and operation."""

    def __init__(self, inner: Any, ctx: InvocationContext, capability: str, config: Mapping[str, Any]) -> None:
        self.inner, self.ctx, self.capability, self.config = inner, ctx, capability, config

    def __getattr__(self, op: str) -> Callable[..., Any]:
        method = getattr(self.inner, op)

        def call(label: str, *args: Any) -> Any:
            attributes = {"wasmlet.hostcall.label": label, "wasmlet.hostcall.backend": _backend(self.config, label),
                          "wasmlet.hostcall.operation": op}
            if self.capability == "sql" and args and isinstance(args[0], str):
                attributes["db.operation.name"] = _verb(args[0])
            return telemetry.hostcall(self.ctx, f"{self.capability}.{op}", attributes, lambda _: method(label, *args))

        return call


def _origin(url: str) -> dict[str, Any]:
    """Scheme, host and port of a URL: no user, password, path or query."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return {}
    out: dict[str, Any] = {"url.scheme": parts.scheme, "server.address": parts.hostname or ""}
    if port is not None:
        out["server.port"] = port
    return out


def _status(result: Any) -> dict[str, Any]:
    return {"http.response.status_code": result.value.status}


class _Outbound:
    """outbound-http for one invocation: each request in a client span, its `traceparent` injected when sent."""

    def __init__(self, inner: Any, ctx: InvocationContext) -> None:
        self.inner, self.ctx = inner, ctx

    def send(self, request: OutgoingRequest) -> Any:
        attributes = {"http.request.method": request.method.upper(), "wasmlet.hostcall.operation": "send",
                      **_origin(request.url)}
        return telemetry.hostcall(
            self.ctx, "outbound_http.send", attributes,
            lambda here: self.inner.send(replace(request, headers=telemetry.inject(request.headers, here))),
            client=True, describe=_status)


class _Modules:
    """modules for one invocation: each call in a span the callee's invocation nests under, `traceparent` passed on."""

    def __init__(self, inner: Any, ctx: InvocationContext) -> None:
        self.inner, self.ctx = inner, ctx

    def call(self, module: str, request: Request) -> Any:
        attributes = {"wasmlet.module": module, "wasmlet.hostcall.operation": "call",
                      "http.request.method": request.method}
        return telemetry.hostcall(
            self.ctx, "modules.call", attributes,
            lambda here: self.inner.call(module, replace(request, headers=telemetry.inject(request.headers, here))),
            describe=_status)
