"""Running ASGI apps on a production server, with graceful shutdown on SIGTERM/SIGINT.

uvicorn (httptools) on the standard asyncio loop is the default — see
docs/performance.md for the measurements behind that (uvloop starves some
connections while tiny guests run on the loop). `--server hypercorn` also runs on trio. Several apps
(the public host and the admin API) share one process and one event loop.

Connection limits (`ConnectionLimits`) hold on both servers, each its own way:

- uvicorn runs `guarded_protocol`, its httptools protocol with a request-head
  deadline (from connecting, or from the previous response, to the end of the
  headers: a client trickling a header line every second is answered 408 and
  dropped), header caps counted while parsing (431 before the head is buffered
  whole: bytes of the request line and headers, and their number), and JSON
  bodies with a request id for its own 400/408/431 answers. Idle keep-alive
  connections close after `keep_alive_s`.
- hypercorn: `keep_alive_timeout` starts at connect and after each response and
  stops at a complete head, so it is the head deadline too (`header_timeout_s`
  is not used); h11 caps the head at `max_header_bytes` (431), the app caps
  the header count (431 JSON). hypercorn's own protocol errors have empty bodies.

Request bodies have their own deadline in the app (`HostSettings.body_timeout_ms`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
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


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client connection may hold before the server drops it."""

    keep_alive_s: int = 5
    """An idle keep-alive connection is closed after this long."""
    header_timeout_s: float = 10.0
    """The request line and headers must arrive within this long (uvicorn; hypercorn uses keep_alive_s)."""
    max_header_bytes: int = 64 << 10
    """Request line plus headers; more is 431."""
    max_headers: int = 100
    """Header lines in one request; more is 431."""


def parse_bind(bind: str, default_port: int = 3000) -> tuple[str, int]:
    """`127.0.0.1:3000`, `:3000`, `3000`, `[::1]:3000` or `0.0.0.0` -> (host, port); ValueError says what is wrong."""
    bind = bind.strip()
    if bind.isdigit():
        host, port = "", bind
    elif bind.startswith("["):
        host, _, port = bind[1:].partition("]")
        port = port.lstrip(":")
    elif bind.count(":") == 1:
        host, port = bind.split(":")
    else:
        host, port = bind, ""
    if port and not port.isdigit():
        raise ValueError(f"{bind!r}: the port must be a number (HOST:PORT, HOST or PORT)")
    number = int(port) if port else default_port
    if not 0 <= number <= 65535:
        raise ValueError(f"{bind!r}: the port must be between 0 and 65535")
    return host or "127.0.0.1", number


def explain_bind_error(host: str, port: int, exc: OSError, flag: str = "--port") -> str:
    """One line for why the host could not listen on host:port (`flag` is the option that moves it)."""
    import errno

    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where} is already in use (another wasmlet or server?): stop it, or pick another with {flag}"
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on {where} (ports below 1024 need privileges): pick one from 1024 up with {flag}"
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"cannot listen on {where}: {host} is not an address of this machine"
    return f"cannot listen on {where}: {exc.strerror or exc}"


class BindError(OSError):
    """The host could not listen where it was asked to; the message says why in one line."""


def check_bindable(host: str, port: int, flag: str = "--port") -> None:
    """Fails early, in one line, when host:port cannot be listened on (in use, no permission, no such
    address), instead of the server's traceback after the functions were built and compiled."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(explain_bind_error(host, port, exc, flag)) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise BindError(explain_bind_error(host, port, exc, flag)) from None


async def serve(listeners: list[Listener], *, server: str = "uvicorn", grace_s: float = 30.0,
                background: list[Callable[[], Coroutine[Any, Any, None]]] | None = None,
                on_ready: Callable[[], None] | None = None, limits: ConnectionLimits | None = None,
                on_grace_over: Callable[[], None] | None = None, drain_s: float = 0.0,
                on_drain: Callable[[], None] | None = None) -> None:
    """Serves until SIGTERM/SIGINT; then `on_drain` (readiness turns 503) and, for `drain_s`, still
    serves so a load balancer can take the node out; then stops accepting and lets in-flight requests
    finish; once `grace_s` has passed, `on_grace_over` stops whatever still runs (guests, hostcalls).
    Background tasks (watchers, message consumers) stop at the signal: nothing new is taken."""
    limits = limits or ConnectionLimits()
    stop = anyio.Event()
    closing = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_signals, stop)
        tg.start_soon(_drain, stop, closing, drain_s, on_drain)
        if on_grace_over is not None:
            tg.start_soon(_after_grace, closing, grace_s, on_grace_over)
        for task in background or []:
            tg.start_soon(_until_stopped, stop, task)
        async with anyio.create_task_group() as servers:
            for listener in listeners:
                if server == "uvicorn":
                    servers.start_soon(_uvicorn, listener, closing, grace_s, limits)
                elif server == "hypercorn":
                    servers.start_soon(_hypercorn, listener, closing, grace_s, limits)
                else:
                    raise ValueError(f"unknown server {server!r} (uvicorn or hypercorn)")
            for listener in listeners:
                log.info("serving %s on http://%s:%d", listener.name, listener.host, listener.port)
            if on_ready is not None:
                on_ready()
        tg.cancel_scope.cancel()
    log.info("stopped")


async def _until_stopped(stop: anyio.Event, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Runs a background task (the dev server's watcher) until the stop signal: nothing is rebuilt
    or reloaded while in-flight requests finish."""
    async with anyio.create_task_group() as group:
        async def cancel_on_stop() -> None:
            await stop.wait()
            group.cancel_scope.cancel()

        group.start_soon(cancel_on_stop)
        try:
            await task()
        except Exception:  # a background task's failure is its own: the server keeps serving
            log.exception("background task %s stopped with an error", getattr(task, "__qualname__", task))
        group.cancel_scope.cancel()


async def _drain(stop: anyio.Event, closing: anyio.Event, drain_s: float,
                 on_drain: Callable[[], None] | None) -> None:
    """After the stop signal: not ready, still serving for `drain_s`, then closing."""
    await stop.wait()
    if on_drain is not None:
        on_drain()
    if drain_s > 0:
        log.info("draining: /_wasmlet/ready answers 503, requests are still served for %.0f s", drain_s)
        await anyio.sleep(drain_s)
    closing.set()


async def _after_grace(stop: anyio.Event, grace_s: float, action: Callable[[], None]) -> None:
    """Calls `action` when the grace period after a stop signal has run out."""
    await stop.wait()
    await anyio.sleep(grace_s)
    log.warning("grace period of %.0f s is over: stopping the invocations still running", grace_s)
    action()


async def _watch_signals(stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s: finishing in-flight requests", signal.Signals(signum).name)
            stop.set()
            return


async def _uvicorn(listener: Listener, stop: anyio.Event, grace_s: float, limits: ConnectionLimits) -> None:
    import uvicorn

    config = uvicorn.Config(
        listener.app, host=listener.host, port=listener.port, http=guarded_protocol(limits), lifespan="on",
        log_config=None, access_log=False, timeout_graceful_shutdown=int(grace_s), server_header=False,
        timeout_keep_alive=limits.keep_alive_s, ws="none",  # the protocol answers a handshake 501 itself
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


async def _hypercorn(listener: Listener, stop: anyio.Event, grace_s: float, limits: ConnectionLimits) -> None:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{listener.host}:{listener.port}"]
    config.graceful_timeout = grace_s
    config.keep_alive_timeout = limits.keep_alive_s
    config.h11_max_incomplete_size = limits.max_header_bytes
    config.h2_max_header_list_size = limits.max_header_bytes
    config.accesslog = None
    config.errorlog = log
    if _running_trio():
        from hypercorn.trio import serve as trio_serve

        await trio_serve(listener.app, config, shutdown_trigger=stop.wait)
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        await asyncio_serve(listener.app, config, shutdown_trigger=stop.wait)


def _error_response(status: int, message: str) -> bytes:
    """A complete JSON error response with a fresh request id, closing the connection."""
    rid = f"{random.getrandbits(128):032x}"
    body = json.dumps({"error": message, "status": status, "request_id": rid}).encode()
    reason = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}.get(status, "")
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"x-request-id: {rid}\r\nconnection: close\r\n\r\n")
    return head.encode() + body


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request head over the limits."""


def guarded_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with a head deadline, header caps and JSON errors (see the module doc)."""
    import httptools
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    max_bytes, max_count = limits.max_header_bytes, limits.max_headers

    class GuardedProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None
        _waiting_since: float | None = None
        """When the connection began waiting for the current head (None: not waiting, a request runs)."""
        _head_bytes = 0
        _head_raw = 0
        _head_count = 0
        _over: str | None = None
        _refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._waiting_since = self.loop.time()
            self._head_timer = self.loop.call_later(limits.header_timeout_s, self._check_head)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused or self.parser is None:
                return
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
            except httptools.HttpParserError:
                if self._over is not None:
                    self._refuse(431, self._over)
                else:
                    self._refuse(400, "malformed HTTP request")
            else:
                if self._head_bytes:  # an unfinished head is buffered by the parser: count it as it grows
                    self._head_raw += len(data)
                    if self._head_raw > max_bytes:
                        self._refuse(431, f"request head over {max_bytes} bytes")

        def _unsupported_upgrade_warning(self) -> None:
            if not self._refused:  # a WebSocket handshake was answered 501 (uvicorn runs without a WebSocket library)
                super()._unsupported_upgrade_warning()

        def send_400_response(self, msg: str) -> None:
            self._refuse(400, "malformed HTTP request")

        def on_url(self, url: bytes) -> None:
            self._head_bytes += len(url)
            if self._head_bytes > max_bytes:
                self._over_limit()
            self.url += url  # what uvicorn's on_url does (inlined: this runs for every request)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._head_bytes += len(name) + len(value) + 4
            self._head_count += 1
            if self._head_count > max_count or self._head_bytes > max_bytes:
                self._over_limit()
            name = name.lower()  # what uvicorn's on_header does (inlined: this runs for every header)
            if name == b"expect" and value.lower() == b"100-continue":
                self.expect_100_continue = True
            self.headers.append((name, value))

        def on_headers_complete(self) -> None:
            self._head_bytes = self._head_raw = self._head_count = 0  # counting starts again for the next head
            self._waiting_since = None
            if self.parser.should_upgrade() and self._get_upgrade() == b"websocket":
                self._refuse(501, "WebSocket is not supported")  # before a request cycle starts
                return
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.timeout_keep_alive_task is not None:  # idle now, waiting for the next head
                self._waiting_since = self.loop.time()

        def _over_limit(self) -> None:
            """Stops the parser: the head has too many headers or too many bytes."""
            if self._head_count > max_count:
                self._over = f"more than {max_count} request headers"
            else:
                self._over = f"request head over {max_bytes} bytes"
            raise _HeadTooLarge(self._over)

        def _check_head(self) -> None:
            """One timer per connection (no timer work per request): drops it once a head is overdue."""
            self._head_timer = None
            if self.transport.is_closing():
                return
            since = self._waiting_since
            left = limits.header_timeout_s if since is None else since + limits.header_timeout_s - self.loop.time()
            if left > 0:
                self._head_timer = self.loop.call_later(left, self._check_head)
            elif self._head_bytes:  # part of a head came: say why the connection goes
                self._refuse(408, f"request head not received within {limits.header_timeout_s:g} s")
            else:
                self.transport.close()

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _refuse(self, status: int, message: str) -> None:
            """Answers a JSON error and closes; with a response on its way (pipelining) it only closes."""
            self._refused = True
            self._stop_head_timer()
            if self.transport.is_closing():
                return
            busy = self.pipeline or (self.cycle is not None and not self.cycle.response_complete)
            if not busy:
                self.transport.write(_error_response(status, message))
            log.info("refused a request from %s: %d %s", self.client[0] if self.client else "-", status, message)
            self.transport.close()

    return GuardedProtocol


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
