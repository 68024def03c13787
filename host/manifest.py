"""A function's manifest: its limits (and, later, its capability grants), validated."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from typing import Any

from .runtime import Limits


class ManifestError(ValueError):
    """The manifest is not valid; the message says which key and why."""


_LIMIT_RANGES = {
    "timeout_ms": (1, 15 * 60 * 1000),
    "memory_mb": (1, 4096),
    "max_body_bytes": (0, 1 << 30),
    "max_concurrency": (1, 100_000),
}


@dataclass(frozen=True)
class Manifest:
    """What a function may use. Everything not granted is denied."""

    timeout_ms: int = 10_000
    memory_mb: int = 128
    max_body_bytes: int = 10 * 1024 * 1024
    max_concurrency: int = 64

    @property
    def limits(self) -> Limits:
        return Limits(timeout_ms=self.timeout_ms, memory_mb=self.memory_mb)

    def to_dict(self) -> dict[str, Any]:
        return {"limits": asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        unknown = set(data) - {"limits"}
        if unknown:
            raise ManifestError(f"unknown manifest section(s): {', '.join(sorted(unknown))}")
        limits = data.get("limits", {})
        if not isinstance(limits, dict):
            raise ManifestError("[limits] must be a table")
        values: dict[str, int] = {}
        for key, value in limits.items():
            if key not in _LIMIT_RANGES:
                raise ManifestError(f"limits.{key}: unknown limit (known: {', '.join(_LIMIT_RANGES)})")
            lo, hi = _LIMIT_RANGES[key]
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ManifestError(f"limits.{key}: expected an integer in {lo}..{hi}, got {value!r}")
            values[key] = value
        return cls(**values)

    @classmethod
    def from_toml(cls, text: str) -> Manifest:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ManifestError(f"manifest is not valid TOML: {exc}") from None
        return cls.from_dict(data)
