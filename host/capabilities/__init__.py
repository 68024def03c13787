"""The host side of the WIT interfaces: one module per capability, all listed in `CAPABILITIES`.

Each module holds a capability's host implementation for one invocation (`KvCalls`,
`SqlCalls`, ...), its backends and its `CAPABILITY` descriptor (`_capability.py`).
A hostcall the manifest does not grant answers `denied` and never reaches a
backend; with no manifest at all every capability is built from empty grants.
Adding a capability: its module with a `CAPABILITY`, and one line below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..bindings.faas import FunctionImports
from ..manifest import Grants
from . import config, kv, log, messaging, modules, outbound_http, sql
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
    messaging.CAPABILITY,
    modules.CAPABILITY,
)
"""Every capability the `function` world imports, in the order of the fields of `FunctionImports`."""

ImportsFactory = Callable[[InvocationContext], FunctionImports]


def bind_imports(grants: Grants, services: HostServices) -> ImportsFactory:
    """The hostcall implementations an invocation gets: exactly what `grants` allow (bound once
    per manifest; only the per-invocation parts are made per call)."""
    bound = tuple((c.name, c.bind(grants, services)) for c in CAPABILITIES)
    builders = traced(bound, services)
    # a capability the manifest does not grant refuses every call before it looks at the
    # invocation: one instance serves them all, and only granted ones are built per call
    # (while tracing, every call gets its invocation's span: all are built per call)
    granted = {c.name for c in CAPABILITIES if c.section is None or c.granted(grants) or builders is not bound}
    template: list[Any] = [None if name in granted else make(_NO_INVOCATION) for name, make in builders]
    per_call = tuple((i, make) for i, (name, make) in enumerate(builders) if name in granted)

    def build(ctx: InvocationContext) -> FunctionImports:
        values = template.copy()
        for i, make in per_call:
            values[i] = make(ctx)
        return FunctionImports(*values)

    return build


_NO_INVOCATION = InvocationContext(function="")
"""What an ungranted capability is built with: it refuses every call before reading it."""


def has_effects(grants: Grants) -> bool:
    """Some granted capability waits on or changes the world: an invocation may not be
    attempted and thrown away (run on the event loop under a budget)."""
    return any(c.used_by(grants) for c in CAPABILITIES)


sandbox_imports = bind_imports(Grants(), HostServices())
"""Logging granted, everything else refused: what a component gets with no manifest."""

__all__ = ["CAPABILITIES", "Capability", "HostServices", "ImportsFactory", "InvocationContext", "LogCalls",
           "bind_imports", "has_effects", "sandbox_imports"]
