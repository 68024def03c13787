"""A tiny upstream HTTP server for outbound-HTTP tests: /ok, /big, /redirect?to=URL, cookies, slow answers, /echo-headers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route


async def ok(request: Request) -> Response:
    return PlainTextResponse(f"upstream ok {request.method}")


async def big(request: Request) -> Response:
    return Response(b"x" * (2 * 1024 * 1024))


async def redirect(request: Request) -> Response:
    return RedirectResponse(request.query_params["to"], status_code=302)


async def set_cookie(request: Request) -> Response:
    response = PlainTextResponse("cookie set")
    response.set_cookie("session", "secret-of-" + request.query_params.get("who", "someone"))
    return response


async def echo_cookie(request: Request) -> Response:
    return PlainTextResponse(f"cookie={request.headers.get('cookie', '')}")


async def trickle(request: Request) -> Response:
    """One byte every half second, 30 bytes in all: each read is quick, the whole is not."""
    async def drip() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield b"."
            await anyio.sleep(0.5)

    return StreamingResponse(drip())


async def stall(request: Request) -> Response:
    await anyio.sleep(30)
    return PlainTextResponse("too late")


async def echo_headers(request: Request) -> Response:
    """The request's headers as JSON (names lower-case), e.g. to see an injected `traceparent`."""
    return JSONResponse(dict(request.headers))


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/ok", ok, methods=["GET", "POST"]), Route("/big", big), Route("/redirect", redirect),
                        Route("/set-cookie", set_cookie), Route("/echo-cookie", echo_cookie),
                        Route("/trickle", trickle), Route("/stall", stall), Route("/echo-headers", echo_headers),
                        Route("/_wasmlet/health", health), Route("/hello/latest/hello", health)])
