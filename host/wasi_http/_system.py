"""Clocks, random, the CLI world's stdio and environment, and the denied filesystem and sockets.

A component gets no environment variables, no arguments, no current directory, no preopened
directory and no network: the filesystem has nothing to open, and creating a socket or resolving a
name answers `access-denied`. stdout and stderr go to the function's log.
"""

from __future__ import annotations

import os
import time
from typing import Any, NoReturn

from wasmlet.bindings._abi import Err, Result

from ..bindings import wasi_http as w
from ..capabilities import InvocationContext
from ._io import InputStream, LogSink, OutputStream, Pollable


class GuestExit(Exception):
    """The guest called `wasi:cli/exit`: it stops here (its response counts if it set one)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the guest exited with status {code}")
        self.code = code


class MonotonicClockHost:
    def now(self) -> int:
        return time.monotonic_ns()

    def resolution(self) -> int:
        return 1

    def subscribe_instant(self, when: int) -> Pollable:
        return Pollable(when)

    def subscribe_duration(self, when: int) -> Pollable:
        return Pollable(time.monotonic_ns() + when)


class WallClockHost:
    def now(self) -> w.Datetime:
        ns = time.time_ns()
        return w.Datetime(ns // 1_000_000_000, ns % 1_000_000_000)

    def resolution(self) -> w.Datetime:
        return w.Datetime(0, 1)


MAX_RANDOM_BYTES = 1 << 20
"""Random bytes one call may ask for: a `list<u8>` costs the host about 70 bytes a byte on its way
into the guest (one C value per byte), so a large one would cost the host far more than the guest."""


class RandomHost:
    """`wasi:random/random`, `insecure` and `insecure-seed`; a call asking for more than
    `MAX_RANDOM_BYTES` stops the guest (runtimes ask for a few hundred bytes at a time)."""

    def __init__(self, limit: int) -> None:
        self.limit = min(limit, MAX_RANDOM_BYTES)

    def _size(self, n: int) -> int:
        if n > self.limit:
            raise ValueError(f"{n} random bytes asked for in one call: at most {self.limit}")
        return n

    def get_random_bytes(self, len: int) -> bytes:
        return os.urandom(self._size(len))

    def get_random_u64(self) -> int:
        return int.from_bytes(os.urandom(8), "little")

    # "insecure" randomness is the secure kind too: Python's `random` is one generator per process,
    # which the host also draws request ids from, and its state can be rebuilt from its outputs
    def get_insecure_random_bytes(self, len: int) -> bytes:
        return os.urandom(self._size(len))

    def get_insecure_random_u64(self) -> int:
        return int.from_bytes(os.urandom(8), "little")

    def insecure_seed(self) -> tuple[int, int]:
        seed = os.urandom(16)
        return int.from_bytes(seed[:8], "little"), int.from_bytes(seed[8:], "little")


class CliHost:
    """Environment, exit, stdio and terminals of one invocation."""

    def __init__(self, ctx: InvocationContext) -> None:
        self.output = LogSink(ctx)

    def get_environment(self) -> list[tuple[str, str]]:
        return []

    def get_arguments(self) -> list[str]:
        return []

    def initial_cwd(self) -> str | None:
        return None

    def exit(self, status: Result[None, None]) -> None:
        raise GuestExit(1 if isinstance(status, Err) else 0)

    def exit_with_code(self, status_code: int) -> None:
        raise GuestExit(status_code)

    def get_stdin(self) -> InputStream:
        return InputStream()

    def get_stdout(self) -> OutputStream:
        return OutputStream(self.output)

    def get_stderr(self) -> OutputStream:
        return OutputStream(self.output)

    def get_terminal_stdin(self) -> None:
        return None

    def get_terminal_stdout(self) -> None:
        return None

    def get_terminal_stderr(self) -> None:
        return None


class PreopensHost:
    def get_directories(self) -> list[tuple[Any, str]]:
        return []


class _Unreachable:
    """Every other function of the interface takes a handle the host never gave out."""

    what = "this interface"

    def __getattr__(self, name: str) -> Any:
        what = self.what

        def unreachable(*args: Any) -> NoReturn:
            raise PermissionError(f"{what}.{name}: not available to functions")

        return unreachable


class FilesystemHost(_Unreachable):
    """No directory is preopened, so no descriptor exists to call a method on."""

    what = "wasi:filesystem"

    def filesystem_error_code(self, err: Any) -> None:
        return None


class Network:
    """The network a component is given: one that reaches nothing."""


class SocketsHost(_Unreachable):
    """Sockets and name lookups are denied; with no socket, no socket method can be called."""

    what = "wasi:sockets"

    def instance_network(self) -> Network:
        return Network()

    def create_tcp_socket(self, address_family: w.IpAddressFamily) -> Result[Any, w.NetworkErrorCode]:
        return Err(w.NetworkErrorCode.ACCESS_DENIED)

    def create_udp_socket(self, address_family: w.IpAddressFamily) -> Result[Any, w.NetworkErrorCode]:
        return Err(w.NetworkErrorCode.ACCESS_DENIED)

    def resolve_addresses(self, network: Network, name: str) -> Result[Any, w.NetworkErrorCode]:
        return Err(w.NetworkErrorCode.ACCESS_DENIED)
