"""A tiny upstream HTTP server for outbound-HTTP tests: /ok, /big, /redirect?to=URL."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route


async def ok(request: Request) -> Response:
    return PlainTextResponse(f"upstream ok {request.method}")


async def big(request: Request) -> Response:
    return Response(b"x" * (2 * 1024 * 1024))


async def redirect(request: Request) -> Response:
    return RedirectResponse(request.query_params["to"], status_code=302)


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/ok", ok, methods=["GET", "POST"]), Route("/big", big), Route("/redirect", redirect),
                        Route("/_wasmlet/health", health), Route("/hello/latest/hello", health)])
