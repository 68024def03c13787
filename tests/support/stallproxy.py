"""A TCP proxy for fault tests: forwards to a real service until told to stall (then holds every byte)."""

from __future__ import annotations

import selectors
import socket
import threading
from types import TracebackType


class StallProxy:
    """Listens on a free 127.0.0.1 port (or `port`) and forwards each connection to `target`; `stall()` stops
    forwarding in both directions (connections stay open, bytes wait), `resume()` lets them flow."""

    def __init__(self, target_host: str, target_port: int, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def _start(self, target: object, *args: object) -> None:
        """Runs `target` in a daemon thread this proxy joins on exit."""
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def stall(self) -> None:
        """Stops forwarding: clients and server see a connection that never answers."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forwards again (including what waited)."""
        self._flowing.set()

    def _accept(self) -> None:
        """Accepts clients and pairs each with a new connection to the target."""
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, server))
            self._start(self._pump, client, server)

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        """Copies bytes both ways while flowing; holds them while stalled; ends when either side closes."""
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, server)
        sel.register(server, selectors.EVENT_READ, client)
        try:
            while not self._stop.is_set():
                if not self._flowing.wait(0.05):
                    continue
                for key, _ in sel.select(0.05):
                    if not self._flowing.is_set():
                        break
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = src.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            for s in (client, server):
                s.close()

    def close(self) -> None:
        """Stops every thread and closes every socket."""
        self._stop.set()
        self._flowing.set()
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> StallProxy:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
