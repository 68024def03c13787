"""The dev server's registry: in memory, one version per function."""

from __future__ import annotations

import hashlib
import time

from ..manifest import Manifest
from ._common import LATEST, RegistryError, Removed, Version, held_message


class MemoryRegistry:
    """The dev server's registry: each function is one file, version `dev`, aliased `latest`."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Version, bytes]] = {}
        self._aliases: dict[str, dict[str, str]] = {}

    def put(self, function: str, wasm: bytes, manifest: Manifest | None = None) -> Version:
        v = Version(function, "dev", hashlib.sha256(wasm).hexdigest(), manifest or Manifest(), time.time())
        self._entries[function] = (v, wasm)
        self._aliases[function] = {LATEST: "dev"}
        return v

    def resolve(self, function: str, version: str) -> Version | None:
        entry = self._entries.get(function)
        if entry is None or (version != "dev" and self._aliases[function].get(version) != "dev"):
            return None
        return entry[0]

    def wasm(self, version: Version) -> bytes:
        return self._entries[version.function][1]

    def list(self) -> dict[str, dict[str, object]]:
        """Every function with its version and aliases (the shape `SqliteRegistry.list` has)."""
        return {name: {"versions": [{"version": v.version, "sha256": v.sha256, "manifest": v.manifest.to_dict()}],
                       "aliases": dict(self._aliases.get(name, {}))}
                for name, (v, _) in list(self._entries.items())}

    def delete_version(self, function: str, version: str) -> None:
        """Deletes the `dev` version; refused (409) while `latest` still points at it."""
        self._known(function)
        if version != "dev":
            raise RegistryError(f"{function} has no version {version!r}", 404)
        held = sorted(self._aliases[function])
        if held:
            raise RegistryError(held_message(function, version, held), 409)
        del self._entries[function], self._aliases[function]

    def delete_alias(self, function: str, alias: str) -> str:
        """Deletes an alias; returns the version it named."""
        self._known(function)
        if alias not in self._aliases[function]:
            raise RegistryError(f"{function} has no alias {alias!r}", 404)
        return self._aliases[function].pop(alias)

    def delete_function(self, function: str, force: bool = False) -> Removed:
        """Forgets a function (a dev server's next rebuild puts it back)."""
        self._known(function)
        del self._entries[function]
        return Removed(function, ("dev",), self._aliases.pop(function))

    def _known(self, function: str) -> None:
        if function not in self._entries:
            raise RegistryError(f"no function {function!r}", 404)
