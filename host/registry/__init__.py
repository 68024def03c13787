"""Functions, versions and aliases: where `wasmlet serve` keeps what was deployed.

`SqliteRegistry` (embedded, one machine) and `PostgresRegistry` (many hosts, one truth) behave the
same and are tested alike; `MemoryRegistry` feeds the dev server. `open_registry` picks one from the
`[registry]` section of `wasmlet.toml`.
"""

from __future__ import annotations

from pathlib import Path

from ._common import (
    LATEST,
    NAME_RE,
    Deletions,
    FunctionSource,
    Registry,
    RegistryError,
    Removed,
    Version,
    check_name,
    held_message,
    named_aliases_message,
)
from .memory import MemoryRegistry
from .sqlite import SqliteRegistry


def open_registry(kind: str, data_dir: Path, url: str = "", *, wait_s: float | None = None) -> Registry:
    """The registry `[registry] type` names: SQLite in `data_dir`, or PostgreSQL at `url` (waiting for
    it up to `wait_s` seconds, None: until it answers, saying why meanwhile)."""
    if kind == "postgres":
        if not url:
            raise RegistryError('[registry] type = "postgres" needs a url: set [registry] url or WASMLET_REGISTRY_URL')
        from .postgres import PostgresRegistry

        return PostgresRegistry(url, wait_s=wait_s)
    return SqliteRegistry(data_dir)

__all__ = ["LATEST", "NAME_RE", "Deletions", "FunctionSource", "MemoryRegistry", "Registry", "RegistryError", "Removed",
           "SqliteRegistry", "Version", "check_name", "held_message", "named_aliases_message", "open_registry"]
