"""Resource handles in host bindings: a per-invocation table of the host objects behind the handles
a guest holds, and the conversions between those objects and wasmtime's handle values.

A host-defined resource's handle carries a `rep`, a number this table gives out; the object it
stands for stays on the host side. Handles live as long as the invocation's `handle_scope`: an
object the guest drops (its `own` handle) is released at once, whatever is left when the scope
ends (the store is closed) is released then; releasing calls the object's `close()` if it has one.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import wasmtime
from wasmtime import component as _component

from .._wasmtime import StoreContext, host_resource_put, host_resource_take

_tls = threading.local()
MAX_HANDLES = 10_000
"""Host objects one invocation may hold at once: each costs host memory no guest limit counts."""


class HandleError(Exception):
    """A guest used a handle the host does not know (dropped, another invocation's, another type)."""


def resource_id(qualified: str) -> int:
    """The number wasmtime's `ResourceType.host` tells host resources apart by: stable per
    `package/interface#resource` name, so two bindings modules never share one."""
    return zlib.crc32(qualified.encode()) & 0x7FFFFFFF


class HandleTable:
    """The host objects behind one invocation's handles, by rep."""

    def __init__(self, store: wasmtime.Store, max_handles: int = MAX_HANDLES) -> None:
        self.store = store
        self.context = StoreContext(store)
        self.max_handles = max_handles
        self._objects: dict[int, tuple[int, Any]] = {}
        self._next = 1

    def __len__(self) -> int:
        return len(self._objects)

    def insert(self, resource: int, obj: Any) -> int:
        if len(self._objects) >= self.max_handles:
            _release(obj)
            raise HandleError(f"too many live resource handles ({self.max_handles}): drop some before making more")
        rep = self._next
        self._next += 1
        self._objects[rep] = (resource, obj)
        return rep

    def get(self, resource: int, rep: int) -> Any:
        found = self._objects.get(rep)
        if found is None or found[0] != resource:
            raise HandleError(f"unknown handle {rep}")
        return found[1]

    def take(self, resource: int, rep: int) -> Any:
        obj = self.get(resource, rep)
        del self._objects[rep]
        return obj

    def close(self) -> None:
        """Releases every object still held (the invocation is over)."""
        objects, self._objects = self._objects, {}
        for _, obj in objects.values():
            _release(obj)


def _release(obj: Any) -> None:
    close = getattr(obj, "close", None)
    if callable(close):
        close()


@contextmanager
def using(table: HandleTable) -> Iterator[HandleTable]:
    """Makes `table` the one this thread's generated bindings use, for one call into the guest."""
    outer = getattr(_tls, "table", None)
    _tls.table = table
    try:
        yield table
    finally:
        _tls.table = outer


@contextmanager
def handle_scope(store: wasmtime.Store, max_handles: int = MAX_HANDLES) -> Iterator[HandleTable]:
    """The handle table of the invocation running in `store` on this thread, released at the end."""
    table = HandleTable(store, max_handles)
    try:
        with using(table):
            yield table
    finally:
        table.close()


def current() -> HandleTable:
    table: HandleTable | None = getattr(_tls, "table", None)
    if table is None:
        raise HandleError("resource handles are used outside an invocation's handle_scope")
    return table


def lower_own(resource: int, obj: Any, c: Any) -> None:
    """A host object given to the guest: a new `own` handle (the guest may drop it, or pass it back)."""
    table = current()
    host_resource_put(table.context.pointer(), True, table.insert(resource, obj), resource, c)


def lower_borrow(resource: int, obj: Any, c: Any) -> None:
    """A host object lent to the guest for one call."""
    table = current()
    host_resource_put(table.context.pointer(), False, table.insert(resource, obj), resource, c)


def _rep(resource: int, c: Any) -> int:
    found, rep = host_resource_take(current().context.pointer(), c)
    if found != resource:
        raise HandleError(f"a handle of another resource type ({found}, expected {resource})")
    return rep


def lift_borrow(resource: int, c: Any) -> Any:
    """The host object a borrowed handle stands for (it stays the guest's)."""
    return current().get(resource, _rep(resource, c))


def lift_own(resource: int, c: Any) -> Any:
    """The host object an owned handle stands for, handed over: the host owns it from now on."""
    return current().take(resource, _rep(resource, c))


def drop(resource: int, rep: int) -> None:
    """The guest dropped its `own` handle: the object is released now."""
    table: HandleTable | None = getattr(_tls, "table", None)
    if table is not None:
        try:
            _release(table.take(resource, rep))
        except HandleError:
            pass


def define(inst: _component.LinkerInstance, name: str, resource: int) -> None:
    """Defines host resource `name` in a linker instance; dropping a handle releases its object."""
    inst.add_resource(name, _component.ResourceType.host(resource), lambda store, rep: drop(resource, rep))


__all__ = ["MAX_HANDLES", "HandleError", "HandleTable", "current", "define", "drop", "handle_scope", "lift_borrow", "lift_own",
           "lower_borrow", "lower_own", "resource_id", "using"]
