"""The no-wasm ceiling: a plain ASGI hello world, served by the same uvicorn."""

from __future__ import annotations

from typing import Any

_START = {"type": "http.response.start", "status": 200,
          "headers": [(b"content-type", b"text/plain"), (b"content-length", b"14")]}
_BODY = {"type": "http.response.body", "body": b"Hello, World!\n"}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(_START)
    await send(_BODY)
