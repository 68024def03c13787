"""`wasmlet dev`: serve components from files, reloading them when they change.

A rebuilt file is loaded and checked off the event loop; only a good one
replaces the serving version (requests already running finish on the old
code). A broken file, a failed build or a broken manifest is logged and the
old version keeps serving; a function whose first build fails waits for a fix.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread

from .asgi import Host, HostSettings, Receive, Scope, Send
from .build import BuildError, build, detect
from .capabilities.backends import Backends
from .errors import LoadError
from .events.checks import triggers_refused
from .manifest import LEGACY_MANIFEST_FILE, MANIFEST_FILE, Manifest, ManifestError, load_manifest, manifest_path
from .names import check_function_name
from .registry import MemoryRegistry
from .runtime import Runtime

log = logging.getLogger("wasmlet.dev")
build_log = logging.getLogger("wasmlet.build")
_IGNORED = {"target", "__pycache__", "node_modules", ".wasmlet"}


@dataclass
class DevFunction:
    """`-m NAME:PATH.wasm`, or `-m NAME:DIR` / `DIR` for a function built from source."""

    name: str
    path: Path
    """The component file served (for a source folder: where its builds go)."""
    manifest_file: Path | None = None
    """Read again on every load: editing it takes effect without a restart."""
    source: Path | None = None
    """The source directory when the function is rebuilt from source."""
    status: str = "not loaded yet"
    """What `GET /` says about it: serving, or why not."""
    problem: str | None = None
    """Why the newest build or file was not loaded while an older one keeps serving (`GET /` shows it)."""
    manifest: Manifest = field(default_factory=Manifest)

    @classmethod
    def parse(cls, spec: str, build_dir: Path) -> DevFunction:
        name, sep, path = spec.rpartition(":") if ":" in spec else ("", "", spec)
        p = Path(path)
        if p.is_dir():
            detect(p)  # a clear error now when it is neither Rust nor Python
            src = p.resolve()
            name = check_function_name(name or src.name)
            return cls(name, (build_dir / f"{name}.wasm").resolve(), manifest_path(src), src)
        if not name or not path:
            raise ValueError(f"{spec}: no such source folder (give a folder with Cargo.toml or app.py, "
                             "or -m NAME:FILE.wasm)")
        check_function_name(name)
        if not p.is_file():
            raise ValueError(f"{path}: no such file (give NAME:FILE.wasm or NAME:SOURCE_DIR)")
        beside = p.with_suffix(".toml")
        return cls(name, p.resolve(), beside.resolve() if beside.is_file() else None)

    def watched_manifests(self) -> list[Path]:
        """The manifest files whose appearance or change reloads this function."""
        if self.source is not None:
            return [self.source / MANIFEST_FILE, self.source / LEGACY_MANIFEST_FILE]
        return [self.path.with_suffix(".toml")]

    def read_manifest(self) -> Manifest:
        """The manifest as the file says now (none: grants nothing)."""
        if self.source is not None:
            self.manifest_file = manifest_path(self.source)
            return load_manifest(self.source, warn=log.warning)
        beside = self.path.with_suffix(".toml")
        self.manifest_file = beside if beside.is_file() else None
        if self.manifest_file is None:
            return Manifest()
        try:
            return Manifest.from_toml(self.manifest_file.read_text())
        except ManifestError as exc:
            raise ManifestError(f"{self.manifest_file}: {exc}") from None

    def build(self) -> None:
        """Builds the component from source (no-op for a `.wasm` function), streaming the tools' output."""
        if self.source is None:
            return
        language = detect(self.source)
        build_log.info("building %s from %s (%s)…", self.name, self.source, language)
        started = time.perf_counter()

        def progress(line: str) -> None:
            if line.strip():
                build_log.info("  %s | %s", self.name, line.strip())

        build(self.source, self.path, progress=progress)
        build_log.info("built %s in %.1f s", self.name, time.perf_counter() - started)


class DevServer:
    """The dev server's state: an in-memory registry fed from files."""

    def __init__(self, runtime: Runtime, functions: list[DevFunction], access_log: bool = True,
                 backends: Backends | None = None) -> None:
        self.runtime = runtime
        self.functions = {f.name: f for f in functions}
        self.registry = MemoryRegistry()
        self.host = Host(runtime, self.registry, HostSettings(access_log=access_log), backends)
        self.app = DevApp(self)
        self.reloads = 0

    def load_all(self) -> None:
        """Builds (from source) and loads every function once. A `.wasm` that cannot be loaded is a
        startup error; a source folder whose build fails is logged and waits for the next save."""
        for fn in self.functions.values():
            try:
                fn.build()
            except BuildError as exc:
                fn.status = f"the first build failed: {_headline(str(exc))}"
                log.error("build of %s failed; fix it and save: wasmlet dev rebuilds it then\n%s", fn.name, exc)
                continue
            self._load(fn)

    def _load(self, fn: DevFunction) -> None:
        manifest = fn.read_manifest()
        wasm = fn.path.read_bytes()
        started = time.perf_counter()
        if len(wasm) > 4_000_000:
            log.info("compiling %s (%.1f MB) to native code…", fn.name, len(wasm) / 1e6)
        try:
            compiled = self.runtime.load(wasm)
        except LoadError as exc:
            raise LoadError(f"{fn.path}: {exc}") from None
        refused = triggers_refused(manifest, compiled.contract.version, frozenset(self.host.backends.messaging_config),
                                   compiled.world != "function")
        if refused is not None:
            raise ManifestError(f"{fn.manifest_file or fn.name}: {refused}")
        old = self.registry.resolve(fn.name, "dev")
        version = self.registry.put(fn.name, wasm, manifest)
        self.host.preload(compiled)
        if old is not None and old.sha256 != version.sha256:
            self.host.forget(old.sha256)
        fn.manifest, fn.status, fn.problem = manifest, "serving", None
        log.info("loaded %s from %s (%d bytes, sha256 %s, %s) in %.1f s", fn.name, fn.path, len(wasm),
                 version.sha256[:12], f"manifest {fn.manifest_file}" if fn.manifest_file else "no manifest: grants nothing",
                 time.perf_counter() - started)

    async def reload(self, fn: DevFunction) -> None:
        try:
            await anyio.to_thread.run_sync(self._load, fn)
            self.reloads += 1
            log.info("reloaded %s", fn.name)
        except (OSError, LoadError, ManifestError) as exc:
            fn.problem = _headline(str(exc))
            log.error("kept the previous %s: %s", fn.name, exc)

    async def rebuild(self, fn: DevFunction) -> None:
        """Rebuilds from source; a failed build shows the compiler's error and keeps the old version."""
        try:
            await anyio.to_thread.run_sync(fn.build)
        except BuildError as exc:
            if fn.status == "serving":
                fn.problem = f"the newest build failed: {_headline(str(exc))}"
            else:
                fn.status = f"the build failed: {_headline(str(exc))}"
            log.error("build of %s failed; %s:\n%s", fn.name,
                      "the last good version keeps serving" if fn.status == "serving" else "waiting for a fix", exc)
            return
        await self.reload(fn)

    def urls(self, base: str) -> list[str]:
        """`NAME: URL` for each function (what `dev` prints at start)."""
        return [f"{name}: {base}/{name}/latest/" for name in sorted(self.functions)]

    async def watch(self) -> None:
        """Reloads functions whose files or manifests change, rebuilding those served from source (debounced)."""
        from watchfiles import Change, awatch

        targets = {str(fn.path): fn for fn in self.functions.values() if fn.source is None}
        manifests = {str(m): fn for fn in self.functions.values() for m in fn.watched_manifests()}
        sources = {fn.source: fn for fn in self.functions.values() if fn.source is not None}
        dirs = sorted({str(fn.path.parent) for fn in targets.values()} | {str(s) for s in sources})

        def owner(path: str) -> DevFunction | None:
            if path in targets:
                return targets[path]
            if path in manifests:
                return manifests[path]
            p = Path(path)
            for src, fn in sources.items():
                if p.is_relative_to(src):
                    rel = p.relative_to(src).parts
                    if rel and not any(part in _IGNORED or part.startswith(".") for part in rel) \
                            and not rel[-1].endswith((".wasm", ".pyc", "~", ".swp")):
                        return fn
            return None

        def interesting(change: Change, path: str) -> bool:
            return owner(path) is not None

        async for changes in awatch(*dirs, watch_filter=interesting, debounce=300, step=50):
            touched: dict[str, tuple[DevFunction, bool]] = {}
            for _, path in sorted(changes):
                fn = owner(path)
                if fn is not None:
                    only_manifest = path in manifests and touched.get(fn.name, (fn, True))[1]
                    touched[fn.name] = (fn, only_manifest)
            for fn, only_manifest in touched.values():
                if fn.source is not None and not (only_manifest and fn.status == "serving"):
                    await self.rebuild(fn)
                else:
                    await self.reload(fn)


def _headline(message: str) -> str:
    """The line of a build failure that says what is wrong: the compiler's first `error`, else the first line."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("error") and not line.startswith("error: could not compile"):
            return line
    return lines[0] if lines else "unknown error"


class DevApp:
    """The dev server's front: `GET /` lists the functions and where they are served, `OPTIONS /`
    says what it answers; everything else goes to the host."""

    def __init__(self, dev: DevServer) -> None:
        self.dev = dev

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http" and scope.get("raw_path", scope.get("path")) in (b"/", "/"):
            method = scope.get("method")
            if method in ("GET", "HEAD"):
                await self._respond(send, 200, self._listing(scope), method == "HEAD")
                return
            if method == "OPTIONS":
                await self._respond(send, 204, b"", False, [(b"allow", b"GET, HEAD, OPTIONS")])
                return
        await self.dev.host(scope, receive, send)

    def _listing(self, scope: Scope) -> bytes:
        host = dict(scope.get("headers", [])).get(b"host", b"127.0.0.1").decode("latin-1")
        functions = [{"name": fn.name, "url": f"http://{host}/{fn.name}/latest/", "status": fn.status,
                      **({"problem": fn.problem} if fn.problem else {}),
                      "source": str(fn.source or fn.path),
                      "manifest": str(fn.manifest_file) if fn.manifest_file else None}
                     for fn in sorted(self.dev.functions.values(), key=lambda f: f.name)]
        return json.dumps({"functions": functions}, indent=2).encode() + b"\n"

    @staticmethod
    async def _respond(send: Send, status: int, body: bytes, head: bool,
                       headers: list[tuple[bytes, bytes]] | None = None) -> None:
        rid = f"{random.getrandbits(128):032x}".encode()  # every response carries a request id, this one too
        out = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-request-id", rid), *(headers or [])]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": b"" if head else body})
