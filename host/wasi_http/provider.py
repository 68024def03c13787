"""Runs a standard `wasi:http/proxy` component for one request: the WASI imports it may use, all
implemented here in Python (a Python `wasi:io` cannot be mixed with wasmtime's own WASI), and the
call of its exported `incoming-handler.handle`, whose answer becomes a wasmlet `Response`.
"""

from __future__ import annotations

import threading

import wasmtime
from wasmtime.component import Component, Instance, Linker

from ..bindings import _handles as handles
from ..bindings import faas
from ..bindings import wasi_http as w
from ..bindings._abi import GuestError
from ..bodies import body_bytes, body_from_bytes
from ..capabilities import InvocationContext
from ..errors import GuestTrap, InvalidResponse, InvocationError
from ._http import Fields, HttpTypesHost, IncomingRequest, OutboundSender, Outcome, OutgoingHandlerHost, ResponseOutparam
from ._io import Budget, IoHost
from ._system import (
    CliHost,
    FilesystemHost,
    GuestExit,
    MonotonicClockHost,
    PreopensHost,
    RandomHost,
    SocketsHost,
    WallClockHost,
)

MiB = 1024 * 1024
HANDLER = "wasi:http/incoming-handler"
"""The interface a proxy component exports (any 0.2.x version)."""
PROVIDED = frozenset({
    "wasi:io/error", "wasi:io/poll", "wasi:io/streams", "wasi:clocks/monotonic-clock", "wasi:clocks/wall-clock",
    "wasi:random/random", "wasi:random/insecure", "wasi:random/insecure-seed", "wasi:cli/environment",
    "wasi:cli/exit", "wasi:cli/stdin", "wasi:cli/stdout", "wasi:cli/stderr", "wasi:cli/terminal-input",
    "wasi:cli/terminal-output", "wasi:cli/terminal-stdin", "wasi:cli/terminal-stdout", "wasi:cli/terminal-stderr",
    "wasi:filesystem/types", "wasi:filesystem/preopens", "wasi:sockets/network", "wasi:sockets/instance-network",
    "wasi:sockets/ip-name-lookup", "wasi:sockets/tcp", "wasi:sockets/tcp-create-socket", "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket", "wasi:http/types", "wasi:http/outgoing-handler",
})
"""Interfaces (without version) the provider defines; a component may import each at any 0.2.x."""

_STATIC = (MonotonicClockHost(), WallClockHost(), PreopensHost(), FilesystemHost(), SocketsHost())


def provides(name: str) -> bool:
    """Whether an import (`wasi:io/streams@0.2.9`) is one the provider answers."""
    base, _, version = name.partition("@")
    return base in PROVIDED and version.startswith("0.2.")


def exported_handler(names: tuple[str, ...]) -> str | None:
    """The `wasi:http/incoming-handler@0.2.x` a component exports, if any."""
    for name in names:
        base, _, version = name.partition("@")
        if base == HANDLER and version.startswith("0.2."):
            return name
    return None


class Provider:
    """The proxy-host world linked once into a shared linker; each invocation brings its own
    implementations (this thread's, innermost last)."""

    def __init__(self, engine: wasmtime.Engine) -> None:
        self.linker = Linker(engine)
        self._tls = threading.local()
        w.add_proxy_host_to_linker(self.linker, self._current)

    def _current(self) -> w.ProxyHostImports:
        stack: list[w.ProxyHostImports] = self._tls.stack
        return stack[-1]

    def exports(self, component: Component) -> w.ProxyHostExports:
        return w.ProxyHostExports(component)

    def invoke(self, store: wasmtime.Store, component: Component, exports: w.ProxyHostExports, event: faas.Event,
               ctx: InvocationContext, calls: faas.FunctionImports, memory_limit: int) -> faas.Response:
        """Instantiates the component in `store` and lets it answer `event`'s request."""
        request = _request_of(event, ctx)
        outcome = Outcome()
        cli = CliHost(ctx)
        imports = _imports(ctx, outcome, cli, calls, memory_limit)
        stack: list[w.ProxyHostImports] | None = getattr(self._tls, "stack", None)
        if stack is None:
            stack = self._tls.stack = []
        stack.append(imports)
        try:
            with handles.handle_scope(store):
                instance: Instance = self.linker.instantiate(store, component)
                incoming = IncomingRequest(request.method, _path_with_query(request), _authority(request),
                                           Fields([(k, v.encode("latin-1")) for k, v in request.headers], True),
                                           body_bytes(request.body), ctx.request_stream)
                try:
                    exports.incoming_handler_handle(store, instance, incoming, ResponseOutparam())
                except GuestError as exc:
                    if not (isinstance(exc.host_exception, GuestExit) and _complete(outcome)):
                        raise
                    # it exited once its response was whole: the response stands
                finally:
                    cli.output.flush_pending()
                return _response_of(outcome, ctx)
        finally:
            stack.pop()


def _imports(ctx: InvocationContext, outcome: Outcome, cli: CliHost, calls: faas.FunctionImports,
             memory_limit: int) -> w.ProxyHostImports:
    clock, wall, preopens, filesystem, sockets = _STATIC
    io = IoHost(ctx)
    rand = RandomHost(memory_limit)
    budget = Budget(memory_limit)
    sender = OutboundSender(calls, budget)
    return w.ProxyHostImports(
        error=io, poll=io, streams=io, monotonic_clock=clock, wall_clock=wall, filesystem_types=filesystem,
        preopens=preopens, instance_network=sockets, ip_name_lookup=sockets, tcp=sockets,
        tcp_create_socket=sockets, udp=sockets, udp_create_socket=sockets, insecure_seed=rand, insecure=rand,
        random=rand, environment=cli, exit=cli, stdin=cli, stdout=cli, stderr=cli, terminal_stdin=cli,
        terminal_stdout=cli, terminal_stderr=cli,
        http_types=HttpTypesHost(ctx, outcome, budget),  # type: ignore[arg-type]
        outgoing_handler=OutgoingHandlerHost(sender),
    )


def _request_of(event: faas.Event, ctx: InvocationContext) -> faas.Request:
    if isinstance(event, faas.EventHttp):
        return event.value
    if isinstance(event, faas.EventCall):
        return event.value.request
    raise InvocationError("a wasi:http component answers HTTP requests only (not messages or schedules)",
                          function=ctx.function)


def _path_with_query(request: faas.Request) -> str:
    return request.path + (f"?{request.query}" if request.query else "")


def _authority(request: faas.Request) -> str | None:
    for name, value in request.headers:
        if name == "host":
            return value
    return None


def _response_of(outcome: Outcome, ctx: InvocationContext) -> faas.Response:
    """The guest's answer as a wasmlet response. No response, or an error code, is a failure of the
    component (a 500, as under `wasmtime serve`), and so is a body it dropped unfinished; a body over
    the function's memory limit is an `InvalidResponse` (a 502)."""
    if not outcome.set:
        raise GuestTrap("the component returned without setting a response", function=ctx.function,
                        output_tail=ctx.tail())
    if outcome.response is None:
        raise GuestTrap(f"the component answered with an error: {_code_text(outcome.error)}",
                        function=ctx.function, output_tail=ctx.tail())
    response = outcome.response
    data = b""
    if response.body is not None:
        if ctx.response_stream is not None and ctx.response_stream.started and not response.body.finished:
            raise GuestTrap("the component dropped the response body without finishing it (after it was "
                            "partly sent)", function=ctx.function, output_tail=ctx.tail())
        if response.body.sink.overflowed:
            raise InvalidResponse(f"response body larger than {response.body.sink.limit} bytes "
                                  "(the function's memory limit)", function=ctx.function)
        if response.body.taken and not response.body.finished:
            raise GuestTrap("the component dropped the response body without finishing it",
                            function=ctx.function, output_tail=ctx.tail())
        data = response.body.sink.value()
    headers = [(k, v.decode("latin-1")) for k, v in response.headers.entries]
    return faas.Response(response.status, headers, body_from_bytes(data))


def _complete(outcome: Outcome) -> bool:
    """The guest set a response and finished its body (or never asked for one)."""
    response = outcome.response
    return response is not None and (response.body is None or not response.body.taken or response.body.finished)


def _code_text(code: object) -> str:
    if code is None:
        return "none"
    tag = getattr(code, "tag", type(code).__name__)
    value = getattr(code, "value", None)
    return f"{tag}({value})" if value is not None else str(tag)
