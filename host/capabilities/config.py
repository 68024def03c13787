"""`wasmlet:faas/config`: values from the manifest, and allow-listed host environment variables."""

from __future__ import annotations

import os

from wasmlet_bindgen.abi import Err, Ok, Result

from ..bindings.faas import ConfigError, ConfigErrorDenied
from ..manifest import Grants


class ConfigHost:
    """Implements `config` for one function's grants."""

    def __init__(self, grants: Grants) -> None:
        self.values = dict(grants.config)
        self.env = set(grants.env)

    def get(self, key: str) -> Result[str | None, ConfigError]:
        if key in self.values:
            return Ok(self.values[key])
        if key in self.env:
            return Ok(os.environ.get(key))
        return Err(ConfigErrorDenied(f"config key {key!r} is not granted"))
