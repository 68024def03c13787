"""Loading and invoking functions: a fresh sandboxed store per invocation.

`invoke()` sets the epoch deadline and the memory limit before instantiating,
gives WASI guests an empty context with captured output, calls `handle`
through the generated bindings and throws the store away; every trap becomes
a typed `InvocationError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime.component import Component, Linker

from wasmlet.bindings._abi import BindingError, GuestError, export_type

from ._capture import Capture
from ._streaming import ClientTooSlow
from .bindings.faas import Event, FunctionImports, Response
from .capabilities import ImportsFactory, InvocationContext, sandbox_imports
from .contracts import CONTRACTS, NEWEST, Contract, contract_of
from .dispatch import OverBudget
from .engine import Engine
from .errors import GuestTrap, HostBusy, InvocationError, LoadError, OutOfMemory, Timeout
from .manifest import Limits
from .wasi_http import Provider, exported_handler, provides
from .wasi_http._io import DeadlineExceeded
from .wasi_http._system import GuestExit

MiB = 1024 * 1024
WIT_PACKAGE = "wasmlet:faas/"
WASI_PREFIX = "wasi:"
_CHECKED_TAG = "checked-" + hashlib.sha256(
    f"{[c.handle_type for c in CONTRACTS.values()]}|{WIT_PACKAGE}|{WASI_PREFIX}".encode()).hexdigest()[:12]
"""Names the note that a component passed `_checked` against this contract (and its imports)."""
PROXY_HANDLE_TYPE = "func(request:own,response-out:own)"
"""The type of `wasi:http/incoming-handler.handle`, as `export_type` spells it."""
MAX_INSTANCES = 64
"""Core instances one invocation may create (a componentize-py guest makes 16, a Rust one 3)."""
MAX_MEMORIES = 1
"""Linear memories per invocation: one, so `memory_mb` bounds all of the instance's linear
memory (every toolchain measured here — Rust, componentize-py — makes exactly one)."""
MAX_TABLES = 8
MAX_TABLE_ELEMENTS = 200_000
"""Elements in each table (8 bytes each: tables add at most 8 x 1.6 MB)."""
FUNCTION_WORLD = "function"
PROXY_WORLD = "wasi-http"
"""The kinds of component wasmlet runs (`CompiledFunction.world`), as `ls` and the admin API name them."""
_OOM_MARKERS = ("out of memory", "MemoryError", "memory allocation of")


@dataclass(frozen=True)
class CompiledFunction:
    """A component compiled for this engine, checked against the `function` world."""

    sha256: str
    component: Component
    exports: Any
    """The typed callers of its exports, from the bindings of its contract version."""
    uses_wasi: bool
    imports: tuple[str, ...]
    size: int
    """Bytes of the component (0 when it came from the compile cache without being read)."""
    cache_hit: bool
    contract: Contract = CONTRACTS[NEWEST]
    """The `wasmlet:faas` version it was built against (`contracts.py`)."""
    world: str = FUNCTION_WORLD
    """What it is: a wasmlet function (`function`) or a standard `wasi:http/proxy` component
    (`wasi-http`, run by `wasmlet.wasi_http`)."""




def default_imports(ctx: InvocationContext) -> FunctionImports:
    """Log granted, everything else denied: the sandbox with no manifest (empty grants)."""
    return sandbox_imports(ctx)


class Runtime:
    """Compiles components and invokes them; the linker is built once and shared."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._tls = threading.local()
        self.linker = Linker(engine.wasm)
        self.linker.add_wasip2()
        for contract in CONTRACTS.values():  # every version's imports: a component finds its own
            contract.add_to_linker(self.linker, self._current_imports)
        self._proxy: Provider | None = None

    @property
    def proxy(self) -> Provider:
        """The wasi:http provider's linker, made when the first standard component is loaded."""
        if self._proxy is None:
            self._proxy = Provider(self.engine.wasm)
        return self._proxy

    def _current_imports(self) -> FunctionImports:
        stack: list[FunctionImports] = self._tls.stack
        return stack[-1]

    def load(self, wasm: bytes) -> CompiledFunction:
        """Compiles (or loads from cache) and validates a component."""
        component, sha, hit = self.engine.compile(wasm)
        return self._checked(component, sha, hit, len(wasm))

    def load_stored(self, sha256: str, fetch: Callable[[], bytes]) -> CompiledFunction:
        """Loads a content-addressed component: from the compile cache without reading or
        hashing the component when it is there (a warm first request), else fetched and compiled."""
        component = self.engine.cached(sha256)
        if component is not None:
            return self._checked(component, sha256, True, 0)
        wasm = fetch()
        component, sha, hit = self.engine.compile(wasm, sha256)
        return self._checked(component, sha, hit, len(wasm))

    def world_of(self, sha256: str) -> str | None:
        """What a component this host has checked is (`function` or `wasi-http`); None if unchecked."""
        known = self.engine.recall(sha256, _CHECKED_TAG)
        if known is None:
            return None
        try:
            return str(json.loads(known).get("world", FUNCTION_WORLD))
        except (ValueError, AttributeError):
            return None

    def _checked(self, component: Component, sha: str, hit: bool, size: int) -> CompiledFunction:
        """Checks a component against the `function` world; a cached one that passed before
        (with this contract) skips the type walk, which is most of a warm first request."""
        if hit:
            known = self.engine.recall(sha, _CHECKED_TAG)
            if known is not None:
                try:
                    note = json.loads(known)
                    imports = tuple(str(n) for n in note["imports"])
                    if note.get("world") == PROXY_WORLD:
                        return CompiledFunction(sha, component, self.proxy.exports(component), True, imports, size,
                                                hit, world=PROXY_WORLD)
                    contract = CONTRACTS[note["contract"]]
                    bound = contract.exports(component)
                except (ValueError, TypeError, LookupError):
                    pass  # unreadable or wrong: check it afresh below
                else:
                    uses_wasi = any(n.startswith(WASI_PREFIX) for n in imports)
                    return CompiledFunction(sha, component, bound, uses_wasi, imports, size, hit, contract)
        ctype = component.type
        imports = tuple(ctype.imports(self.engine.wasm))
        exports = tuple(ctype.exports(self.engine.wasm))
        if "handle" not in exports and exported_handler(exports) is not None:
            return self._checked_proxy(component, sha, hit, size, imports, exports)
        versions = sorted({n.rsplit("@", 1)[1] for n in imports if n.startswith(WIT_PACKAGE) and "@" in n})
        if versions and not set(versions) & set(CONTRACTS):
            raise LoadError(f"component is built for wasmlet:faas {', '.join(versions)}; this host serves "
                            f"{', '.join(CONTRACTS)} (upgrade wasmlet, or rebuild the function with this one)")
        foreign = [n for n in imports if not _provided(n)]
        if foreign:
            raise LoadError(f"component imports interfaces wasmlet does not provide: {', '.join(foreign)}")
        if "handle" not in exports:
            raise LoadError("component exports neither `handle` (world wasmlet:faas/function) nor "
                            "wasi:http/incoming-handler@0.2.x (world wasi:http/proxy)")
        actual = export_type(component, self.engine.wasm, "handle")
        found = contract_of(imports, actual)
        if found is None:
            raise LoadError(f"component exports `handle` with the wrong type: {actual or 'not a function'} "
                            f"(expected, in wasmlet:faas {NEWEST}: {CONTRACTS[NEWEST].handle_type})")
        contract = found
        try:
            bound = contract.exports(component)
        except LookupError as exc:
            raise LoadError(str(exc)) from None
        uses_wasi = any(n.startswith(WASI_PREFIX) for n in imports)
        self.engine.remember(sha, _CHECKED_TAG, json.dumps({"imports": list(imports),
                                                            "contract": contract.version}).encode())
        return CompiledFunction(sha, component, bound, uses_wasi, imports, size, hit, contract)

    def _checked_proxy(self, component: Component, sha: str, hit: bool, size: int, imports: tuple[str, ...],
                       exports: tuple[str, ...]) -> CompiledFunction:
        """Checks a standard `wasi:http/proxy` component: it imports only the WASI 0.2 the provider
        answers (no wasmlet interface, no other package) and exports a handler of the right type."""
        foreign = [n for n in imports if not provides(n)]
        if foreign:
            raise LoadError("wasi:http component imports interfaces wasmlet does not provide: " + ", ".join(foreign))
        try:
            bound = self.proxy.exports(component)
        except LookupError as exc:
            raise LoadError(str(exc)) from None
        handler = exported_handler(exports)
        actual = export_type(component, self.engine.wasm, "handle", handler) if handler else None
        if actual != PROXY_HANDLE_TYPE:
            raise LoadError(f"component exports {handler}#handle with the wrong type: {actual or 'not a function'} "
                            f"(expected {PROXY_HANDLE_TYPE})")
        self.engine.remember(sha, _CHECKED_TAG, json.dumps({"imports": list(imports), "world": PROXY_WORLD}).encode())
        return CompiledFunction(sha, component, bound, True, imports, size, hit, world=PROXY_WORLD)

    def load_file(self, path: str | Path) -> CompiledFunction:
        return self.load(Path(path).read_bytes())

    def invoke(
        self,
        function: CompiledFunction,
        event: Event,
        *,
        limits: Limits | None = None,
        ctx: InvocationContext | None = None,
        imports: ImportsFactory = default_imports,
        budget_ms: int | None = None,
    ) -> Response:
        """Runs `handle(event)` in a fresh store; raises a typed `InvocationError` on failure.

        With `budget_ms` shorter than the timeout, this is an attempt: the guest is stopped
        once it runs past the budget, its log lines and output are dropped and `OverBudget`
        is raised. Only use it when the granted imports have no effects beyond logging.
        """
        limits = limits or Limits()
        ctx = ctx or InvocationContext(function="")
        timeout_ms = _start(ctx, limits)
        attempt = budget_ms is not None and budget_ms < timeout_ms
        sandbox = _Sandbox(self.engine, function, limits, ctx, budget_ms if attempt and budget_ms else timeout_ms,
                           attempt)
        stack: list[FunctionImports] = self._stack()
        stack.append(imports(ctx))
        try:
            if function.world == PROXY_WORLD:
                return self.proxy.invoke(sandbox.store, function.component, function.exports, event, ctx, stack[-1],
                                         limits.memory_mb * MiB)
            instance = self.linker.instantiate(sandbox.store, function.component)
            contract = function.contract
            if not contract.adapts:
                response: Response = function.exports.handle(sandbox.store, instance, event)
                return response
            return contract.from_guest(  # type: ignore[no-any-return]
                function.exports.handle(sandbox.store, instance, contract.to_guest(event)))
        except (GuestError, wasmtime.WasmtimeError) as exc:
            if attempt and _interrupted(exc):
                sandbox.throw_away()
                raise OverBudget() from None
            sandbox.collect_output()  # the guest's last words go into the error
            stop = exc.host_exception if isinstance(exc, GuestError) else None
            if isinstance(stop, (GuestExit, DeadlineExceeded, ClientTooSlow, InvocationError)):  # a proxy's end
                raise _proxy_stop(stop, ctx) from None
            raise _classify(exc, ctx) from None
        except BindingError as exc:
            raise InvocationError(f"invalid event: {exc}", function=ctx.function) from None
        finally:
            stack.pop()
            sandbox.close()

    def _stack(self) -> list[FunctionImports]:
        """This thread's imports, innermost invocation last (a module call nests one more)."""
        stack: list[FunctionImports] | None = getattr(self._tls, "stack", None)
        if stack is None:
            stack = self._tls.stack = []
        return stack


def _start(ctx: InvocationContext, limits: Limits) -> int:
    """Sets the invocation's limits and deadline (a module call keeps what is left of its caller's)
    and returns the milliseconds it has; `Timeout` when none are left."""
    ctx.limits = limits
    ctx.deadline = min(ctx.deadline, time.monotonic() + limits.timeout_ms / 1000)
    left = ctx.remaining()
    if left <= 0:
        raise Timeout("deadline exceeded before the invocation started", function=ctx.function)
    return max(1, int(left * 1000))


class _Sandbox:
    """One invocation's store (every limit and the deadline set before instantiation), its captured
    output and, for an attempt, its held log lines; torn down on every path by `close`."""

    def __init__(self, engine: Engine, function: CompiledFunction, limits: Limits, ctx: InvocationContext,
                 deadline_ms: int, attempt: bool) -> None:
        self.ctx = ctx
        self.attempt = attempt
        self.kept = ctx.hold() if attempt else []
        self.store = wasmtime.Store(engine.wasm)
        self.store.set_epoch_deadline(engine.ticks(deadline_ms))
        self.store.set_limits(memory_size=limits.memory_mb * MiB, table_elements=MAX_TABLE_ELEMENTS,
                              instances=MAX_INSTANCES, tables=MAX_TABLES, memories=MAX_MEMORIES)
        self.capture: Capture | None = None
        if function.uses_wasi and function.world == FUNCTION_WORLD:  # a proxy's stdio is the provider's
            self.capture = Capture(limits.max_log_bytes)
            wasi = wasmtime.WasiConfig()
            wasi.stdout_file = self.capture.path
            wasi.stderr_file = self.capture.path
            self.store.set_wasi(wasi)

    def throw_away(self) -> None:
        """The attempt never happened: its output and log lines are dropped."""
        if self.capture is not None:
            self.capture.discard()
            self.capture = None
        self.ctx.discard(self.kept)
        self.attempt = False

    def collect_output(self) -> None:
        """Moves what the guest wrote to stdout/stderr into its log (once)."""
        if self.capture is not None:
            _collect(self.capture, self.ctx)
            self.capture = None

    def close(self) -> None:
        """Output collected, held log lines written, finishers run, and the store freed now
        (not when the garbage collector next runs: a trap's traceback references it)."""
        self.collect_output()
        if self.attempt:
            self.ctx.release()
        self.ctx.finish()
        self.store.close()


def _proxy_stop(exc: BaseException, ctx: InvocationContext) -> InvocationError:
    """How a standard component's invocation ended when a host call stopped it."""
    if isinstance(exc, InvocationError):  # the response it was sending is invalid
        exc.function = exc.function or ctx.function
        return exc
    if isinstance(exc, (DeadlineExceeded, ClientTooSlow)):
        return Timeout(f"deadline exceeded: {exc}", function=ctx.function, output_tail=ctx.tail())
    return GuestTrap(str(exc), function=ctx.function, output_tail=ctx.tail())


def _provided(name: str) -> bool:
    """wasmlet's own interfaces and WASI 0.2 (never wasi:http: outbound HTTP has its own allow-listed interface)."""
    if name.startswith(WIT_PACKAGE):
        return "@" in name and name.rsplit("@", 1)[1] in CONTRACTS
    return name.startswith(WASI_PREFIX) and "@0.2." in name and not name.startswith("wasi:http/")


def _collect(capture: Capture, ctx: InvocationContext) -> None:
    """Moves captured stdout/stderr into the function's log (at most `max_log_bytes` of it)."""
    data, overflowed = capture.collect()
    text = data.decode(errors="replace")
    for line in text.splitlines():
        ctx.output.append(line)
        ctx.log(logging.INFO, line, "stdout/stderr")
    if overflowed:
        ctx.log_dropped += 1


def _summary(message: str) -> str:
    """The cause of a wasmtime error, without its backtrace."""
    if "Caused by:" in message:
        causes = [ln.strip() for ln in message.split("Caused by:", 1)[1].splitlines() if ln.strip()]
        return "; ".join(c.split(":", 1)[1].strip() if c[:2].rstrip(":").isdigit() else c for c in causes)
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    return lines[0] if lines else "trap"


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, GuestError) else str(exc)


def _interrupted(exc: Exception) -> bool:
    """The epoch deadline stopped the guest."""
    return "interrupt" in _summary(_message(exc))


def _classify(exc: Exception, ctx: InvocationContext) -> InvocationError:
    first = _summary(_message(exc))
    tail = ctx.tail()
    if "count too high" in first or "exceeds table limits" in first or "exceeds memory limits" in first:
        return GuestTrap(f"the component needs more than wasmlet allows one instance (at most {MAX_MEMORIES} "
                         f"linear memory, {MAX_TABLES} tables of {MAX_TABLE_ELEMENTS} elements, {MAX_INSTANCES} "
                         f"core instances): {first}", function=ctx.function, output_tail=tail)
    if "maximum concurrent limit" in first:
        return HostBusy(f"no instance slot free: {first}", function=ctx.function)
    if "interrupt" in first:
        return Timeout("deadline exceeded: the guest was interrupted", function=ctx.function, output_tail=tail)
    if any(m in tail for m in _OOM_MARKERS) or "memory" in first and "limit" in first:
        return OutOfMemory(f"memory limit exceeded ({first})", function=ctx.function, output_tail=tail)
    if isinstance(exc, GuestError) and exc.host_exception is not None:
        first = f"{first} (host: {type(exc.host_exception).__name__}: {exc.host_exception})"
    return GuestTrap(first, function=ctx.function, output_tail=tail)
