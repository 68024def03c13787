"""The functions a host serves: looked up in its source, compiled once per content hash, wired to
exactly the capabilities their manifests grant, and callable from one another (module calls)."""

from __future__ import annotations

import logging
from dataclasses import replace

import anyio
import anyio.to_thread

from . import telemetry
from ._admission import MemoryBudget
from .bindings.faas import EventCall, ModuleCall, Request, Response
from .capabilities import HostServices, ImportsFactory, InvocationContext, bind_imports, has_effects
from .capabilities.backends import Backends
from .capabilities.outbound_http import OutboundPools
from .errors import InvocationError, LoadError
from .manifest import Manifest
from .metrics import Metrics
from .registry import FunctionSource, RegistryError, Version
from .runtime import CompiledFunction, Runtime

_INLINE_LOAD_MAX = 4 << 20
"""A cached artifact smaller than this maps in well under a millisecond: load it on the loop."""


class NotLoadable(Exception):
    """A version's component could not be read or compiled; the message says why, `status` what to answer
    (503 while the registry cannot give the component, 500 otherwise)."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


class Functions:
    """Resolves, compiles and wires functions; implements module calls (`ModuleInvoker`)."""

    def __init__(self, runtime: Runtime, source: FunctionSource, backends: Backends, memory: MemoryBudget,
                 metrics: Metrics) -> None:
        self.runtime = runtime
        self.source = source
        self.backends = backends
        self.memory = memory
        self.metrics = metrics
        self.outbound = OutboundPools()
        self.services = HostServices(backends, self.outbound, self)
        self._imports: dict[Manifest, ImportsFactory] = {}
        self._effects: dict[Manifest, bool] = {}
        self._compiled: dict[str, CompiledFunction] = {}
        self._compiling: dict[str, anyio.Lock] = {}

    def use_services(self, services: HostServices) -> None:
        """Builds capabilities on other services from now on (`wasmlet.testing` mocks outbound HTTP and modules)."""
        self.services = services
        self._imports.clear()

    def resolve(self, function: str, version: str) -> Version | None:
        return self.source.resolve(function, version)

    async def compiled_for(self, version: Version) -> CompiledFunction:
        """The compiled function for a version; one compile per component however many requests
        wait for it, off the loop unless it is a small cached artifact. Raises `NotLoadable`."""
        compiled = self._compiled.get(version.sha256)
        if compiled is not None:
            return compiled
        lock = self._compiling.setdefault(version.sha256, anyio.Lock())
        async with lock:
            try:
                size = self.runtime.engine.cached_size(version.sha256)
                if size is not None and size < _INLINE_LOAD_MAX:
                    return self.compiled(version)
                return await anyio.to_thread.run_sync(self.compiled, version)
            except (OSError, LoadError, RegistryError) as exc:
                status = 503 if isinstance(exc, RegistryError) and exc.status == 503 else 500
                raise NotLoadable(f"{version.function}/{version.version} could not be loaded: {exc}", status) from None

    def loaded(self, version: Version) -> CompiledFunction | None:
        """The compiled function for a version if it is already in memory (never compiles)."""
        return self._compiled.get(version.sha256)

    def compiled(self, version: Version) -> CompiledFunction:
        """The compiled function for a version: kept in memory after its first call (blocking)."""
        compiled = self._compiled.get(version.sha256)
        if compiled is None:
            compiled = self.runtime.load_stored(version.sha256, lambda: self.source.wasm(version))
            if not compiled.cache_hit:
                self.metrics.cold_starts.labels(version.function).inc()
            self._compiled[version.sha256] = compiled
        return compiled

    def preload(self, compiled: CompiledFunction) -> None:
        """Keeps an already compiled function (the dev server loads before it swaps versions)."""
        self._compiled[compiled.sha256] = compiled

    def forget(self, sha256: str) -> None:
        """Drops a compiled function (the dev server calls it after a reload)."""
        self._compiled.pop(sha256, None)

    def imports_for(self, manifest: Manifest) -> ImportsFactory:
        """The hostcall implementations an invocation gets: exactly what the manifest grants
        (bound once per manifest; only the per-invocation parts are made per call)."""
        cached = self._imports.get(manifest)
        if cached is None:
            cached = self._imports[manifest] = bind_imports(manifest.grants, self.services)
        return cached

    def has_effects(self, manifest: Manifest) -> bool:
        """Some capability the manifest grants has effects (decided once per manifest, not per request)."""
        known = self._effects.get(manifest)
        if known is None:
            known = self._effects[manifest] = has_effects(manifest.grants)
        return known

    def call_module(self, name: str, version: str, request: Request, parent: InvocationContext) -> Response:
        """Runs another function in this thread (a module call), inside the caller's remaining time
        and the host's memory budget; raises LookupError or InvocationError."""
        target = self.source.resolve(name, version)
        if target is None:
            raise LookupError(f"unknown function or version: {name}/{version}")
        try:
            compiled = self.compiled(target)
        except (OSError, LoadError, RegistryError) as exc:
            raise InvocationError(f"could not be loaded: {exc}", function=target.function) from None
        reserved = self.memory.try_acquire(target.manifest.memory_mb)
        if reserved is None:
            raise InvocationError("the host's memory budget is in use", function=target.function)
        try:
            ctx = InvocationContext(target.function, target.version, parent.request_id,
                                    logging.getLogger(f"wasmlet.guest.{target.function}"), depth=parent.depth + 1,
                                    deadline=parent.deadline)  # the callee gets what is left of the caller's time
            call = replace(request, mount=f"/{name}/{version}")
            with telemetry.invocation(ctx, compiled.cache_hit, "caller-thread"):  # a child of `modules.call`'s span
                return self.runtime.invoke(compiled, EventCall(ModuleCall(parent.function, call)),
                                           limits=target.manifest.limits, ctx=ctx,
                                           imports=self.imports_for(target.manifest))
        finally:
            self.memory.release(reserved, from_thread=True)

    def close(self) -> None:
        """Closes the outbound connection pools."""
        self.outbound.close()
