"""The only module touching wasmtime-py's private API (`wasmtime._bindings`, `Store._context()`,
`Func._func`, `WasmtimeError._from_ptr`, `LinkerInstance.ptr()`); it refuses any wasmtime-py
but the pinned one at import, because private bindings change without notice between releases.

Here live the C types and C functions of wasmtime's component-value API, and the calls that need
them: calling an export (`call`, `post_return`) and defining a host function (`add_func`). The
generated bindings reach them through `wasmlet.bindings._abi`, which re-exports the same objects
(no wrapper per call).
"""

from __future__ import annotations

import ctypes
import re
import threading
from collections.abc import Callable
from ctypes import POINTER, byref, c_char_p, c_size_t, c_void_p
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import component as _component

PINNED = "51.0.0"
"""The wasmtime-py release whose private bindings this module was written against (pyproject pins it)."""


class WasmtimeVersionError(ImportError):
    """The installed wasmtime-py is not the pinned one, so its private bindings may differ."""


def installed_version() -> str:
    """wasmtime-py's version from its dist-info folder (importlib.metadata costs ~30 ms of start-up)."""
    site = Path(wasmtime.__file__).resolve().parent.parent
    for info in site.glob("wasmtime-*.dist-info"):
        return info.name[len("wasmtime-"):-len(".dist-info")]
    import importlib.metadata

    return importlib.metadata.version("wasmtime")


def _release(version: str) -> tuple[int, int, int] | None:
    """major.minor.patch of a version string, ignoring any suffix (`.post1`, `+local`)."""
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    return None if m is None else (int(m[1]), int(m[2]), int(m[3]))


def check_version(found: str) -> None:
    """Raises a one-line `WasmtimeVersionError` unless `found` is the pinned major.minor.patch."""
    if _release(found) != _release(PINNED):
        raise WasmtimeVersionError(f"wasmlet needs wasmtime-py {PINNED} (its private C-API bindings are used); "
                                   f"found {found}: pip install wasmtime=={PINNED}")


WASMTIME_VERSION = installed_version()
"""The installed wasmtime-py's version, checked below before any private name is touched."""

check_version(WASMTIME_VERSION)

from wasmtime import _bindings as capi  # noqa: E402  (only after the version check)
from wasmtime import _ffi as ffi  # noqa: E402

# ------------------------------------------------------------------ C types

Val = capi.wasmtime_component_val_t
"""One component-model value as wasmtime's C API holds it (32 bytes)."""
ValRecordEntry = capi.wasmtime_component_valrecord_entry_t
"""One record field: its name and its value."""

_DLL: Any = getattr(capi, "dll")


def _proto(name: str, restype: Any, *argtypes: Any) -> Any:
    """A C function that runs guest code: it releases the GIL while it runs."""
    return ctypes.CFUNCTYPE(restype, *argtypes)((name, _DLL))


def _quick(name: str, restype: Any, *argtypes: Any) -> Any:
    """A C function that only allocates or frees: it keeps the GIL, so a worker thread
    lowering values does not hand the GIL to another thread at every allocation."""
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, _DLL))


byte_vec_new = _quick("wasm_byte_vec_new", None, c_void_p, c_size_t, c_char_p)
val_new = _quick("wasmtime_component_val_new", POINTER(Val), c_void_p)
val_delete = _quick("wasmtime_component_val_delete", None, c_void_p)
list_new_uninit = _quick("wasmtime_component_vallist_new_uninit", None, c_void_p, c_size_t)
list_delete = _quick("wasmtime_component_vallist_delete", None, c_void_p)
record_new_uninit = _quick("wasmtime_component_valrecord_new_uninit", None, c_void_p, c_size_t)
record_delete = _quick("wasmtime_component_valrecord_delete", None, c_void_p)
flags_new_uninit = _quick("wasmtime_component_valflags_new_uninit", None, c_void_p, c_size_t)
_func_call = _proto(
    "wasmtime_component_func_call", c_void_p,
    c_void_p, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t,
)
_func_post_return = _proto("wasmtime_component_func_post_return", c_void_p, c_void_p, c_void_p)
_error_new = _quick("wasmtime_error_new", c_void_p, c_char_p)


# ------------------------------------------------------------------- calls

class GuestError(Exception):
    """A call into the guest failed (trap, interrupt, host-function failure)."""

    def __init__(self, message: str, host_exception: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.host_exception = host_exception


def _error_text(err: int) -> str:
    """The message of a `wasmtime_error_t*` returned by the C API (and frees it)."""
    return str(wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, POINTER(capi.wasmtime_error_t))))


_tls = threading.local()


def call(store: wasmtime.Store, func: _component.Func, params: Any, n: int, result: Any) -> None:
    """Calls a component function with lowered params into `result`."""
    _tls.host_exception = None
    ctx = store._context()
    err = _func_call(byref(func._func), ctx, params, n, byref(result) if result is not None else None,
                     0 if result is None else 1)
    if err:
        message = _error_text(err)
        host_exc = getattr(_tls, "host_exception", None)
        _tls.host_exception = None
        raise GuestError(message, host_exc)


def post_return(store: wasmtime.Store, func: _component.Func) -> None:
    """Lets the guest free what it returned; required after every successful `call`."""
    err = _func_post_return(byref(func._func), store._context())
    if err:
        raise GuestError(_error_text(err))


# ------------------------------------------------------------ host functions

HostFunc = Callable[[Any, Any], None]
"""A generated host-function body: lifts `args`, calls the host, lowers into `results[0]`."""

_HOST_FUNCS: list[HostFunc] = []
_CALLBACK = capi.wasmtime_component_func_callback_t
_FINALIZER = ctypes.CFUNCTYPE(None, c_void_p)


@_CALLBACK  # type: ignore[untyped-decorator]
def _trampoline(env: int | None, context: Any, ty: Any, args: Any, nargs: int,
                results: Any, nresults: int) -> int:
    """Runs host function number `env`; a Python exception becomes a wasmtime error, never an unwind."""
    outer = getattr(_tls, "context", None)
    _tls.context = context
    try:
        _HOST_FUNCS[env or 0](args, results)
        return 0
    except BaseException as exc:  # a host function must never unwind into wasm
        _tls.host_exception = exc
        return int(_error_new(f"host function failed: {type(exc).__name__}: {exc}".encode()) or 0)
    finally:
        _tls.context = outer


@_FINALIZER  # type: ignore[untyped-decorator]
def _finalize(env: int | None) -> None:
    """Nothing to free: host functions live as long as the process."""
    return None


def add_func(inst: _component.LinkerInstance, name: str, body: HostFunc) -> None:
    """Defines `name` in a linker instance with a generated host-function body."""
    idx = len(_HOST_FUNCS)
    _HOST_FUNCS.append(body)
    data = name.encode()
    err = capi.wasmtime_component_linker_instance_add_func(
        inst.ptr(), ctypes.create_string_buffer(data), len(data), _trampoline, idx, _finalize,
    )
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)


# ------------------------------------------------------------ resource handles

K_RESOURCE = int(ffi.WASMTIME_COMPONENT_RESOURCE.value)


class StoreContext:
    """The store as wasmtime-py's resource calls want it: inside a host function, the context that
    call was given (the store's own is not usable then); otherwise the store's."""

    def __init__(self, store: wasmtime.Store) -> None:
        self.store = store

    def _context(self) -> Any:
        inside: Any = getattr(_tls, "context", None)
        return inside if inside is not None else self.store._context()

    def pointer(self) -> Any:
        """The `wasmtime_context_t*` for C calls (`host_resource_put`, `host_resource_take`)."""
        return self._context()


_host_new = _quick("wasmtime_component_resource_host_new", c_void_p, ctypes.c_bool, ctypes.c_uint32, ctypes.c_uint32)
_host_delete = _quick("wasmtime_component_resource_host_delete", None, c_void_p)
_host_rep = _quick("wasmtime_component_resource_host_rep", ctypes.c_uint32, c_void_p)
_host_type = _quick("wasmtime_component_resource_host_type", ctypes.c_uint32, c_void_p)
_host_to_any = _quick("wasmtime_component_resource_host_to_any", c_void_p, c_void_p, c_void_p, POINTER(c_void_p))
_any_to_host = _quick("wasmtime_component_resource_any_to_host", c_void_p, c_void_p, c_void_p, POINTER(c_void_p))
_any_delete = _quick("wasmtime_component_resource_any_delete", None, c_void_p)


def host_resource_put(context: Any, owned: bool, rep: int, resource: int, c: Any) -> None:
    """Stores a new handle to host resource (`resource`, `rep`) in a component value, which then owns
    it: the C calls alone, with no wasmtime-py object made and finalized per handle."""
    host = _host_new(owned, rep, resource)
    out = c_void_p()
    err = _host_to_any(context, host, byref(out))
    _host_delete(host)
    if err:
        raise wasmtime.WasmtimeError(_error_text(err))
    c.kind = K_RESOURCE
    c_void_p.from_address(ctypes.addressof(c.of)).value = out.value


def host_resource_take(context: Any, c: Any) -> tuple[int, int]:
    """(resource type, rep) of the host-resource handle a component value holds, moved out of it."""
    if c.kind != K_RESOURCE:
        raise TypeError(f"expected a resource handle, found value kind {c.kind}")
    slot = c_void_p.from_address(ctypes.addressof(c.of))
    handle, slot.value = slot.value, None
    host = c_void_p()
    err = _any_to_host(context, handle, byref(host))
    _any_delete(handle)
    if err:
        raise wasmtime.WasmtimeError(_error_text(err))
    try:
        return int(_host_type(host)), int(_host_rep(host))
    finally:
        _host_delete(host)


__all__ = [
    "K_RESOURCE", "StoreContext", "host_resource_put", "host_resource_take",
    "PINNED", "WASMTIME_VERSION", "GuestError", "HostFunc", "Val", "ValRecordEntry", "WasmtimeVersionError",
    "add_func", "byte_vec_new", "call", "capi", "check_version", "flags_new_uninit", "installed_version", "list_delete",
    "list_new_uninit", "post_return", "record_delete", "record_new_uninit", "val_delete", "val_new",
]
