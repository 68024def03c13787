"""`FunctionHarness`: one compiled function served in process by the production `Host`, with its
stores in a temporary directory, its outbound HTTP answered by mocks and its module calls routed to
other harnesses or Python stubs."""

from __future__ import annotations

import logging
import os
import random
import re
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from ..asgi import Host, HostSettings, Receive, Scope, Send
from ..bindings.faas import Event, Request, Response
from ..bodies import body_from_bytes
from ..build import detect
from ..capabilities import HostServices, InvocationContext
from ..capabilities._packed import unpack_rows
from ..capabilities.backends import Backends
from ..capabilities.kv import KvBackend
from ..engine import Engine
from ..errors import InvocationError, LoadError
from ..functions import Functions
from ..manifest import Manifest, ManifestError, load_manifest
from ..names import check_function_name
from ..registry import MemoryRegistry
from ..runtime import Runtime
from ._build import build_cached
from ._client import PortalTransport
from ._logs import LogLine, LogSink, capturing, start_capture, stop_capture
from ._mocks import _UNSET, HttpMock, MockHandler, MockPools, MockRoutes, OutboundCall, make_mock

ModuleStub = Callable[[Request], Response | httpx.Response]
"""A module stand-in: takes the module call's `Request` (mount set to `/<module>/<version>`), returns a
`wasmlet.Response` or an `httpx.Response`. An exception it raises reaches the caller as a `failed` error."""
HARNESS_BASE = "http://testserver"
"""Scheme and host of the harness clients' URLs (nothing listens there: requests stay in process)."""

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class RecordedModuleCall:
    """One module call a harnessed function made: to another function or to a stub."""

    caller: str
    module: str
    """`name/version` as called (`latest` when the caller named no version)."""
    request: Request
    status: int | None
    """The callee's status; None when the call failed (unknown module, trap, timeout, a stub that raised)."""
    stub: bool


@dataclass(frozen=True)
class _Function:
    """A function a harness serves: its component, its manifest and the mocks answering its requests."""

    wasm: bytes
    manifest: Manifest
    routes: MockRoutes


_shared_runtime: Runtime | None = None
_shared_lock = threading.Lock()


def shared_runtime() -> Runtime:
    """The process's harness runtime: one engine (compile cache in the user's cache directory), made on first use."""
    global _shared_runtime
    with _shared_lock:
        if _shared_runtime is None:
            _shared_runtime = Runtime(Engine())
        return _shared_runtime


def _read_manifest(manifest: PathLike | Manifest | Mapping[str, Any]) -> Manifest:
    if isinstance(manifest, Manifest):
        return manifest
    if isinstance(manifest, Mapping):
        return Manifest.from_dict(dict(manifest))
    path = Path(manifest)
    try:
        return Manifest.from_toml(path.read_text())
    except ManifestError as exc:
        raise ManifestError(f"{path}: {exc}") from None


def _with_config(manifest: Manifest, config: Mapping[str, str] | None) -> Manifest:
    """`manifest` with `config` merged over its `[config]` values (the harness's values win)."""
    if not config:
        return manifest
    for key, value in config.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"config[{key!r}]: config values are strings, got {type(value).__name__}")
        if key == "env":
            raise ValueError("config: `env` lists host environment variables in a manifest; it is not a config value")
    merged = {**dict(manifest.grants.config), **config}
    return replace(manifest, grants=replace(manifest.grants, config=tuple(merged.items())))


def _component(source: PathLike, manifest: PathLike | Manifest | Mapping[str, Any] | None,
               build_dir: PathLike | None) -> tuple[Path, Manifest, str]:
    """The component file, manifest and default name for a `.wasm` file or a source folder (built once per content)."""
    path = Path(source)
    if path.is_dir():
        detect(path)  # a clear error when the folder is neither Rust nor Python
        wasm, _ = build_cached(path, _safe_name(path.resolve().name), Path(build_dir) if build_dir else None)
        if manifest is None:
            return wasm, load_manifest(path, warn=logging.getLogger("wasmlet.testing").warning), path.resolve().name
        return wasm, _read_manifest(manifest), path.resolve().name
    if path.is_file():
        beside = path.with_suffix(".toml")
        if manifest is None:
            manifest = beside if beside.is_file() else Manifest()
        return path, _read_manifest(manifest), path.stem
    raise FileNotFoundError(f"{path}: no such .wasm file or function source folder")


def _safe_name(name: str) -> str:
    """A file-name-safe form of a folder name (for the build cache)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:63] or "function"


class _ModuleRouter:
    """The module invoker the harness's capabilities use: stubs first, else the host's own functions."""

    def __init__(self, functions: Functions, stubs: dict[str, ModuleStub], calls: list[RecordedModuleCall],
                 lock: threading.Lock) -> None:
        self.functions = functions
        self.stubs = stubs
        self.calls = calls
        self.lock = lock

    def call_module(self, name: str, version: str, request: Request, parent: InvocationContext) -> Response:
        stub = self.stubs.get(f"{name}/{version}") or self.stubs.get(name)
        status: int | None = None
        sent = replace(request, mount=f"/{name}/{version}")
        try:
            if stub is None:
                response = self.functions.call_module(name, version, request, parent)
            else:
                response = _stub_response(name, stub, sent)
            status = response.status
            return response
        finally:
            with self.lock:
                self.calls.append(RecordedModuleCall(parent.function, f"{name}/{version}", sent, status,
                                                     stub is not None))


def _stub_response(name: str, stub: ModuleStub, request: Request) -> Response:
    try:
        answer = stub(request)
    except Exception as exc:
        raise InvocationError(f"module stub raised {type(exc).__name__}: {exc}", function=name) from None
    if isinstance(answer, httpx.Response):
        answer.read()
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in answer.headers.raw]
        return Response(answer.status_code, headers, body_from_bytes(answer.content))
    if not isinstance(answer, Response):
        raise InvocationError(f"module stub returned {type(answer).__name__}, expected wasmlet.Response or "
                              "httpx.Response", function=name)
    return answer


class FunctionHarness:
    """A compiled function served in process by the production host, for integration tests.

    `source` is a `.wasm` component or a function's source folder (Rust: `Cargo.toml`, Python:
    `app.py`), built once per content and cached. The function runs with the same runtime,
    limits and manifest checks as `wasmlet serve`; its kv and sql labels are SQLite files in a
    temporary directory (removed by `close`) unless `backends` says otherwise; outbound HTTP is
    answered only by mocks (`mock_http`); module calls go to other harnesses, components or stubs.
    Use it as a context manager, or call `close()`.
    """

    def __init__(
        self,
        source: PathLike,
        *,
        name: str | None = None,
        manifest: PathLike | Manifest | Mapping[str, Any] | None = None,
        config: Mapping[str, str] | None = None,
        backends: Backends | PathLike | None = None,
        modules: Mapping[str, FunctionHarness | PathLike | ModuleStub] | None = None,
        settings: HostSettings | None = None,
        runtime: Runtime | None = None,
        build_dir: PathLike | None = None,
        allow_real_http: bool = False,
    ) -> None:
        """Builds (when `source` is a folder), compiles and serves the function; see the class docstring.

        `manifest`: a `function.toml` path, a `Manifest` or a dict (default: the folder's
        `function.toml` / `wasmlet.toml`, or `NAME.toml` beside a `.wasm`). `config`: values
        `config.get` returns, merged over the manifest's `[config]`. `backends`: a `Backends`, or a
        `wasmlet.toml` whose `[kv.*]`/`[sql.*]` tables to use. `modules`: name -> harness, component
        path, source folder or stub. `settings`/`runtime`: the host's (default: production settings
        and one shared engine). `build_dir`: the build cache (default `.wasmlet/harness-build`).
        `allow_real_http`: unmocked granted requests go to the network instead of failing.
        """
        self._closed = False
        self._build_dir = build_dir
        self._sink = LogSink()
        self._routes = MockRoutes()
        self._functions: dict[str, _Function] = {}
        self._stubs: dict[str, ModuleStub] = {}
        self._module_calls: list[RecordedModuleCall] = []
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="wasmlet-harness-", ignore_cleanup_errors=True)
        self._pools = MockPools(self._routes, real_http=allow_real_http)
        start_capture()
        try:
            wasm_path, found, default_name = _component(source, manifest, build_dir)
            self.name = check_function_name(name) if name else _default_name(default_name)
            self.wasm_path = wasm_path.resolve()
            self.manifest = _with_config(found, config)
            self.backends, self._owns_backends = _backends(backends, Path(self._tmp.name) / "data")
            self.runtime = runtime or shared_runtime()
            self._registry = MemoryRegistry()
            self.host = Host(self.runtime, self._registry, settings or HostSettings(), self.backends)
            self._router = _ModuleRouter(self.host.functions, self._stubs, self._module_calls, self._lock)
            self.host.functions.use_services(HostServices(self.backends, self._pools, self._router))
            self._install(self.name, _Function(self.wasm_path.read_bytes(), self.manifest, self._routes), str(wasm_path))
            for module, target in (modules or {}).items():
                self.add_module(module, target)
            self.client = httpx.Client(transport=PortalTransport(self.app), base_url=self.url)
            """A synchronous `httpx.Client` whose base URL is the function's mount (`/<name>/latest/`)."""
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- wiring
    @property
    def mount(self) -> str:
        """The URL prefix the function is served under, as the guest sees it in `request.mount`."""
        return f"/{self.name}/latest"

    @property
    def url(self) -> str:
        """The clients' base URL: `http://testserver/<name>/latest/`."""
        return f"{HARNESS_BASE}{self.mount}/"

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The host as an ASGI app (serves every function of this harness at `/<name>/latest/...`),
        with the guests' log lines caught for `logs`."""
        with capturing(self._sink):
            await self.host(scope, receive, send)

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` over `httpx.ASGITransport` with the function's mount as base URL (use `async with`)."""
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 123))
        return httpx.AsyncClient(transport=transport, base_url=kwargs.pop("base_url", self.url), **kwargs)

    def _install(self, name: str, function: _Function, origin: str) -> None:
        """Serves `function` as `name` on this harness's host (compiled with this harness's runtime)."""
        try:
            compiled = self.runtime.load(function.wasm)
        except LoadError as exc:
            raise LoadError(f"{origin}: {exc}") from None
        if self._owns_backends:  # every label it is granted is a SQLite file unless configured
            for label in function.manifest.grants.kv:
                self.backends.kv_config.setdefault(label, {"type": "sqlite"})
            for label in function.manifest.grants.sql:
                self.backends.sql_config.setdefault(label, {"type": "sqlite"})
        self._registry.put(name, function.wasm, function.manifest)
        self.host.preload(compiled)
        self._functions[name] = function
        self._pools.route(name, function.routes)

    def add_module(self, name: str, target: FunctionHarness | PathLike | ModuleStub) -> None:
        """Makes module `name` callable by the function (its manifest must still allow it in `[modules]`).

        `target`: another `FunctionHarness` (its component, manifest and config, its mocks answering
        its requests, its own modules too), a `.wasm` or source folder (its manifest found as for the
        main function; this harness's mocks answer it), or a stub (`ModuleStub`). A module's kv and
        sql are this harness's stores."""
        check_function_name(name)
        if name in self._functions or name in self._stubs:
            raise ValueError(f"module {name!r} is already served by this harness")
        if isinstance(target, FunctionHarness):
            self._install(name, target._functions[target.name], str(target.wasm_path))
            for sub, function in target._functions.items():
                if sub != target.name and sub not in self._functions and sub not in self._stubs:
                    self._install(sub, function, f"{target.name}'s module {sub}")
            for sub, stub in target._stubs.items():
                self._stubs.setdefault(sub, stub)
        elif isinstance(target, (str, os.PathLike)):
            wasm_path, manifest, _ = _component(target, None, self._build_dir)
            self._install(name, _Function(wasm_path.read_bytes(), manifest, self._routes), str(wasm_path))
        elif callable(target):
            self._stubs[name] = target
        else:
            raise TypeError(f"module {name!r}: expected a FunctionHarness, a path or a callable, "
                            f"got {type(target).__name__}")

    # ----------------------------------------------------------------- mocks
    def mock_http(self, method: str, url: str | re.Pattern[str], *, status: int = 200, json: Any = _UNSET,
                  body: str | bytes | None = None, headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
                  handler: MockHandler | None = None) -> HttpMock:
        """Answers the function's outbound `method` (`*`: any) requests to `url` with `status` and `json` or
        `body` (and `headers`), or with `handler(httpx.Request) -> httpx.Response`. The newest matching
        mock wins; a URL without a query matches any query. The manifest's allow-list is still checked
        first: a host it does not grant is `denied` even when mocked."""
        mock = make_mock(method, url, status=status, json=json, body=body, headers=headers, handler=handler)
        self._routes.add(mock)
        return mock

    @property
    def outbound_calls(self) -> list[OutboundCall]:
        """Outbound requests that passed the allow-list, in order (denied ones never leave the sandbox)."""
        with self._routes.lock:
            return list(self._routes.calls)

    @property
    def unmocked_calls(self) -> list[OutboundCall]:
        """Granted outbound requests no mock answered (the guest got a `failed` error for each)."""
        return [c for c in self.outbound_calls if not c.mocked]

    @property
    def module_calls(self) -> list[RecordedModuleCall]:
        """Module calls this harness's functions made that their manifests allowed, in order (a denied one
        never leaves the caller)."""
        with self._lock:
            return list(self._module_calls)

    @property
    def logs(self) -> list[LogLine]:
        """Lines the harness's functions logged (log hostcall, stdout/stderr, host notes), in order."""
        with self._sink.lock:
            return list(self._sink.lines)

    def clear_records(self) -> None:
        """Forgets the logs, outbound calls and module calls recorded so far (mocks stay)."""
        with self._sink.lock:
            self._sink.lines.clear()
        with self._routes.lock:
            self._routes.calls.clear()
            for mock in self._routes.mocks:
                mock.calls.clear()
        with self._lock:
            self._module_calls.clear()

    # ---------------------------------------------------------------- stores
    def kv(self, store: str = "default") -> dict[str, bytes]:
        """The contents of key-value store `store` (a label), read straight from its backend."""
        backend: KvBackend = self.backends.kv(store)
        contents: dict[str, bytes] = {}
        for key in backend.keys(""):
            value = backend.get(key)
            if value is not None:
                contents[key] = value
        return contents

    def sql_rows(self, statement: str, params: Sequence[Any] = (), database: str = "default") -> list[dict[str, Any]]:
        """Runs a query on database `database` (a label) directly, rows as dicts (to inspect or seed data)."""
        columns, packed = self.backends.sql(database).query(statement, list(params))
        return [dict(zip(columns, row)) for row in unpack_rows(packed)]

    # ---------------------------------------------------------------- invoke
    def invoke(self, event: Event) -> Response:
        """Runs `handle(event)` once, as the host would (same runtime, limits and grants) but without the
        HTTP layer: the guest's `Response` as it returned it. Raises `wasmlet.Timeout`, `OutOfMemory`,
        `GuestTrap` (all `InvocationError`) where HTTP would answer 504 or 500."""
        version = self._registry.resolve(self.name, "latest")
        assert version is not None
        compiled = self.host.functions.compiled(version)
        ctx = InvocationContext(self.name, version.version, f"{random.getrandbits(128):032x}",
                                logging.getLogger(f"wasmlet.guest.{self.name}"))
        with capturing(self._sink):
            return self.runtime.invoke(compiled, event, limits=version.manifest.limits, ctx=ctx,
                                       imports=self.host.functions.imports_for(version.manifest))

    # -------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Closes the clients' event loop, the outbound pools and removes the temporary stores (idempotent)."""
        if self._closed:
            return
        self._closed = True
        client: httpx.Client | None = self.__dict__.get("client")
        if client is not None:
            client.close()
        host: Host | None = self.__dict__.get("host")
        if host is not None:
            host.functions.close()
        self._pools.close()
        stop_capture()
        self._tmp.cleanup()

    def __enter__(self) -> FunctionHarness:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FunctionHarness {self.name} from {self.wasm_path}>"


def _default_name(name: str) -> str:
    """The folder's or file's name when it is a valid function name; else a clear error asking for `name=`."""
    try:
        return check_function_name(name)
    except ValueError as exc:
        raise ValueError(f"{exc}; pass name=... to FunctionHarness") from None


def _backends(backends: Backends | PathLike | None, data_dir: Path) -> tuple[Backends, bool]:
    """The stores: a given `Backends` as is, or new ones in `data_dir` (with a `wasmlet.toml`'s `[kv.*]`/`[sql.*]`)."""
    if isinstance(backends, Backends):
        return backends, False
    kv: dict[str, Any] = {}
    sql: dict[str, Any] = {}
    if backends is not None:
        from ..config import Config

        loaded = Config.load(Path(backends))
        kv, sql = dict(loaded.kv), dict(loaded.sql)
    return Backends(data_dir, kv, sql), True
