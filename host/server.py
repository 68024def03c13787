"""Running ASGI apps on a production server, with graceful shutdown on SIGTERM/SIGINT.

uvicorn (httptools) on the standard asyncio loop is the default — see
docs/performance.md for the measurements behind that (uvloop starves some
connections while tiny guests run on the loop). `--server hypercorn` also runs on trio. Several apps
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


def bind_workers(host: str, port: int, count: int) -> list[socket.socket]:
    """One listening socket per forked worker, all on the same address (SO_REUSEPORT), so
    the kernel spreads new connections across workers. (One shared socket lets whichever
    worker wakes first accept a whole burst of connections and keep them.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    reuse_port = getattr(socket, "SO_REUSEPORT", None)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count if reuse_port is not None else 1):  # port 0: the others join the first's port
            # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when
            # the socket says it is TCP; without it, Nagle holds the response body back ~40 ms.
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port is not None:
                sock.setsockopt(socket.SOL_SOCKET, reuse_port, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.listen(2048)
            sock.set_inheritable(True)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets if len(sockets) == count else sockets * count


def run_workers(count: int, worker: Callable[[int], int], sockets: list[socket.socket] | None = None) -> int:
    """Forks `count` processes running `worker(index)`; SIGTERM/SIGINT reach every one.

    Call it before creating engines, threads or database connections: each
    worker builds its own. `sockets[i]` is worker i's listening socket: the other
    workers and this process close their copies, so a worker that dies takes its
    socket with it and the kernel stops sending connections there.
    """
    sockets = sockets or []
    children: list[int] = []
    for index in range(count):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for i, sock in enumerate(sockets):
                    if i != index and sock is not sockets[index]:
                        sock.close()
                code = worker(index)
            finally:
                os._exit(code)
        children.append(pid)
    for sock in sockets:
        sock.close()

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
    """Runs the server's main coroutine on asyncio or trio.

    Not uvloop: with invocations running on the loop it served the Rust hello 15 %
    slower and left some connections waiting over a second at 64 connections."""
    anyio.run(coro_fn, backend=backend)
