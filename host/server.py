"""Running ASGI apps on a production server, with graceful shutdown on SIGTERM/SIGINT.

uvicorn (httptools, uvloop) is the default — see docs/performance.md for the
measurements behind that. `--server hypercorn` also runs on trio. Several apps
(the public host and the admin API) share one process and one event loop.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc

log = logging.getLogger("wasmlet")

ASGIApp = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class Listener:
    """One ASGI app on one address (or on an already bound socket shared by worker processes)."""

    app: ASGIApp
    host: str
    port: int
    name: str
    sock: socket.socket | None = None


def parse_bind(bind: str, default_port: int = 3000) -> tuple[str, int]:
    """`127.0.0.1:3000`, `:3000`, `[::1]:3000` or `0.0.0.0` -> (host, port)."""
    if bind.startswith("["):
        host, _, port = bind[1:].partition("]")
        port = port.lstrip(":")
    elif bind.count(":") == 1:
        host, port = bind.split(":")
    else:
        host, port = bind, ""
    return host or "127.0.0.1", int(port) if port else default_port


async def serve(listeners: list[Listener], *, server: str = "uvicorn", grace_s: float = 30.0,
                background: list[Callable[[], Coroutine[Any, Any, None]]] | None = None,
                on_ready: Callable[[], None] | None = None) -> None:
    """Serves until SIGTERM/SIGINT, then stops accepting and lets in-flight requests finish."""
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_signals, stop)
        for task in background or []:
            tg.start_soon(task)
        async with anyio.create_task_group() as servers:
            for listener in listeners:
                if server == "uvicorn":
                    servers.start_soon(_uvicorn, listener, stop, grace_s)
                elif server == "hypercorn":
                    servers.start_soon(_hypercorn, listener, stop, grace_s)
                else:
                    raise ValueError(f"unknown server {server!r} (uvicorn or hypercorn)")
            for listener in listeners:
                log.info("serving %s on http://%s:%d", listener.name, listener.host, listener.port)
            if on_ready is not None:
                on_ready()
        tg.cancel_scope.cancel()


async def _watch_signals(stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s: finishing in-flight requests", signal.Signals(signum).name)
            stop.set()
            return


async def _uvicorn(listener: Listener, stop: anyio.Event, grace_s: float) -> None:
    import uvicorn

    config = uvicorn.Config(
        listener.app, host=listener.host, port=listener.port, http="httptools", lifespan="on",
        log_config=None, access_log=False, timeout_graceful_shutdown=int(grace_s), server_header=False,
    )
    srv = uvicorn.Server(config)

    async def trigger() -> None:
        await stop.wait()
        srv.should_exit = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(trigger)
        # serve() would install its own signal handlers; ours stop every listener
        await srv._serve(sockets=[listener.sock] if listener.sock is not None else None)
        tg.cancel_scope.cancel()


async def _hypercorn(listener: Listener, stop: anyio.Event, grace_s: float) -> None:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{listener.host}:{listener.port}"]
    config.graceful_timeout = grace_s
    config.accesslog = None
    config.errorlog = log
    if _running_trio():
        from hypercorn.trio import serve as trio_serve

        await trio_serve(listener.app, config, shutdown_trigger=stop.wait)
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        await asyncio_serve(listener.app, config, shutdown_trigger=stop.wait)


def bind_shared(host: str, port: int) -> socket.socket:
    """A listening socket that forked worker processes accept on together."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_workers(count: int, worker: Callable[[int], int]) -> int:
    """Forks `count` processes running `worker(index)`; SIGTERM/SIGINT reach every one.

    Call it before creating engines, threads or database connections: each
    worker builds its own, and only the listening socket is shared.
    """
    children: list[int] = []
    for index in range(count):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = worker(index)
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for pid in children:
        _, raw = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(raw)
        if code != 0:
            log.error("worker %d exited with %d", pid, code)
            status = 1
    return status


def _running_trio() -> bool:
    try:
        import sniffio

        return sniffio.current_async_library() == "trio"
    except Exception:
        return False


def run(coro_fn: Callable[[], Awaitable[Any]], backend: str = "asyncio") -> None:
    """Runs the server's main coroutine on asyncio (with uvloop when available) or trio."""
    options: dict[str, Any] = {}
    if backend == "asyncio":
        try:
            import uvloop  # noqa: F401

            options = {"use_uvloop": True}
        except ImportError:
            pass
    anyio.run(coro_fn, backend=backend, backend_options=options)
