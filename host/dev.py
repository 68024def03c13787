"""`wasmlet dev`: serve components from files, reloading them when they change.

A rebuilt file is loaded and checked off the event loop; only a good one
replaces the serving version (requests already running finish on the old
code). A broken file is logged and the old version keeps serving.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread

from .asgi import Host, HostSettings
from .errors import LoadError
from .manifest import Manifest
from .registry import MemoryRegistry
from .runtime import Runtime

log = logging.getLogger("wasmlet.dev")


@dataclass(frozen=True)
class DevFunction:
    """`-m NAME:PATH.wasm`: a function served from a file."""

    name: str
    path: Path
    manifest: Manifest

    @classmethod
    def parse(cls, spec: str) -> DevFunction:
        name, sep, path = spec.partition(":")
        if not sep or not name or not path:
            raise ValueError(f"-m expects NAME:PATH.wasm, got {spec!r}")
        p = Path(path)
        manifest_path = p.with_suffix(".toml")
        manifest = Manifest.from_toml(manifest_path.read_text()) if manifest_path.is_file() else Manifest()
        return cls(name, p.resolve(), manifest)


class DevServer:
    """The dev server's state: an in-memory registry fed from files."""

    def __init__(self, runtime: Runtime, functions: list[DevFunction], json_logs: bool = False) -> None:
        self.runtime = runtime
        self.functions = {f.name: f for f in functions}
        self.registry = MemoryRegistry()
        self.host = Host(runtime, self.registry, HostSettings(json_logs=json_logs))
        self.reloads = 0

    def load_all(self) -> None:
        """Loads every function once; a broken file here is a startup error."""
        for fn in self.functions.values():
            self._load(fn)

    def _load(self, fn: DevFunction) -> None:
        wasm = fn.path.read_bytes()
        compiled = self.runtime.load(wasm)
        old = self.registry.resolve(fn.name, "dev")
        version = self.registry.put(fn.name, wasm, fn.manifest)
        self.host._compiled[version.sha256] = compiled
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

    async def watch(self) -> None:
        """Reloads functions whose files change (debounced)."""
        from watchfiles import Change, awatch

        targets = {str(fn.path) for fn in self.functions.values()}
        dirs = sorted({str(fn.path.parent) for fn in self.functions.values()})

        def interesting(change: Change, path: str) -> bool:
            return path in targets and change != Change.deleted

        async for changes in awatch(*dirs, watch_filter=interesting, debounce=300, step=50):
            for _, path in sorted(changes):
                await self.reload(Path(path))
