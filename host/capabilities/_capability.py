"""What a capability is to the host (Spin's "factor" is the model): one unit per WIT interface.

A `Capability` names the manifest section that grants it, says whether using it
has effects beyond the invocation (then an invocation may not be attempted on
the event loop and thrown away), and binds, once per manifest, the builder of
its host implementation for one invocation. `capabilities.CAPABILITIES` lists
them all: the dispatcher and the import wiring read that list, never a
hand-kept one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..manifest import Grants
from ._context import InvocationContext

if TYPE_CHECKING:
    from .backends import Backends
    from .modules import ModuleInvoker
    from .outbound_http import OutboundPools

PerInvocation = Callable[[InvocationContext], Any]
"""Builds a capability's host implementation for one invocation."""


@dataclass(frozen=True)
class HostServices:
    """What capabilities are built on: the process's backends, outbound pools and module invoker."""

    backends: Backends | None = None
    outbound: OutboundPools | None = None
    invoker: ModuleInvoker | None = None


@dataclass(frozen=True)
class Capability:
    """One WIT interface's host side: its grant, its effects and how to build it per invocation."""

    name: str
    """The interface, as a field of the generated `FunctionImports` (`kv`, `outbound_http`, ...)."""
    section: str | None
    """The manifest section that grants it (`None`: always granted, like `log`)."""
    effects: bool
    """Using it waits on or changes the world beyond the invocation (a database, the network,
    another function): an attempt that uses it cannot be thrown away and run again."""
    granted: Callable[[Grants], bool]
    """Whether a manifest grants any of it."""
    bind: Callable[[Grants, HostServices], PerInvocation]
    """Once per manifest: the per-invocation builder (parsing and lookups done here, not per call)."""

    def used_by(self, grants: Grants) -> bool:
        """The manifest grants something of this capability that has effects."""
        return self.effects and self.granted(grants)


def labelled(name: str, what: str, labels_of: Callable[[Grants], tuple[str, ...]],
             backends_of: Callable[[Backends], Callable[[str], Any]], calls: Callable[..., Any]) -> Capability:
    """The descriptor of a capability on labelled backends (kv stores, SQL databases): granted by a
    list of labels in its manifest section, with effects, its backends from the host's runtime config."""
    def bind(grants: Grants, services: HostServices) -> PerInvocation:
        labels = frozenset(labels_of(grants))
        open_backend = backends_of(services.backends) if services.backends is not None else _no_backend
        return lambda ctx: calls(labels, open_backend, ctx)

    def _no_backend(label: str) -> Any:
        raise LookupError(f"no {what} backend for {label!r} on this host")

    return Capability(name, name, effects=True, granted=lambda g: bool(labels_of(g)), bind=bind)
