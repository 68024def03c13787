"""What every registry shares: the version record, errors, name rules and the operations' messages."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Protocol

from ..manifest import Manifest
from ..names import check_function_name

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LATEST = "latest"


class RegistryError(Exception):
    """A registry operation was refused; `status` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Version:
    """One deployed version of a function."""

    function: str
    version: str
    sha256: str
    manifest: Manifest
    created: float


class FunctionSource(Protocol):
    """Where the HTTP host looks functions up."""

    def resolve(self, function: str, version: str) -> Version | None: ...

    def wasm(self, version: Version) -> bytes: ...


class Deletions(Protocol):
    """How a registry shrinks; every registry implements it with the same statuses (404 absent, 409 conflict)."""

    def delete_version(self, function: str, version: str) -> None: ...

    def delete_alias(self, function: str, alias: str) -> str: ...

    def delete_function(self, function: str, force: bool = False) -> Removed: ...


@dataclass(frozen=True)
class Removed:
    """What deleting a whole function removed."""

    function: str
    versions: tuple[str, ...]
    aliases: dict[str, str]


def held_message(function: str, version: str, aliases: list[str]) -> str:
    """The 409 text for a version an alias still points at: which aliases, and the two ways out."""
    return (f"{function}/{version} is still aliased as {', '.join(aliases)}: point the alias at another version "
            f"(wasmlet alias {function} ALIAS VERSION) or remove it (wasmlet rm {function} --alias ALIAS) first")


def named_aliases_message(function: str, aliases: list[str]) -> str:
    """The 409 text for deleting a function that named aliases still route traffic to."""
    return (f"{function} still has the alias(es) {', '.join(aliases)}: remove them first "
            f"(wasmlet rm {function} --alias ALIAS) or delete anyway with force (wasmlet rm {function} --all --force)")


def check_name(kind: str, name: str) -> None:
    """Function names follow `names.FUNCTION_NAME`; versions and aliases `NAME_RE`."""
    if kind == "function":
        try:
            check_function_name(name)
        except ValueError as exc:
            raise RegistryError(str(exc), 400) from None
    elif not NAME_RE.fullmatch(name):  # `$` alone would let a final newline in
        raise RegistryError(f"invalid {kind} name {name!r}: use a-z, 0-9, '-' and '_' (max 63)", 400)


class Registry(FunctionSource, Deletions, Protocol):
    """A registry `wasmlet serve` runs on (SQLite embedded, or PostgreSQL shared by many hosts)."""

    def list(self) -> dict[str, dict[str, object]]: ...

    def deploy(self, function: str, wasm: bytes, manifest: Manifest) -> Version: ...

    def set_alias(self, function: str, alias: str, version: str) -> None: ...

    def unavailable(self) -> str | None: ...

    async def watch(self) -> None: ...

    def close(self) -> None: ...


def version_from_row(row: tuple[object, ...]) -> Version:
    """A `Version` from (function, version, sha256, manifest JSON, created)."""
    function, version, sha, manifest, created = row
    return Version(str(function), str(version), str(sha), Manifest.from_dict(json.loads(str(manifest))),
                   float(created))  # type: ignore[arg-type]


def listing(versions: list[Version], aliases: list[tuple[str, str, str]]) -> dict[str, dict[str, object]]:
    """The shape `list()` answers: each function's versions (oldest first) and aliases."""
    out: dict[str, dict[str, object]] = {}
    for v in versions:
        entry = out.setdefault(v.function, {"versions": [], "aliases": {}})
        entry["versions"].append({"version": v.version, "sha256": v.sha256, "created": v.created,  # type: ignore[attr-defined]
                                  "manifest": v.manifest.to_dict()})
    for function, alias, version in aliases:
        out.setdefault(function, {"versions": [], "aliases": {}})["aliases"][alias] = version  # type: ignore[index]
    return out


def manifest_json(manifest: Manifest) -> str:
    """The stored form of a manifest (sorted keys: the same manifest is the same text)."""
    return json.dumps(manifest.to_dict(), sort_keys=True)
