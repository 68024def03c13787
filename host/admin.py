"""The admin API: deploy, list, alias, delete — token-authenticated, on its own address."""

from __future__ import annotations

import hmac

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import LoadError
from .manifest import Manifest, ManifestError
from .registry import RegistryError, SqliteRegistry, check_name
from .runtime import Runtime

MAX_UPLOAD = 256 * 1024 * 1024


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def admin_app(registry: SqliteRegistry, runtime: Runtime, token: str) -> Starlette:
    """The admin ASGI app; every route requires `Authorization: Bearer <token>` when a token is set."""

    def authorized(request: Request) -> bool:
        if not token:
            return True
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    async def deploy(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            check_name("function", name)
        except RegistryError as exc:
            return _error(exc.status, str(exc))
        async with request.form(max_part_size=MAX_UPLOAD) as form:
            component = form.get("component")
            manifest_text = form.get("manifest") or ""
            if component is None or isinstance(component, str):
                return _error(422, "the upload needs a `component` file part")
            wasm = await component.read()
            if isinstance(manifest_text, str):
                text = manifest_text
            else:
                text = (await manifest_text.read()).decode("utf-8", errors="replace")
        try:
            manifest = Manifest.from_toml(text)
        except ManifestError as exc:
            return _error(422, f"invalid manifest: {exc}")
        try:
            await anyio.to_thread.run_sync(runtime.load, wasm)
        except LoadError as exc:
            return _error(422, f"invalid component: {exc}")
        version = await anyio.to_thread.run_sync(registry.deploy, name, wasm, manifest)
        return JSONResponse({"function": name, "version": version.version, "sha256": version.sha256}, status_code=201)

    async def list_functions(request: Request) -> Response:
        return JSONResponse({"functions": registry.list()})

    async def set_alias(request: Request) -> Response:
        data = await request.json()
        if not isinstance(data, dict) or not isinstance(data.get("version"), str):
            return _error(422, 'body must be {"version": "<version>"}')
        try:
            registry.set_alias(request.path_params["name"], request.path_params["alias"], data["version"])
        except RegistryError as exc:
            return _error(exc.status, str(exc))
        return JSONResponse({"function": request.path_params["name"], "alias": request.path_params["alias"],
                             "version": data["version"]})

    async def delete_version(request: Request) -> Response:
        try:
            registry.delete_version(request.path_params["name"], request.path_params["version"])
        except RegistryError as exc:
            return _error(exc.status, str(exc))
        return Response(status_code=204)

    routes = [
        Route("/v1/functions", list_functions, methods=["GET"]),
        Route("/v1/functions/{name}/versions", deploy, methods=["POST"]),
        Route("/v1/functions/{name}/versions/{version}", delete_version, methods=["DELETE"]),
        Route("/v1/functions/{name}/aliases/{alias}", set_alias, methods=["PUT"]),
    ]
    app = Starlette(routes=routes)

    async def guarded(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            if not authorized(Request(scope)):
                await _error(401, "missing or wrong bearer token")(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded  # type: ignore[return-value]
