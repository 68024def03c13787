"""Typed wrappers for every hostcall. A capability the manifest does not grant
raises `HostError` with kind `denied`."""

from __future__ import annotations

import json as _json
import sys
from collections.abc import Sequence
from typing import Any

from ._component import body_from_wire, body_to_wire
from ._http import Request, Response

# Imported when the SDK is imported, which is while the component is built:
# componentize-py keeps only the modules imported then.
try:
    from componentize_py_types import Err as _Err
    from wit_world.imports import config as _config
    from wit_world.imports import kv as _kv
    from wit_world.imports import log as _log
    from wit_world.imports import messaging as _messaging
    from wit_world.imports import modules as _modules
    from wit_world.imports import outbound_http as _outbound_http
    from wit_world.imports import sql as _sql
    from wit_world.imports import types as _types

    INSIDE_COMPONENT = True
except ImportError:  # plain CPython: unit tests
    INSIDE_COMPONENT = False


def _require() -> None:
    if not INSIDE_COMPONENT:
        raise RuntimeError("hostcalls exist only inside a component")


# Kinds that mean "try again later" rather than "this request is wrong".
_UNAVAILABLE = frozenset({"backend", "timeout", "unavailable"})


class HostError(Exception):
    """A hostcall failed: `kind` is denied, backend, timeout, not-found or failed."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    @property
    def status(self) -> int:
        """The HTTP status an uncaught error answers with: 403 denied, 503 unavailable, else 500."""
        if self.kind == "denied":
            return 403
        return 503 if self.kind in _UNAVAILABLE else 500

    def response(self) -> Response:
        """The JSON error response `{"error": message, "kind": kind}` the router answers with."""
        return Response.json({"error": self.message, "kind": self.kind}, self.status)


def _unwrap(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except _Err as err:
        case = err.value
        kind = type(case).__name__.split("_", 1)[-1].lower().replace("notfound", "not-found")
        raise HostError(kind, str(getattr(case, "value", case))) from None


class _Log:
    """Writing to the host log."""

    def _log(self, level: str, message: str) -> None:
        if not INSIDE_COMPONENT:
            print(f"[{level}] {message}", file=sys.stderr)
            return
        _log.log(getattr(_log.Level, level), message)

    def debug(self, message: str) -> None:
        self._log("DEBUG", message)

    def info(self, message: str) -> None:
        self._log("INFO", message)

    def warn(self, message: str) -> None:
        self._log("WARN", message)

    def error(self, message: str) -> None:
        self._log("ERROR", message)


class _Config:
    """Configuration values granted by the manifest."""

    def get(self, key: str) -> str | None:
        _require()
        return _unwrap(_config.get, key)  # type: ignore[no-any-return]


class _Kv:
    """Key-value stores, by label."""

    def get(self, store: str, key: str) -> bytes | None:
        _require()
        value = _unwrap(_kv.get, store, key)
        return None if value is None else body_from_wire(_types, value)

    def set(self, store: str, key: str, value: bytes) -> None:
        _require()
        _unwrap(_kv.set, store, key, body_to_wire(_types, bytes(value)))

    def delete(self, store: str, key: str) -> None:
        _require()
        _unwrap(_kv.delete, store, key)

    def keys(self, store: str, prefix: str = "") -> list[str]:
        _require()
        return _unwrap(_kv.keys, store, prefix)  # type: ignore[no-any-return]


_NON_FINITE = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}


def _unpacked(v: Any) -> Any:
    """A packed cell (`sql.rows.packed`): blobs and non-finite reals are the two objects."""
    if isinstance(v, dict):
        return v["blob"].encode("latin-1") if "blob" in v else _NON_FINITE[v["real"]]
    return v


def _sql_value(v: Any) -> Any:
    if v is None:
        return _sql.Value_Null()
    if isinstance(v, bool) or isinstance(v, int):
        return _sql.Value_Integer(int(v))
    if isinstance(v, float):
        return _sql.Value_Real(v)
    if isinstance(v, str):
        return _sql.Value_Text(v)
    if isinstance(v, (bytes, bytearray)):
        return _sql.Value_Blob(bytes(v).decode("latin-1"))  # octets: one code point per byte
    raise TypeError(f"cannot pass {type(v).__name__} to SQL")


class _Sql:
    """SQL databases, by label, with `?` placeholders; rows come back as dicts of Python values."""

    def execute(self, database: str, statement: str, params: list[Any] | tuple[Any, ...] = ()) -> int:
        _require()
        return _unwrap(_sql.execute, database, statement, [_sql_value(p) for p in params])  # type: ignore[no-any-return]

    def query(self, database: str, statement: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        _require()
        rows = _unwrap(_sql.query, database, statement, [_sql_value(p) for p in params])
        columns = rows.columns
        return [dict(zip(columns, row)) if all(not isinstance(v, dict) for v in row)
                else dict(zip(columns, map(_unpacked, row))) for row in _json.loads(rows.packed)]


class _Http:
    """Outbound HTTP to the hosts the manifest allows."""

    def send(self, method: str, url: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> Response:
        _require()
        req = _outbound_http.OutgoingRequest(method, url, headers or [], body_to_wire(_types, body))
        resp = _unwrap(_outbound_http.send, req)
        return Response(resp.status, list(resp.headers), body_from_wire(_types, resp.body))

    def get(self, url: str, headers: list[tuple[str, str]] | None = None) -> Response:
        return self.send("GET", url, headers)


class _Messaging:
    """Publishing to message brokers, by source label and subject, as the manifest grants."""

    def publish(self, source: str, subject: str, payload: bytes | str,
                headers: Sequence[tuple[str, str]] = ()) -> None:
        """Publishes `payload` (text is sent as UTF-8) with `headers`; returns once the broker has it."""
        _require()
        data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        _unwrap(_messaging.publish, source, subject, body_to_wire(_types, data), [(k, v) for k, v in headers])


def call(module: str, request: Request) -> Response:
    """Calls another function on the same host (`name` or `name/version`)."""
    _require()
    wire = _types.Request(request.method, request.path, request.query, request.headers,
                          body_to_wire(_types, request.body), request.mount)
    resp = _unwrap(_modules.call, module, wire)
    return Response(resp.status, list(resp.headers), body_from_wire(_types, resp.body))


log = _Log()
config = _Config()
kv = _Kv()
sql = _Sql()
http = _Http()
messaging = _Messaging()
