"""The sandbox with no manifest: every capability built from empty grants, so each call is refused
by the same code that refuses it for a real function (there is no separate "denied" implementation)."""

from __future__ import annotations

from typing import NoReturn

from ..bindings.faas import FunctionImports
from ..manifest import Manifest
from ._context import InvocationContext
from .config import ConfigHost
from .kv import KvHost
from .log import GuestLog
from .modules import ModulesHost
from .outbound_http import OutboundHttpHost, OutboundPools
from .sql import SqlHost

_EMPTY = Manifest().grants
_NO_POOLS = OutboundPools()
"""Never used: with no allowed origin every request is refused before a pool is asked for."""


def _no_backend(label: str) -> NoReturn:
    raise LookupError(f"no backend for {label!r} in the sandbox")


def sandbox_imports(ctx: InvocationContext) -> FunctionImports:
    """Logging granted, everything else refused: what a component gets with no manifest."""
    return FunctionImports(
        log=GuestLog(ctx), config=ConfigHost(_EMPTY), kv=KvHost(frozenset(), _no_backend, ctx),
        sql=SqlHost(frozenset(), _no_backend, ctx), outbound_http=OutboundHttpHost((), _NO_POOLS, ctx),
        modules=ModulesHost((), None, ctx),
    )
