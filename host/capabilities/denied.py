"""Hostcalls with no grant: every call answers `denied` and touches nothing."""

from __future__ import annotations

from wasmlet_bindgen.abi import Err, Result

from ..bindings.faas import (
    ConfigError,
    ConfigErrorDenied,
    KvError,
    KvErrorDenied,
    ModulesError,
    ModulesErrorDenied,
    OutboundHttpError,
    OutboundHttpErrorDenied,
    OutgoingRequest,
    Request,
    Response,
    Rows,
    SqlError,
    SqlErrorDenied,
    Value,
)


class DeniedConfig:
    def get(self, key: str) -> Result[str | None, ConfigError]:
        return Err(ConfigErrorDenied(f"config key {key!r} is not granted"))


class DeniedKv:
    def _denied(self, store: str) -> Err[KvError]:
        return Err(KvErrorDenied(f"key-value store {store!r} is not granted"))

    def get(self, store: str, key: str) -> Result[bytes | None, KvError]:
        return self._denied(store)

    def set(self, store: str, key: str, value: bytes) -> Result[None, KvError]:
        return self._denied(store)

    def delete(self, store: str, key: str) -> Result[None, KvError]:
        return self._denied(store)

    def keys(self, store: str, prefix: str) -> Result[list[str], KvError]:
        return self._denied(store)


class DeniedSql:
    def execute(self, database: str, statement: str, params: list[Value]) -> Result[int, SqlError]:
        return Err(SqlErrorDenied(f"database {database!r} is not granted"))

    def query(self, database: str, statement: str, params: list[Value]) -> Result[Rows, SqlError]:
        return Err(SqlErrorDenied(f"database {database!r} is not granted"))


class DeniedOutboundHttp:
    def send(self, request: OutgoingRequest) -> Result[Response, OutboundHttpError]:
        return Err(OutboundHttpErrorDenied(f"outbound HTTP to {request.url!r} is not allowed"))


class DeniedModules:
    def call(self, module: str, request: Request) -> Result[Response, ModulesError]:
        return Err(ModulesErrorDenied(f"calling {module!r} is not allowed"))
