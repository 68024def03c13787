"""The admin API: deploy, list, alias, delete — token-authenticated, on its own address.

Uploads are capped while they stream (413 past `MAX_UPLOAD`, never buffered
whole first); every answer, errors included, is JSON with the request id, and
an error never echoes what was uploaded. Paths are plain: names never need
percent-encoding, so a `%` or a `.`/`..` segment is refused (400) before routing.
`GET /v1/openapi.json` describes every route (`_openapi.py`); it needs the token too.
"""

from __future__ import annotations

import contextvars
import hmac
import ipaddress
import json
import logging
import random
import socket
import sqlite3
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._openapi import document as openapi_document
from .errors import LoadError
from .events.checks import triggers_refused
from .manifest import Manifest, ManifestError
from .registry import Registry, RegistryError, check_name
from .runtime import Runtime

MAX_UPLOAD = 256 * 1024 * 1024
"""Bytes one deploy request may send (component and manifest together)."""
MAX_MESSAGE = 500
"""Characters of a parser's or compiler's message quoted back in an error."""

log = logging.getLogger("wasmlet.admin")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback address (`localhost.evil` is not)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("wasmlet_admin_request_id", default="")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": message[:MAX_MESSAGE * 2], "status": status, "request_id": _request_id.get()}
    return JSONResponse(body, status_code=status, headers=headers)


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"


class _TooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"upload is over the limit of {MAX_UPLOAD} bytes")


def _plain_path(raw: bytes) -> bool:
    """No percent-encoding and no `.`/`..` segment: what the router sees is what the client sent."""
    return b"%" not in raw and not any(seg in (b".", b"..") for seg in raw.split(b"/"))


def _flag(value: str | None, name: str) -> bool:
    """A boolean query parameter: absent, `true`/`false` or `1`/`0`; anything else is a 400."""
    if value is None or value in ("false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise HTTPException(400, f"query parameter {name} must be true or false")


class AdminApp:
    """The admin ASGI app: the bearer token, request ids, path checks and the upload cap, around the routes."""

    def __init__(self, app: Starlette, token: str) -> None:
        self.app = app
        self.token = token

    @property
    def routes(self) -> list[Route]:
        """The mounted routes (the OpenAPI test compares them with the document)."""
        return [r for r in self.app.routes if isinstance(r, Route)]

    def authorized(self, scope: Scope) -> bool:
        """The request carries the token (compared in constant time), or the API has none."""
        if not self.token:
            return True
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        return hmac.compare_digest(given, f"Bearer {self.token}".encode())

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = f"{random.getrandbits(128):032x}"
        _request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        if not self.authorized(scope):
            await _error(401, "missing or wrong bearer token",
                         {"www-authenticate": 'Bearer realm="wasmlet-admin"'})(scope, receive, send_with_id)
            return
        if not _plain_path(scope.get("raw_path") or scope["path"].encode()):
            await _error(400, "invalid admin path: names never need percent-encoding or '.' segments")(
                scope, receive, send_with_id)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_UPLOAD):
            status, what = (413, f"upload is over the limit of {MAX_UPLOAD} bytes") if declared.isdigit() \
                else (400, "invalid content-length")
            await _error(status, what, {"connection": "close"})(scope, receive, send_with_id)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_UPLOAD:
                raise _TooLarge()
            return message

        await self.app(scope, counted, send_with_id)


def admin_app(registry: Registry, runtime: Runtime, token: str,
              metrics: Callable[[], bytes] | None = None, messaging_sources: frozenset[str] = frozenset()) -> AdminApp:
    """The admin ASGI app; every route requires `Authorization: Bearer <token>` when a token is set.
    `metrics` renders the public host's Prometheus metrics for `GET /metrics`; `messaging_sources`
    are the `[messaging.<label>]` sources this host has (what triggers may name)."""

    async def deploy(request: Request) -> Response:
        name = request.path_params["name"]
        check_name("function", name)
        try:
            async with request.form(max_files=2, max_fields=4, max_part_size=1024 * 1024) as form:
                component = form.get("component")
                manifest_part = form.get("manifest") or ""
                if component is None or isinstance(component, str):
                    return _error(422, "the upload needs a `component` file part")
                wasm = await component.read()
                if isinstance(manifest_part, str):
                    text = manifest_part
                else:
                    text = (await manifest_part.read(1024 * 1024 + 1)).decode("utf-8", errors="replace")
        except HTTPException:
            raise
        except Exception as exc:  # the multipart parser's own errors
            return _error(400, f"not a valid multipart upload: {_short(str(exc))}")
        try:
            manifest = Manifest.from_toml(text)
        except ManifestError as exc:
            return _error(422, f"invalid manifest: {_short(str(exc))}")
        try:
            compiled = await anyio.to_thread.run_sync(runtime.load, wasm)
        except LoadError as exc:
            return _error(422, f"invalid component: {_short(str(exc))}")
        refused = triggers_refused(manifest, compiled.contract.version, messaging_sources, compiled.world != "function")
        if refused is not None:
            return _error(422, f"invalid manifest: {refused}")
        version = await anyio.to_thread.run_sync(registry.deploy, name, wasm, manifest)
        return JSONResponse({"function": name, "version": version.version, "sha256": version.sha256}, status_code=201)

    async def list_functions(request: Request) -> Response:
        functions = await anyio.to_thread.run_sync(registry.list)
        for entry in functions.values():
            for v in entry["versions"]:  # type: ignore[attr-defined]
                v["world"] = runtime.world_of(v["sha256"]) or "unknown"
        return JSONResponse({"functions": functions})

    async def set_alias(request: Request) -> Response:
        try:
            data = json.loads(await request.body())
        except ValueError:
            return _error(422, 'body must be JSON: {"version": "<version>"}')
        if not isinstance(data, dict) or not isinstance(data.get("version"), str):
            return _error(422, 'body must be {"version": "<version>"}')
        await anyio.to_thread.run_sync(registry.set_alias, request.path_params["name"], request.path_params["alias"],
                                       data["version"])
        return JSONResponse({"function": request.path_params["name"], "alias": request.path_params["alias"],
                             "version": data["version"]})

    async def delete_version(request: Request) -> Response:
        await anyio.to_thread.run_sync(registry.delete_version, request.path_params["name"],
                                       request.path_params["version"])
        return Response(status_code=204)

    async def delete_alias(request: Request) -> Response:
        name, alias = request.path_params["name"], request.path_params["alias"]
        version = await anyio.to_thread.run_sync(registry.delete_alias, name, alias)
        return JSONResponse({"function": name, "alias": alias, "version": version})

    async def delete_function(request: Request) -> Response:
        force = _flag(request.query_params.get("force"), "force")
        removed = await anyio.to_thread.run_sync(registry.delete_function, request.path_params["name"], force)
        return JSONResponse({"function": removed.function, "versions": list(removed.versions),
                             "aliases": removed.aliases})

    async def alias(request: Request) -> Response:
        """One route for both methods, so a 405's `Allow` names both."""
        return await (set_alias(request) if request.method == "PUT" else delete_alias(request))

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def render_metrics(request: Request) -> Response:
        if metrics is None:
            return _error(404, "no metrics on this admin API")
        return Response(metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def registry_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RegistryError)
        return _error(exc.status, str(exc), {"retry-after": "2"} if exc.status == 503 else None)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    async def storage_error(request: Request, exc: Exception) -> Response:
        log.error("admin: storage error: %s", exc)
        return _error(507, f"the registry could not store this: {_short(str(exc))}")

    async def registry_busy(request: Request, exc: Exception) -> Response:
        log.warning("admin: registry busy: %s", exc)
        return _error(503, "the registry is busy (another process holds its write lock); retry shortly",
                      {"retry-after": "1"})

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("admin: unexpected error")
        return _error(500, f"internal error: {type(exc).__name__}")

    routes = [
        Route("/v1/functions", list_functions, methods=["GET"]),
        Route("/v1/functions/{name}", delete_function, methods=["DELETE"]),
        Route("/v1/functions/{name}/versions", deploy, methods=["POST"]),
        Route("/v1/functions/{name}/versions/{version}", delete_version, methods=["DELETE"]),
        Route("/v1/functions/{name}/aliases/{alias}", alias, methods=["PUT", "DELETE"]),
        Route("/v1/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", render_metrics, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={
        RegistryError: registry_error, HTTPException: http_error, OSError: storage_error,
        sqlite3.OperationalError: registry_busy, Exception: unexpected,
    })
    return AdminApp(app, token)
