"""Embedding: run a component of any WIT world as a plugin of a Python application.

`wasmlet bindgen WIT_DIR --python bindings.py` generates typed bindings for the world; `load_plugin`
takes the component, those bindings and plain Python objects implementing the world's imports
(the generated `…Host` protocols). Each call runs in a fresh store with wasmlet's limits — an epoch
deadline and a memory cap set before instantiation — and every failure is a typed error:
`Timeout`, `OutOfMemory`, `GuestTrap`, `HostCallError` (a host import raised), `LoadError`, and
`BindingError` (a `TypeError`) for an argument that does not fit its WIT type, raised before the
export runs. No WASI by default; `wasi=True` gives an empty one (no files, environment or network)
with the guest's output captured, which componentize-py guests need.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast, overload

import wasmtime
from wasmtime.component import Component, Instance, Linker

from ._capture import Capture
from ._embed_bindings import bound_exports, bound_imports, calls, linker_parts, world_of
from .bindings._abi import BindingError, Err, GuestError, Ok, Some
from .bindings._handles import HandleTable, using
from .engine import Engine
from .errors import GuestTrap, InvocationError, LoadError, OutOfMemory, Timeout
from .manifest import Limits
from .runtime import MAX_INSTANCES, MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES, MiB, _summary

E = TypeVar("E")
P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("wasmlet.plugin")
_OOM_MARKERS = ("exceeds memory limits", "MemoryError", "memory allocation of", "out of memory", "rust_oom",
                "__rg_oom", "__rdl_oom", "handle_alloc_error", "__rust_alloc_error_handler")
"""Signs that a guest ran out of memory: the engine's refusal, a runtime's report on stderr, or the
allocation-failure handler in the trap's backtrace (a Rust guest that kept its function names)."""
_default_engine: Engine | None = None
_default_lock = threading.Lock()


class HostCallError(InvocationError):
    """A host import raised while the guest was calling it; the guest was stopped and the
    exception is this error's `__cause__`."""


def default_engine() -> Engine:
    """One engine (and epoch ticker) per process for plugins loaded without one."""
    global _default_engine
    with _default_lock:
        if _default_engine is None:
            _default_engine = Engine()
        return _default_engine


class Plugin(Generic[E]):
    """A component loaded for one world: call its exports, each call in a fresh instance.

    `E` is the world's generated `…Exports` class; `call(E.export, *args)` is type-checked against
    the export's signature. Load a plugin once and call it many times: loading compiles (or reads
    the compile cache) and registers the host imports for the life of the process."""

    def __init__(self, engine: Engine, component: Component, exports: E, linker: Linker, *, limits: Limits,
                 wasi: bool, name: str, imports: tuple[str, ...]) -> None:
        self.engine = engine
        self.component = component
        self.exports = exports
        """The generated callers, for code that manages its own store and instance."""
        self.limits = limits
        self.wasi = wasi
        self.name = name
        self.imports = imports
        """The names of the interfaces the component imports."""
        self._linker = linker

    def instance(self) -> PluginInstance[E]:
        """A fresh instance for several calls that share its state; close it (or use `with`).
        The deadline restarts with each call; the memory cap holds for the instance's life."""
        return PluginInstance(self)

    @overload
    def call(self, export: Callable[Concatenate[E, wasmtime.Store, Instance, P], R], /,
             *args: P.args, **kwargs: P.kwargs) -> R: ...

    @overload
    def call(self, export: str, /, *args: Any, **kwargs: Any) -> Any: ...

    def call(self, export: Callable[..., Any] | str, /, *args: Any, **kwargs: Any) -> Any:
        """Calls an export in a fresh instance, thrown away afterwards: `export` is the generated
        method (`PluginExports.transform`, type-checked) or its name (`"transform"`)."""
        with self.instance() as inst:
            return inst.call(export, *args, **kwargs)

    def export_names(self) -> list[str]:
        """The exports `call` accepts by name (the generated methods' names)."""
        return sorted(n for n, v in vars(type(self.exports)).items() if inspect.isfunction(v) and n[0] != "_")

    def _method(self, export: Callable[..., Any] | str) -> Callable[..., Any]:
        """The generated method for `export`, checked to belong to this plugin's world."""
        cls = type(self.exports)
        if isinstance(export, str):
            name = export.replace("-", "_")
            if name not in self.export_names():
                raise LookupError(f"{self.name}: no export {export!r} (exports: {', '.join(self.export_names())})")
            method: Callable[..., Any] = getattr(cls, name)
            return method
        if getattr(cls, getattr(export, "__name__", ""), None) is not export:
            raise TypeError(f"{self.name}: {getattr(export, '__qualname__', export)!r} is not an export of "
                            f"{cls.__name__}")
        return cast(Callable[..., Any], export)

    def _store(self) -> tuple[wasmtime.Store, Capture | None]:
        """A store with every limit and the deadline set, and WASI (with captured output) if granted."""
        store = wasmtime.Store(self.engine.wasm)
        store.set_epoch_deadline(self.engine.ticks(self.limits.timeout_ms))
        store.set_limits(memory_size=self.limits.memory_mb * MiB, table_elements=MAX_TABLE_ELEMENTS,
                         instances=MAX_INSTANCES, tables=MAX_TABLES, memories=MAX_MEMORIES)
        capture = None
        if self.wasi:
            capture = Capture(self.limits.max_log_bytes)
            config = wasmtime.WasiConfig()
            config.stdout_file = capture.path
            config.stderr_file = capture.path
            store.set_wasi(config)
        return store, capture

    def _classify(self, exc: Exception, output: str) -> InvocationError:
        """The typed error for a failed instantiation or call."""
        message = exc.message if isinstance(exc, GuestError) else str(exc)
        first = _summary(message)
        host_exc = exc.host_exception if isinstance(exc, GuestError) else None
        tail = output[-2000:]
        if host_exc is not None:
            which = getattr(calls, "last", "") or "?"
            what = (f"returned a value that does not fit its WIT type ({host_exc})" if isinstance(host_exc, BindingError)
                    else f"raised {type(host_exc).__name__}: {host_exc}")
            err: InvocationError = HostCallError(f"host import `{which}` {what}", function=self.name, output_tail=tail)
            err.__cause__ = host_exc
            return err
        if "interrupt" in first:
            return Timeout(f"deadline exceeded: the guest ran past {self.limits.timeout_ms} ms and was interrupted",
                           function=self.name, output_tail=tail)
        if any(m in message or m in tail for m in _OOM_MARKERS):
            return OutOfMemory(f"memory limit exceeded ({self.limits.memory_mb} MB): {first}", function=self.name,
                               output_tail=tail)
        return GuestTrap(first + _where(message), function=self.name, output_tail=tail)


class PluginInstance(Generic[E]):
    """One instance of a plugin: several calls sharing its state, until `close` (or `with` ends).
    After a failed call the instance is discarded, as a trapped instance may not be entered again."""

    def __init__(self, plugin: Plugin[E]) -> None:
        self.plugin = plugin
        self._store, self._capture = plugin._store()
        self._handles = HandleTable(self._store)  # the host objects behind resource handles, for this instance
        self._output: list[str] = []
        self._broken: InvocationError | None = None
        calls.last = ""
        try:
            with using(self._handles):
                self._instance = plugin._linker.instantiate(self._store, plugin.component)
        except (GuestError, wasmtime.WasmtimeError) as exc:
            error = plugin._classify(exc, self._collect())
            self.close()
            raise error from error.__cause__

    @overload
    def call(self, export: Callable[Concatenate[E, wasmtime.Store, Instance, P], R], /,
             *args: P.args, **kwargs: P.kwargs) -> R: ...

    @overload
    def call(self, export: str, /, *args: Any, **kwargs: Any) -> Any: ...

    def call(self, export: Callable[..., Any] | str, /, *args: Any, **kwargs: Any) -> Any:
        """Calls an export in this instance with a fresh deadline (see `Plugin.call`)."""
        method = self.plugin._method(export)
        if self._broken is not None:
            raise InvocationError(f"this instance was discarded after an earlier failure ({self._broken.message}); "
                                  "open a new one", function=self.plugin.name)
        self._store.set_epoch_deadline(self.plugin.engine.ticks(self.plugin.limits.timeout_ms))
        calls.last = ""
        try:
            with using(self._handles):
                return method(self.plugin.exports, self._store, self._instance, *args, **kwargs)
        except (GuestError, wasmtime.WasmtimeError) as exc:
            self._broken = self.plugin._classify(exc, self._collect())
            raise self._broken from self._broken.__cause__

    def _collect(self) -> str:
        """Moves what the guest wrote to stdout/stderr into the log; returns all of it so far."""
        if self._capture is not None:
            data, overflowed = self._capture.collect()
            self._capture = None
            lines = data.decode(errors="replace").splitlines() + (["[output truncated]"] if overflowed else [])
            for line in lines:
                log.info("%s: %s", self.plugin.name, line)
            self._output += lines
        return "\n".join(self._output)

    def close(self) -> None:
        """Collects the guest's output and frees the store now (not when the collector runs)."""
        self._collect()
        self._store.close()
        self._handles.close()

    def __enter__(self) -> PluginInstance[E]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@overload
def load_plugin(component: str | os.PathLike[str] | bytes, bindings: type[E], *, world: str | None = None,
                imports: Mapping[str, object] | object | None = None, limits: Limits | None = None,
                wasi: bool = False, engine: Engine | None = None, name: str | None = None) -> Plugin[E]: ...


@overload
def load_plugin(component: str | os.PathLike[str] | bytes, bindings: ModuleType, *, world: str | None = None,
                imports: Mapping[str, object] | object | None = None, limits: Limits | None = None,
                wasi: bool = False, engine: Engine | None = None, name: str | None = None) -> Plugin[Any]: ...


def load_plugin(component: str | os.PathLike[str] | bytes, bindings: type[Any] | ModuleType, *,
                world: str | None = None, imports: Mapping[str, object] | object | None = None,
                limits: Limits | None = None, wasi: bool = False, engine: Engine | None = None,
                name: str | None = None) -> Plugin[Any]:
    """Loads a component for the world of `bindings` (a module generated by `wasmlet bindgen`, with
    `world` naming one of its worlds when it has several, or that world's `…Exports` class).

    `imports` maps each imported interface (its Python name, e.g. `host`) to an object with its
    functions as methods (the generated `…Host` protocol), or is the generated `…Imports` dataclass.
    Raises `LoadError` when the component is not valid, does not export the world's functions with
    their types or imports what it is not given, and `TypeError` when `imports` is incomplete."""
    exports_cls, module = world_of(bindings, world)
    wasm = component if isinstance(component, bytes) else Path(component).read_bytes()
    label = name or (Path(component).stem if not isinstance(component, bytes) else exports_cls.__name__[:-7].lower())
    engine = engine or default_engine()
    compiled, _sha, _hit = engine.compile(wasm)
    exports = bound_exports(exports_cls, compiled, engine.wasm)
    imported = tuple(compiled.type.imports(engine.wasm))
    wasi_names = [n for n in imported if n.startswith("wasi:")]
    if wasi_names and not wasi:
        raise LoadError(f"{label}: the component imports WASI ({', '.join(wasi_names[:3])}"
                        f"{', …' if len(wasi_names) > 3 else ''}); load it with wasi=True to give it an empty, "
                        "sandboxed WASI (no files, environment or network)")
    linker = Linker(engine.wasm)
    if wasi:
        linker.add_wasip2()
    add, imports_cls = linker_parts(module, exports_cls)
    if imports_cls is not None and add is not None:
        bound = bound_imports(module, imports_cls, imports)
        add(linker, lambda: bound)
    elif imports:
        raise TypeError(f"{label}: world {exports_cls.__name__[:-7]} imports nothing, but imports were given")
    plugin: Plugin[Any] = Plugin(engine, compiled, exports, linker, limits=limits or Limits(), wasi=wasi,
                                 name=label, imports=imported)
    try:
        plugin.instance().close()  # every import is there and the component starts within its limits
    except InvocationError as exc:
        raise LoadError(f"{label}: the component does not start: {exc.message}") from None
    except wasmtime.WasmtimeError as exc:
        raise LoadError(f"{label}: {_summary(str(exc))}") from None
    return plugin


_FRAME = re.compile(r"^\s*\d+:\s+0x[0-9a-f]+ - (?:[^!\s]*!)?(.+?)(?:::h[0-9a-f]{16})?\s*$")
_RUNTIME_FRAME = re.compile(r"^(?:std|core|alloc|dlmalloc)::|^_*rust_|^__r[dg]_|^<|^wasm function")


def _where(message: str) -> str:
    """Where a trap happened, from its wasm backtrace: the innermost function that is not the
    language runtime's, and whether it was a panic (empty without function names)."""
    frames = [m[1] for ln in message.splitlines() if (m := _FRAME.match(ln))]
    own = [f for f in frames if not _RUNTIME_FRAME.match(f)]
    panic = " (a panic)" if any("panic" in f for f in frames) else ""
    return f" in {own[0]}{panic}" if own else panic


__all__ = ["BindingError", "Err", "HostCallError", "Ok", "Plugin", "PluginInstance", "Some", "default_engine",
           "load_plugin"]
