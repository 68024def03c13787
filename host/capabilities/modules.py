"""`wasmlet:faas/modules`: one function calls another, in-process, with a depth limit."""

from __future__ import annotations

from typing import Protocol

from wasmlet.bindings._abi import Err, Ok, Result

from ..bindings.faas import (
    BodyOctets,
    ModulesError,
    ModulesErrorDenied,
    ModulesErrorFailed,
    ModulesErrorNotFound,
    Request,
    Response,
)
from ..bodies import BodyError, body_bytes
from ..errors import InvocationError
from ..manifest import Grants
from ._capability import Capability, HostServices, PerInvocation
from ._context import InvocationContext

MAX_DEPTH = 8


class ModuleInvoker(Protocol):
    """Runs another function (the HTTP host provides it)."""

    def call_module(self, name: str, version: str, request: Request, parent: InvocationContext) -> Response: ...


class ModulesCalls:
    """Implements `modules` for one invocation."""

    def __init__(self, granted: tuple[str, ...], invoker: ModuleInvoker | None, ctx: InvocationContext) -> None:
        self.granted = granted
        self.invoker = invoker
        self.ctx = ctx

    def _allowed(self, name: str, version: str) -> bool:
        return any(g == name or g == f"{name}/{version}" for g in self.granted)

    def call(self, module: str, request: Request) -> Result[Response, ModulesError]:
        name, _, version = module.partition("/")
        version = version or "latest"
        if not self._allowed(name, version):
            return Err(ModulesErrorDenied(f"calling {module!r} is not allowed"))
        if self.invoker is None:
            return Err(ModulesErrorNotFound(f"no function {module!r} on this host"))
        if self.ctx.depth + 1 >= MAX_DEPTH:
            return Err(ModulesErrorFailed(f"call depth limit ({MAX_DEPTH}) exceeded calling {module!r}"))
        if self.ctx.remaining() <= 0:
            return Err(ModulesErrorFailed(f"calling {module!r}: the invocation's deadline has passed"))
        try:
            response = self.invoker.call_module(name, version, request, self.ctx)
        except LookupError as exc:
            return Err(ModulesErrorNotFound(str(exc)))
        except InvocationError as exc:
            return Err(ModulesErrorFailed(f"{module}: {type(exc).__name__}: {exc.message}"))
        value = response.body.value
        if isinstance(response.body, BodyOctets):  # one character per byte, each at most U+00FF
            try:
                size = len(body_bytes(response.body))
            except BodyError as exc:
                return Err(ModulesErrorFailed(f"{module}: {exc}"))
        else:
            size = len(value.encode()) if isinstance(value, str) and len(value) * 4 > self.ctx.limits.max_module_response_bytes \
                else len(value)
        limit = self.ctx.limits.max_module_response_bytes
        if size > limit:
            return Err(ModulesErrorFailed(f"{module}: response body of {size} bytes is over the limit of {limit}"))
        return Ok(response)


def _bind(grants: Grants, services: HostServices) -> PerInvocation:
    allowed, invoker = grants.modules, services.invoker
    return lambda ctx: ModulesCalls(allowed, invoker, ctx)


CAPABILITY = Capability("modules", "modules", effects=True, granted=lambda g: bool(g.modules), bind=_bind)
