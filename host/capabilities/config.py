"""`wasmlet:faas/config`: values from the manifest, and allow-listed host environment variables."""

from __future__ import annotations

import os

from wasmlet.bindings._abi import Err, Ok, Result

from ..bindings.faas import ConfigError, ConfigErrorDenied
from ..manifest import RESERVED_ENV_PREFIX, Grants
from ._capability import Capability, HostServices, PerInvocation


class ConfigCalls:
    """Implements `config` for one function's grants."""

    def __init__(self, grants: Grants) -> None:
        self.values = dict(grants.config)
        # never wasmlet's own settings, even from a manifest stored before they were refused
        self.env = {name for name in grants.env if not name.upper().startswith(RESERVED_ENV_PREFIX)}

    def get(self, key: str) -> Result[str | None, ConfigError]:
        if key in self.values:
            return Ok(self.values[key])
        if key in self.env:
            return Ok(os.environ.get(key))
        return Err(ConfigErrorDenied(f"config key {key!r} is not granted"))


def _bind(grants: Grants, services: HostServices) -> PerInvocation:
    calls = ConfigCalls(grants)  # read-only and the same for every invocation
    return lambda ctx: calls


CAPABILITY = Capability("config", "config", effects=False, granted=lambda g: bool(g.config or g.env), bind=_bind)
