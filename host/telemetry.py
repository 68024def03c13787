"""OpenTelemetry traces, as a layer over the host: off, and free, unless configured.

One server span per request; one span per invocation, its child (a module call's
invocation is the child of the caller's `modules.call` hostcall span); one span per
kv, sql, outbound HTTP and module hostcall (`capabilities/_traced.py`). W3C
`traceparent` is read from requests and written into outbound requests and module
calls. Spans carry names, labels, operations and outcomes, never values, statements'
parameters, URLs' paths and query strings, or credentials.

Hostcalls run in worker threads: their parent is carried explicitly, on the
invocation's `InvocationContext.trace`, not through whatever context the thread has.
The OpenTelemetry packages are imported only when tracing is turned on; with it off
every hook returns at its first check of the module-level `_tracer`.

Configuration: `[telemetry]` in wasmlet.toml, the standard `OTEL_*` variables winning
over it (see `wanted`); spans are exported over OTLP/HTTP (protobuf) only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, MutableMapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import Span, Tracer

    from .capabilities._context import InvocationContext
    from .config import TelemetryConfig

R = TypeVar("R")

_tracer: Tracer | None = None
"""Where spans come from; None while tracing is off (every hook checks this first)."""
_provider: TracerProvider | None = None
_otel: Any = None
"""The OpenTelemetry pieces the hooks use, bound by `start` (lazily imported)."""

_OUTCOMES = {"Timeout": "timeout", "OutOfMemory": "out-of-memory", "GuestTrap": "trap", "MemoryBusy": "memory-busy"}
"""Invocation outcomes by exception class name (other exceptions: `error`)."""


class TelemetryError(ValueError):
    """The telemetry settings ask for something this host cannot export; the message says what."""


def wanted(config: TelemetryConfig, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether to trace: `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` say no, `OTEL_TRACES_EXPORTER=otlp`
    yes, else `[telemetry] enabled`; raises `TelemetryError` for an exporter or protocol other than OTLP/HTTP."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter not in ("", "otlp", "none"):
        raise TelemetryError(f"OTEL_TRACES_EXPORTER={exporter}: only otlp (or none) is supported")
    on = exporter == "otlp" or (exporter == "" and config.enabled)
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") \
        or "http/protobuf"
    if on and protocol != "http/protobuf":
        raise TelemetryError(f"OTLP protocol {protocol}: only http/protobuf is supported")
    return on


def setup(config: TelemetryConfig, environ: Mapping[str, str] = os.environ) -> bool:
    """Starts exporting spans over OTLP/HTTP when `wanted` (once per process, after any fork); returns whether it did."""
    if not wanted(config, environ):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = None  # None: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT itself
    if config.endpoint and not (environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                                or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        endpoint = config.endpoint.rstrip("/") + "/v1/traces"
    start(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)),
          environ.get("OTEL_SERVICE_NAME") or config.service_name)
    return True


def start(processor: SpanProcessor, service_name: str = "wasmlet") -> None:
    """Turns tracing on with spans going to `processor` (tests pass an in-memory one); a provider of our own,
    never the global one, so the host's spans do not depend on what else the process set up."""
    global _tracer, _provider, _otel
    import types

    from opentelemetry import context, trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    shutdown()
    _provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    _provider.add_span_processor(processor)
    _otel = types.SimpleNamespace(context=context, trace=trace, propagator=TraceContextTextMapPropagator(),
                                  SERVER=trace.SpanKind.SERVER, CLIENT=trace.SpanKind.CLIENT,
                                  INTERNAL=trace.SpanKind.INTERNAL, ERROR=trace.StatusCode.ERROR)
    _tracer = _provider.get_tracer("wasmlet")


def shutdown() -> None:
    """Turns tracing off, exporting the spans still queued (a worker calls it before it exits)."""
    global _tracer, _provider
    provider, _tracer, _provider = _provider, None, None
    if provider is not None:
        provider.shutdown()


def active() -> bool:
    """Tracing is on (capabilities then bind their hostcalls wrapped in spans)."""
    return _tracer is not None


# ------------------------------------------------------------------ requests
class RequestTrace:
    """A request's server span and the context token that makes it current for the request's task."""

    __slots__ = ("span", "token", "method")

    def __init__(self, span: Span, token: object, method: str) -> None:
        self.span, self.token, self.method = span, token, method


def request(scope: MutableMapping[str, Any], request_id: str) -> RequestTrace | None:
    """Starts a request's server span, continuing the caller's trace when it sent a valid `traceparent`."""
    if _tracer is None:
        return None
    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
               if k == b"traceparent" or k == b"tracestate"}
    parent = _otel.propagator.extract(carrier) if carrier else None
    method = scope["method"]
    span = _tracer.start_span(method, context=parent, kind=_otel.SERVER,
                              attributes={"http.request.method": method, "wasmlet.request_id": request_id})
    return RequestTrace(span, _otel.context.attach(_otel.trace.set_span_in_context(span, parent)), method)


def request_done(trace: RequestTrace, status: int, function: str, version: str) -> None:
    """Ends a request's span with its status and, when it reached a function, the route."""
    span = trace.span
    span.set_attribute("http.response.status_code", status)
    if function != "-":
        span.update_name(f"{trace.method} /{{function}}/{{version}}")
        span.set_attributes({"http.route": "/{function}/{version}", "wasmlet.function": function,
                             "wasmlet.version": version})
    if status >= 500:
        span.set_status(_otel.ERROR)
    span.end()
    _otel.context.detach(trace.token)


# --------------------------------------------------------------- invocations
class Invocation:
    """One invocation's span; `context` is what its hostcalls, in whatever thread, are children of."""

    def __init__(self, ctx: InvocationContext, cache_hit: bool, dispatch: str | None) -> None:
        assert _tracer is not None
        parent = _otel.context.get_current()  # the request's span, or the caller's `modules.call` span
        self.span = _tracer.start_span(f"invoke {ctx.function}", context=parent, attributes={
            "wasmlet.function": ctx.function, "wasmlet.version": ctx.version, "wasmlet.request_id": ctx.request_id,
            "wasmlet.cache_hit": cache_hit, "wasmlet.depth": ctx.depth})
        self.context: Context = _otel.trace.set_span_in_context(self.span, parent)
        self.dispatch = dispatch
        self.overran = False
        ctx.trace = self

    def ran(self, budget_ms: int | None) -> None:
        """Notes where a run of the invocation happened: an inline attempt, the loop or a worker thread."""
        if budget_ms is not None:
            self.dispatch = "inline"
            return
        self.overran = self.dispatch == "inline"
        self.dispatch = "loop" if threading.current_thread() is threading.main_thread() else "thread"

    def __enter__(self) -> Invocation:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        outcome = "ok" if kind is None else _OUTCOMES.get(kind.__name__, "error")
        self.span.set_attributes({"wasmlet.outcome": outcome, "wasmlet.dispatch": self.dispatch or "none",
                                  "wasmlet.inline_overrun": self.overran})
        if kind is not None:
            self.span.set_status(_otel.ERROR, outcome)
        self.span.end()


class _Off:
    """What the invocation hooks give while tracing is off: a context manager that does nothing."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        return None


_OFF = _Off()


def invocation(ctx: InvocationContext, cache_hit: bool, dispatch: str | None = None) -> Invocation | _Off:
    """A context manager spanning one invocation (a child of the current span), kept on `ctx.trace`."""
    if _tracer is None:
        return _OFF
    return Invocation(ctx, cache_hit, dispatch)


def dispatching(ctx: InvocationContext, run: Callable[[int | None], R]) -> Callable[[int | None], R]:
    """`run` itself while tracing is off; else `run` noting on the invocation's span where it ran."""
    if _tracer is None:
        return run

    def traced(budget_ms: int | None) -> R:
        if isinstance(ctx.trace, Invocation):
            ctx.trace.ran(budget_ms)
        return run(budget_ms)

    return traced


# ----------------------------------------------------------------- hostcalls
def hostcall(ctx: InvocationContext, name: str, attributes: Mapping[str, Any], call: Callable[[Context], R],
             client: bool = False, describe: Callable[[R], Mapping[str, Any]] | None = None) -> R:
    """Runs `call` (given its span's context, e.g. to inject into headers) inside a span that is a child of the
    invocation's and current in this thread meanwhile (so a module call nests under it); records its outcome:
    `ok` or the error's case (`denied`, `backend`, ...), never its message."""
    assert _tracer is not None
    parent = ctx.trace.context if isinstance(ctx.trace, Invocation) else _otel.context.get_current()
    span = _tracer.start_span(name, context=parent, kind=_otel.CLIENT if client else _otel.INTERNAL,
                              attributes=attributes)
    here = _otel.trace.set_span_in_context(span, parent)
    token = _otel.context.attach(here)
    try:
        result = call(here)
    except BaseException as exc:
        span.set_attribute("wasmlet.outcome", type(exc).__name__)
        span.set_status(_otel.ERROR)
        raise
    else:
        if getattr(result, "tag", "ok") == "err":
            case = type(getattr(result, "value", None)).__name__.partition("Error")[2].lower() or "error"
            span.set_attribute("wasmlet.outcome", case)
            span.set_status(_otel.ERROR, case)
        else:
            span.set_attribute("wasmlet.outcome", "ok")
            if describe is not None:
                span.set_attributes(describe(result))
        return result
    finally:
        _otel.context.detach(token)
        span.end()


def inject(headers: list[tuple[str, str]], context: Context) -> list[tuple[str, str]]:
    """`headers` with `traceparent` (and `tracestate`) naming the span of `context` instead of any the guest set."""
    carrier: dict[str, str] = {}
    _otel.propagator.inject(carrier, context=context)
    return [(k, v) for k, v in headers if k.lower() not in ("traceparent", "tracestate")] + list(carrier.items())
