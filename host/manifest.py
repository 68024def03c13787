"""A function's manifest: its capability grants and its limits, validated. Deny by default."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from .events.triggers import TriggerError, Triggers, parse_triggers

MiB = 1024 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
RESERVED_ENV_PREFIX = "WASMLET_"
"""Host environment variables no manifest may grant (the admin token lives there)."""


class ManifestError(ValueError):
    """The manifest is not valid; the message says which key and why."""


@dataclass(frozen=True)
class Limits:
    """What one invocation may use; the runtime sets them before instantiation, hostcalls
    enforce their own (over a cap the guest gets a typed error and the host stays flat)."""

    timeout_ms: int = 10_000
    """Wall-clock deadline of the invocation, hostcalls and module calls included (504 past it)."""
    memory_mb: int = 128
    """Linear memory cap of each memory of the instance (instance, memory and table counts are capped too)."""
    max_sql_rows: int = 10_000
    """Rows one SQL query may return."""
    max_sql_bytes: int = 16 * MiB
    """Bytes one SQL query may return, counted as sent to the guest (packed JSON)."""
    max_kv_key_bytes: int = 1024
    max_kv_value_bytes: int = 1 * MiB
    max_kv_keys: int = 10_000
    """Keys one `kv.keys` call may return."""
    max_outbound_response_bytes: int = 10 * MiB
    max_module_response_bytes: int = 10 * MiB
    max_log_lines: int = 1000
    """Log lines (hostcall and stdout/stderr) kept per invocation; the rest are counted and dropped."""
    max_log_bytes: int = 1 * MiB


MAX_MEMORY_MB = 4096
"""The largest `memory_mb` a manifest may ask for (the instance pool is sized for it)."""

_LIMIT_RANGES = {
    "timeout_ms": (1, 15 * 60 * 1000),
    "memory_mb": (1, MAX_MEMORY_MB),
    "max_body_bytes": (0, 1 << 30),
    "max_concurrency": (1, 100_000),
    "max_sql_rows": (1, 10_000_000),
    "max_sql_bytes": (1, 1 << 30),
    "max_kv_key_bytes": (1, 1 << 20),
    "max_kv_value_bytes": (1, 512 * MiB),
    "max_kv_keys": (1, 10_000_000),
    "max_outbound_response_bytes": (1, 1 << 30),
    "max_module_response_bytes": (1, 1 << 30),
    "max_log_lines": (0, 10_000_000),
    "max_log_bytes": (0, 1 << 30),
}
_LIMIT_FIELDS = tuple(f.name for f in fields(Limits))


@dataclass(frozen=True)
class OriginPattern:
    """`scheme://host[:port]`; host may be `*` (any) or start with `*.` (one or more labels), port may be `*`."""

    scheme: str
    host: str
    port: int | None  # None: any port

    @classmethod
    def parse(cls, text: str) -> OriginPattern:
        scheme, sep, rest = text.partition("://")
        if not sep or scheme not in DEFAULT_PORTS:
            raise ValueError(f"{text!r}: expected http://host[:port] or https://host[:port]")
        rest = rest.rstrip("/")
        if "/" in rest or "?" in rest or "@" in rest or "#" in rest or not rest:
            raise ValueError(f"{text!r}: only scheme, host and port, no path or credentials")
        if rest.startswith("["):
            host, _, port = rest[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = rest.partition(":")
        host = host.lower()
        if not host or ("*" in host and host != "*" and not (host.startswith("*.") and "*" not in host[2:])):
            raise ValueError(f"{text!r}: a wildcard stands for whole labels: `*.example.com` or `*`")
        if port == "*":
            return cls(scheme, host, None)
        if port and not port.isdigit():
            raise ValueError(f"{text!r}: invalid port {port!r}")
        return cls(scheme, host, int(port) if port else DEFAULT_PORTS[scheme])

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if scheme != self.scheme or (self.port is not None and port != self.port):
            return False
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and len(host) > len(self.host) - 1
        return host == self.host


@dataclass(frozen=True)
class Grants:
    """Capabilities a manifest grants; everything else is denied."""

    config: tuple[tuple[str, str], ...] = ()
    """Config values by key."""
    env: tuple[str, ...] = ()
    """Host environment variables the function may read through `config.get`."""
    kv: tuple[str, ...] = ()
    """Key-value store labels."""
    sql: tuple[str, ...] = ()
    """SQL database labels."""
    allowed_hosts: tuple[str, ...] = ()
    """Outbound HTTP origins: `https://api.example.com`, `http://127.0.0.1:*`, `https://*.example.com`."""
    modules: tuple[str, ...] = ()
    """Functions it may call: `name` (any version) or `name/version`."""
    publish: tuple[tuple[str, str], ...] = ()
    """Where it may publish: (source label, subject pattern) pairs, from `"source:pattern"` entries."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": {**dict(self.config), **({"env": list(self.env)} if self.env else {})},
            "kv": {"stores": list(self.kv)}, "sql": {"databases": list(self.sql)},
            "outbound_http": {"allowed_hosts": list(self.allowed_hosts)}, "modules": {"allowed": list(self.modules)},
            "messaging": {"publish": [f"{source}:{subject}" for source, subject in self.publish]},
        }


def _str_list(data: dict[str, Any], section: str, key: str) -> tuple[str, ...]:
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise ManifestError(f"[{section}] must be a table")
    unknown = set(table) - {key}
    if unknown:
        raise ManifestError(f"{section}.{sorted(unknown)[0]}: unknown key (expected {key})")
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ManifestError(f"{section}.{key}: expected a list of non-empty strings")
    return tuple(value)


def _grants(data: dict[str, Any]) -> Grants:
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise ManifestError("[config] must be a table")
    values: list[tuple[str, str]] = []
    env: tuple[str, ...] = ()
    for key, value in config.items():
        if key == "env":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ManifestError("config.env: expected a list of environment variable names")
            secret = [v for v in value if v.upper().startswith(RESERVED_ENV_PREFIX)]
            if secret:
                raise ManifestError(f"config.env: {secret[0]} is wasmlet's own setting and cannot be granted")
            env = tuple(value)
        elif not isinstance(value, str):
            raise ManifestError(f"config.{key}: config values are strings, got {type(value).__name__}")
        else:
            values.append((key, value))
    hosts = _str_list(data, "outbound_http", "allowed_hosts")
    for host in hosts:
        try:
            OriginPattern.parse(host)
        except ValueError as exc:
            raise ManifestError(f"outbound_http.allowed_hosts: {exc}") from None
    return Grants(tuple(values), env, _str_list(data, "kv", "stores"), _str_list(data, "sql", "databases"),
                  hosts, _str_list(data, "modules", "allowed"), _publish(_str_list(data, "messaging", "publish")))


def _publish(entries: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """`"source:subject-pattern"` entries as pairs, each pattern checked."""
    from .events._subjects import check_pattern

    out = []
    for entry in entries:
        source, sep, pattern = entry.partition(":")
        if not sep or not source or not pattern:
            raise ManifestError(f"messaging.publish: {entry!r} is not \"source:subject\" (e.g. \"events:orders.*\")")
        try:
            check_pattern(pattern)
        except ValueError as exc:
            raise ManifestError(f"messaging.publish: {exc}") from None
        out.append((source, pattern))
    return tuple(out)


@dataclass(frozen=True)
class Manifest:
    """What a function may use and how much. Everything not granted is denied."""

    timeout_ms: int = 10_000
    memory_mb: int = 128
    max_body_bytes: int = 10 * 1024 * 1024
    max_concurrency: int = 64
    max_sql_rows: int = Limits.max_sql_rows
    max_sql_bytes: int = Limits.max_sql_bytes
    max_kv_key_bytes: int = Limits.max_kv_key_bytes
    max_kv_value_bytes: int = Limits.max_kv_value_bytes
    max_kv_keys: int = Limits.max_kv_keys
    max_outbound_response_bytes: int = Limits.max_outbound_response_bytes
    max_module_response_bytes: int = Limits.max_module_response_bytes
    max_log_lines: int = Limits.max_log_lines
    max_log_bytes: int = Limits.max_log_bytes
    grants: Grants = Grants()
    triggers: Triggers = Triggers()

    @cached_property
    def limits(self) -> Limits:
        """The per-invocation limits (made once per manifest: this runs per request)."""
        return Limits(**{name: getattr(self, name) for name in _LIMIT_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        limits = {k: v for k, v in asdict(self).items() if k not in ("grants", "limits", "triggers")}
        return {"limits": limits, **self.grants.to_dict(), "triggers": self.triggers.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        unknown = set(data) - {"limits", "config", "kv", "sql", "outbound_http", "modules", "messaging", "triggers"}
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
        try:
            triggers = parse_triggers(data.get("triggers"))
        except TriggerError as exc:
            raise ManifestError(str(exc)) from None
        return cls(**values, grants=_grants(data), triggers=triggers)

    @classmethod
    def from_toml(cls, text: str) -> Manifest:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ManifestError(f"manifest is not valid TOML: {exc}") from None
        return cls.from_dict(data)


MANIFEST_FILE = "function.toml"
"""The manifest's file name inside a function's source folder."""
LEGACY_MANIFEST_FILE = "wasmlet.toml"
"""The name a source folder's manifest had before 0.2 (still read, with a deprecation line)."""


def manifest_path(source: Path) -> Path | None:
    """The manifest of the function whose source is in `source`: `function.toml`, else the
    legacy `wasmlet.toml` when it is a manifest (not a server config), else None."""
    current = source / MANIFEST_FILE
    if current.is_file():
        return current
    legacy = source / LEGACY_MANIFEST_FILE
    if legacy.is_file() and not _is_server_config(legacy):
        return legacy
    return None


_MANIFEST_ONLY = {"limits", "config", "outbound_http", "modules", "triggers"}
_SERVER_ONLY = {"server", "admin", "registry", "telemetry", "data_dir", "cache_dir"}


def is_function_manifest(data: dict[str, Any]) -> bool:
    """A parsed TOML file is a function's manifest (the old `wasmlet.toml` in a source folder) rather
    than a server config: it has manifest-only sections, or `[kv]`/`[sql]` grant lists instead of
    `[kv.<label>]` backend tables."""
    if set(data) & _MANIFEST_ONLY:
        return True
    return any(isinstance(data.get(name), dict) and any(not isinstance(v, dict) for v in data[name].values())
               for name in ("kv", "sql", "messaging"))


def _is_server_config(path: Path) -> bool:
    """A `wasmlet.toml` that configures a server (`[server]`, `[registry]`, backend tables…) rather than
    granting a function anything; an unreadable file is left for the manifest parser to report."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    if is_function_manifest(data):
        return False
    return bool(set(data) & _SERVER_ONLY) or any(isinstance(data.get(name), dict) and data[name]
                                                 for name in ("kv", "sql", "messaging"))


def load_manifest(source: Path, warn: Callable[[str], None] | None = None) -> Manifest:
    """The manifest in a source folder (an empty one, granting nothing, when there is none);
    `warn` hears a one-line deprecation note when it is still named `wasmlet.toml`."""
    path = manifest_path(source)
    if path is None:
        return Manifest()
    if path.name == LEGACY_MANIFEST_FILE and warn is not None:
        warn(f"{path}: a function's manifest is now named {MANIFEST_FILE}; rename it (the old name is still read)")
    try:
        return Manifest.from_toml(path.read_text())
    except ManifestError as exc:
        raise ManifestError(f"{path}: {exc}") from None
