"""`wasmlet.toml`: the host's own settings. Every key has a default, so no file is needed."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .capabilities.backends import BackendConfigError, Backends
from .manifest import is_function_manifest


class ConfigError(ValueError):
    """The config file is invalid; the message names the key."""


@dataclass(frozen=True)
class ServerConfig:
    bind: str = "127.0.0.1:3000"
    server: str = "uvicorn"
    backend: str = "asyncio"
    grace_seconds: float = 30.0
    drain_seconds: float = 0.0
    """After SIGTERM, how long the host keeps serving with readiness 503 before it stops accepting
    (give a load balancer time to take it out: 5-10 s behind Kubernetes)."""
    worker_threads: int = 8
    max_in_flight: int = 256
    json_logs: bool = False
    access_log: bool = True
    inline_budget_ms: int = 10
    """How long a function granted only config and logging may first run on the event loop; 0: never."""
    body_timeout_ms: int = 10_000
    """The longest a request body may take to arrive (408 after it); it counts against no limit meanwhile."""
    header_timeout_ms: int = 10_000
    """The longest the request line and headers may take (uvicorn: 408 and close; hypercorn: keep_alive_s)."""
    keep_alive_s: int = 5
    """An idle keep-alive connection is closed after this long."""
    max_header_bytes: int = 65_536
    """Request line plus headers; more is 431."""
    max_headers: int = 100
    """Request header lines; more is 431."""
    public_metrics: bool = False
    """Also serve `/_wasmlet/metrics` on the public address (by default only the admin API's `/metrics`)."""
    memory_budget_mb: int = 1024
    """Guest memory each worker process admits at once (the sum of running invocations' `memory_mb`;
    the next waits up to its timeout, then 503); 0: no budget."""
    instance_pool: bool = False
    """Instances come from wasmtime's pooling allocator, their memory kept mapped between uses
    (`pool_keep_resident_mb`): still a fresh instance per event, at 10-30 % more requests/s on the
    examples, for more resident memory per worker (about the guest's dirty pages per worker thread)."""
    pool_keep_resident_mb: int = 32
    """With `instance_pool`: how much of a freed instance's linear memory stays resident and is reset in place."""
    async_source: str = ""
    """A `[messaging.<label>]` NATS source (JetStream) that queues asynchronous invocations
    (`POST /_wasmlet/async/...`); empty: they answer 501."""
    schedule_source: str = ""
    """A `[messaging.<label>]` NATS source through which several hosts agree on who runs each due
    schedule (JetStream deduplication); empty: this host fires its functions' schedules alone."""

    def __post_init__(self) -> None:
        _check_types("server", self)
        if self.server not in ("uvicorn", "hypercorn"):
            raise ConfigError(f"[server] server must be \"uvicorn\" or \"hypercorn\", not {self.server!r}")
        if self.backend not in ("asyncio", "trio"):
            raise ConfigError(f"[server] backend must be \"asyncio\" or \"trio\", not {self.backend!r}")
        if not isinstance(self.memory_budget_mb, int) or isinstance(self.memory_budget_mb, bool) \
                or self.memory_budget_mb < 0:
            raise ConfigError(f"[server] memory_budget_mb must be 0 or a positive integer, not {self.memory_budget_mb!r}")
        if self.pool_keep_resident_mb < 0:
            raise ConfigError(f"[server] pool_keep_resident_mb must be 0 or more, not {self.pool_keep_resident_mb!r}")
        for key in ("body_timeout_ms", "header_timeout_ms", "keep_alive_s", "max_header_bytes", "max_headers"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"[server] {key} must be a positive integer, not {value!r}")


@dataclass(frozen=True)
class AdminConfig:
    bind: str = "127.0.0.1:3001"
    token: str = ""
    """Bearer token for the admin API; `WASMLET_ADMIN_TOKEN` overrides it."""

    def __post_init__(self) -> None:
        _check_types("admin", self)


@dataclass(frozen=True)
class RegistryConfig:
    """`[registry]`: where deployed functions live."""

    type: str = "sqlite"
    """"sqlite": embedded, in `data_dir` (one machine); "postgres": shared by every host that names it."""
    url: str = ""
    """PostgreSQL's URL (`postgresql://user:password@host:5432/dbname`); `WASMLET_REGISTRY_URL` overrides it."""

    def __post_init__(self) -> None:
        _check_types("registry", self)
        if self.type not in ("sqlite", "postgres"):
            raise ConfigError(f"[registry] type must be \"sqlite\" or \"postgres\", not {self.type!r}")
        if self.url and self.type != "postgres":
            raise ConfigError("[registry] url is for type = \"postgres\" (the SQLite registry lives in data_dir)")


@dataclass(frozen=True)
class TelemetryConfig:
    """`[telemetry]`: OpenTelemetry traces over OTLP/HTTP; the standard `OTEL_*` variables win over it."""

    enabled: bool = False
    """Export traces (also on when `OTEL_TRACES_EXPORTER=otlp`; `OTEL_TRACES_EXPORTER=none` turns it off)."""
    endpoint: str = ""
    """The collector's base URL (`/v1/traces` is appended); `OTEL_EXPORTER_OTLP_ENDPOINT` wins. Default
    `http://localhost:4318`."""
    service_name: str = "wasmlet"
    """`service.name` of the spans; `OTEL_SERVICE_NAME` wins."""

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"[telemetry] enabled must be true or false, not {self.enabled!r}")
        for key in ("endpoint", "service_name"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(f"[telemetry] {key} must be a string, not {getattr(self, key)!r}")


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path(".wasmlet/data")
    cache_dir: Path | None = None
    server: ServerConfig = field(default_factory=ServerConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    kv: dict[str, Any] = field(default_factory=dict)
    """Runtime config: `[kv.<label>]` tables (type = "sqlite" | "redis", url, path)."""
    sql: dict[str, Any] = field(default_factory=dict)
    """Runtime config: `[sql.<label>]` tables (type = "sqlite" | "postgres" | "mysql", url, path)."""
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    messaging: dict[str, Any] = field(default_factory=dict)
    """Runtime config: `[messaging.<label>]` tables (type = "nats", url, stream, subjects)."""
    registry: RegistryConfig = field(default_factory=RegistryConfig)

    @property
    def registry_url(self) -> str:
        """The PostgreSQL registry's URL: `WASMLET_REGISTRY_URL` (keep passwords out of files), else `[registry] url`."""
        return os.environ.get("WASMLET_REGISTRY_URL") or self.registry.url

    def backends(self) -> Backends:
        try:
            return Backends(self.data_dir, self.kv, self.sql, self.messaging)
        except BackendConfigError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def admin_token(self) -> str:
        return os.environ.get("WASMLET_ADMIN_TOKEN") or self.admin.token

    @classmethod
    def load(cls, path: Path | None) -> Config:
        if path is None:
            return cls()
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        base = path.parent
        try:
            server = ServerConfig(**_known(data, "server", ServerConfig))
            admin = AdminConfig(**_known(data, "admin", AdminConfig))
            telemetry = TelemetryConfig(**_known(data, "telemetry", TelemetryConfig))
            registry = RegistryConfig(**_known(data, "registry", RegistryConfig))
            for key in ("data_dir", "cache_dir"):
                if key in data and not isinstance(data[key], str):
                    raise ConfigError(f"{key} must be a string (a path), not {data[key]!r}")
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        unknown = set(data) - {"server", "admin", "data_dir", "cache_dir", "kv", "sql", "messaging", "telemetry",
                                "registry"}
        if unknown and is_function_manifest(data):
            raise ConfigError(f"{path}: this is a function's manifest (function.toml), not a server config")
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
        data_dir = base / data.get("data_dir", ".wasmlet/data")
        cache_dir = base / data["cache_dir"] if "cache_dir" in data else None
        config = cls(data_dir, cache_dir, server, admin, _table(data, "kv"), _table(data, "sql"), telemetry,
                     _table(data, "messaging"), registry)
        try:
            config.backends()  # validate now, connect later
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        for key in ("async_source", "schedule_source"):
            label = getattr(server, key)
            if label and label not in config.messaging:
                raise ConfigError(f"{path}: [server] {key} = {label!r} names no [messaging.{label}] table")
            if label and config.messaging[label].get("type") != "nats":
                raise ConfigError(f"{path}: [server] {key} = {label!r} must name a NATS source (JetStream "
                                  f"coordinates the hosts); [messaging.{label}] is {config.messaging[label].get('type')!r}")
        return config


SERVER_CONFIG_FILE = "wasmlet.toml"
"""The server config `serve` and `dev` read from the working directory when no --config is given."""


def discover(explicit: Path | None) -> tuple[Config, str]:
    """The config to run with and a line saying where it came from: `explicit`, else
    `./wasmlet.toml` when it is a server config, else the embedded defaults."""
    if explicit is not None:
        return Config.load(explicit), f"config: {explicit}"
    here = Path(SERVER_CONFIG_FILE)
    if not here.is_file():
        return Config(), f"config: embedded defaults (no ./{SERVER_CONFIG_FILE})"
    try:
        data = tomllib.loads(here.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{here}: {exc}") from None
    if is_function_manifest(data):
        return Config(), (f"config: embedded defaults (./{SERVER_CONFIG_FILE} is a function's manifest, not a server "
                          "config: rename it function.toml)")
    return Config.load(here), f"config: ./{SERVER_CONFIG_FILE}"


_TYPES: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "float": (int, float), "bool": bool}


def _check_types(section: str, settings: Any) -> None:
    """Each setting has its declared type (an int where a float is declared is fine)."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        expected = _TYPES.get(str(f.type))
        if expected is None:
            continue
        if not isinstance(value, expected) or (isinstance(value, bool) and f.type != "bool"):
            kind = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false"}[str(f.type)]
            raise ConfigError(f"[{section}] {f.name} must be {kind}, not {value!r}")


def _known(data: dict[str, Any], name: str, cls: Any) -> dict[str, Any]:
    """A section's table, every key one the section has."""
    table = _table(data, name)
    unknown = sorted(set(table) - {f.name for f in fields(cls)})
    if unknown:
        raise ConfigError(f"[{name}] unknown key(s) {', '.join(unknown)} (known: {', '.join(f.name for f in fields(cls))})")
    return table


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table")
    return table
