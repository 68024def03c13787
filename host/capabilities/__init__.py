"""The host side of the WIT interfaces: one module per capability, all listed in `CAPABILITIES`.

Each module holds a capability's host implementation for one invocation (`KvCalls`,
`SqlCalls`, ...), its backends and its `CAPABILITY` descriptor (`_capability.py`).
A hostcall the manifest does not grant answers `denied` and never reaches a
backend; with no manifest at all every capability is built from empty grants.
Adding a capability: its module with a `CAPABILITY`, and one line below.
"""

from __future__ import annotations

from collections.abc import Callable

from ..bindings.faas import FunctionImports
from ..manifest import Grants
from . import config, kv, log, modules, outbound_http, sql
from ._capability import Capability, HostServices
from ._context import InvocationContext
from ._traced import traced
from .log import LogCalls

CAPABILITIES: tuple[Capability, ...] = (
    log.CAPABILITY,
    config.CAPABILITY,
    kv.CAPABILITY,
    sql.CAPABILITY,
    outbound_http.CAPABILITY,
    modules.CAPABILITY,
)
"""Every capability the `function` world imports; one line each."""

ImportsFactory = Callable[[InvocationContext], FunctionImports]


def bind_imports(grants: Grants, services: HostServices) -> ImportsFactory:
    """The hostcall implementations an invocation gets: exactly what `grants` allow (bound once
    per manifest; only the per-invocation parts are made per call)."""
    builders = traced(tuple((c.name, c.bind(grants, services)) for c in CAPABILITIES), services)

    def build(ctx: InvocationContext) -> FunctionImports:
        return FunctionImports(**{name: make(ctx) for name, make in builders})

    return build


def has_effects(grants: Grants) -> bool:
    """Some granted capability waits on or changes the world: an invocation may not be
    attempted and thrown away (run on the event loop under a budget)."""
    return any(c.used_by(grants) for c in CAPABILITIES)


sandbox_imports = bind_imports(Grants(), HostServices())
"""Logging granted, everything else refused: what a component gets with no manifest."""

__all__ = ["CAPABILITIES", "Capability", "HostServices", "ImportsFactory", "InvocationContext", "LogCalls",
           "bind_imports", "has_effects", "sandbox_imports"]
