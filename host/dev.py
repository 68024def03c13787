"""`wasmlet dev`: serve components from files, reloading them when they change.

A rebuilt file is loaded and checked off the event loop; only a good one
replaces the serving version (requests already running finish on the old
code). A broken file is logged and the old version keeps serving.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread

from .asgi import Host, HostSettings
from .build import BuildError, build_python, build_rust, detect
from .capabilities.backends import Backends
from .errors import LoadError
from .manifest import Manifest
from .names import check_function_name
from .registry import MemoryRegistry
from .runtime import Runtime

log = logging.getLogger("wasmlet.dev")
_IGNORED = {"target", "__pycache__", "node_modules", ".wasmlet"}


@dataclass(frozen=True)
class DevFunction:
    """`-m NAME:PATH.wasm`, or `-m NAME:DIR` / `DIR` for a function built from source."""

    name: str
    path: Path
    manifest: Manifest
    source: Path | None = None
    """The source directory when the function is rebuilt from source."""

    @classmethod
    def parse(cls, spec: str, build_dir: Path) -> DevFunction:
        name, sep, path = spec.rpartition(":") if ":" in spec else ("", "", spec)
        p = Path(path)
        if p.is_dir():
            detect(p)  # a clear error now when it is neither Rust nor Python
            src = p.resolve()
            name = check_function_name(name or src.name)
            manifest_path = src / "wasmlet.toml"
            manifest = Manifest.from_toml(manifest_path.read_text()) if manifest_path.is_file() else Manifest()
            return cls(name, (build_dir / f"{name}.wasm").resolve(), manifest, src)
        if not name or not path:
            raise ValueError(f"-m expects NAME:PATH.wasm or a source directory, got {spec!r}")
        check_function_name(name)
        manifest_path = p.with_suffix(".toml")
        manifest = Manifest.from_toml(manifest_path.read_text()) if manifest_path.is_file() else Manifest()
        return cls(name, p.resolve(), manifest)

    def build(self) -> None:
        """Builds the component from source (no-op for a `.wasm` function)."""
        if self.source is None:
            return
        if detect(self.source) == "rust":
            build_rust(self.source, self.path)
        else:
            build_python(self.source, self.path)


class DevServer:
    """The dev server's state: an in-memory registry fed from files."""

    def __init__(self, runtime: Runtime, functions: list[DevFunction], json_logs: bool = False, access_log: bool = True,
                 backends: Backends | None = None) -> None:
        self.runtime = runtime
        self.functions = {f.name: f for f in functions}
        self.registry = MemoryRegistry()
        self.host = Host(runtime, self.registry, HostSettings(json_logs=json_logs, access_log=access_log), backends)
        self.reloads = 0

    def load_all(self) -> None:
        """Builds (from source) and loads every function once; a failure here is a startup error."""
        for fn in self.functions.values():
            fn.build()
            self._load(fn)

    def _load(self, fn: DevFunction) -> None:
        wasm = fn.path.read_bytes()
        compiled = self.runtime.load(wasm)
        old = self.registry.resolve(fn.name, "dev")
        version = self.registry.put(fn.name, wasm, fn.manifest)
        self.host.preload(compiled)
        if old is not None and old.sha256 != version.sha256:
            self.host.forget(old.sha256)
        log.info("serving %s from %s (%d bytes, sha256 %s)", fn.name, fn.path, len(wasm), version.sha256[:12])

    async def reload(self, path: Path) -> None:
        for fn in self.functions.values():
            if fn.path != path:
                continue
            try:
                await anyio.to_thread.run_sync(self._load, fn)
                self.reloads += 1
                log.info("reloaded %s", fn.name)
            except (OSError, LoadError) as exc:
                log.error("kept the previous %s: %s is not usable: %s", fn.name, path, exc)

    async def rebuild(self, fn: DevFunction) -> None:
        """Rebuilds from source; a failed build shows the compiler's error and keeps the old version."""
        started = time.perf_counter()
        try:
            await anyio.to_thread.run_sync(fn.build)
        except BuildError as exc:
            log.error("build of %s failed; the last good version keeps serving:\n%s", fn.name, exc)
            return
        log.info("rebuilt %s in %.1f s", fn.name, time.perf_counter() - started)
        await self.reload(fn.path)

    async def watch(self) -> None:
        """Reloads functions whose files change, rebuilding those served from source (debounced)."""
        from watchfiles import Change, awatch

        targets = {str(fn.path): fn for fn in self.functions.values() if fn.source is None}
        sources = {fn.source: fn for fn in self.functions.values() if fn.source is not None}
        dirs = sorted({str(fn.path.parent) for fn in targets.values()} | {str(s) for s in sources})

        def owner(path: str) -> DevFunction | None:
            if path in targets:
                return targets[path]
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
            touched: dict[str, DevFunction] = {}
            for _, path in sorted(changes):
                fn = owner(path)
                if fn is not None:
                    touched[fn.name] = fn
            for fn in touched.values():
                if fn.source is not None:
                    await self.rebuild(fn)
                else:
                    await self.reload(fn.path)
