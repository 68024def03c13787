"""`wasi:io` for one invocation: errors, pollables and byte streams, all in host memory.

Streams read from bytes the host holds (a request body, an outbound response) and write into a
sink with a byte cap (a response body, the function's log), so a guest cannot grow host memory past
what its limits allow; blocking waits never outlast the invocation's deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from wasmlet.bindings._abi import Err, Ok, Result

from .._streaming import BodyTooLarge, ClientGone, ClientTooSlow
from ..bindings.wasi_http import StreamError, StreamErrorClosed, StreamErrorLastOperationFailed
from ..capabilities import InvocationContext

WRITE_BUDGET = 1 << 20
"""What `check-write` allows at once: the guest writes in pieces of at most this many bytes."""
READ_PIECE = 64 * 1024
"""The most one `read` hands the guest: a `list<u8>` costs the host about 70 bytes a byte on its way
into the guest (one C value per byte, and copies), so pieces stay small (a read may return less)."""


class DeadlineExceeded(Exception):
    """A blocking wait reached the invocation's deadline: the guest is stopped (a 504)."""


class IoError:
    """`wasi:io/error.error`: what went wrong, for `to-debug-string`, and an HTTP error code if any."""

    def __init__(self, message: str, http_code: object | None = None) -> None:
        self.message = message
        self.http_code = http_code


class Pollable:
    """Ready once `ready_at` (monotonic nanoseconds) has passed, or once `check()` says so."""

    def __init__(self, ready_at: int = 0, check: Callable[[], bool] | None = None) -> None:
        self.ready_at = ready_at
        self.check = check

    def ready(self) -> bool:
        if self.check is not None:
            return self.check()
        return time.monotonic_ns() >= self.ready_at


READY = 0
"""`ready_at` of a pollable that is ready at once."""


def block(pollables: list[Pollable], ctx: InvocationContext) -> None:
    """Waits until one of `pollables` is ready, never past the invocation's deadline."""
    while not any(p.ready() for p in pollables):
        timed = [p.ready_at for p in pollables if p.check is None]
        if not timed:  # nothing here becomes ready by waiting: the host has everything in hand
            raise DeadlineExceeded("the guest waits for something that will never be ready")
        wait = (min(timed) - time.monotonic_ns()) / 1e9
        left = ctx.remaining()
        if left <= 0 or wait > left:
            time.sleep(max(0.0, min(left, 0.05)) if left > 0 else 0)
            if ctx.remaining() <= 0:
                raise DeadlineExceeded("deadline exceeded while the guest waited")
            continue
        time.sleep(max(0.0, wait))


class InputStream:
    """Reads bytes the host holds, then, for a request body still arriving, what `source` (a
    `_streaming.StreamedRequest`) receives as the guest asks; `closed` at the end."""

    def __init__(self, data: bytes = b"", source: Any = None, ctx: InvocationContext | None = None) -> None:
        self._data = memoryview(data)
        self._at = 0
        self._source = source
        self._ctx = ctx
        self._failed: StreamError | None = None

    def _fill(self) -> StreamError | None:
        """Makes bytes available; the reason why not (the end, or a failure) otherwise."""
        while self._at >= len(self._data):
            if self._failed is not None:
                return self._failed
            if self._source is None or self._ctx is None:
                return StreamErrorClosed()
            try:
                chunk = self._source.read(self._ctx.deadline)
            except BodyTooLarge as exc:
                self._failed = StreamErrorLastOperationFailed(IoError(str(exc), _body_size(exc.limit)))
                return self._failed
            except ClientGone as exc:
                self._failed = StreamErrorLastOperationFailed(IoError(str(exc)))
                return self._failed
            except ClientTooSlow as exc:
                raise DeadlineExceeded(str(exc)) from None
            if chunk is None:
                self._source = None
                return StreamErrorClosed()
            self._data, self._at = memoryview(chunk), 0
        return None

    def read(self, n: int) -> Result[bytes, StreamError]:
        error = self._fill()
        if error is not None:
            return Err(error)
        chunk = bytes(self._data[self._at:self._at + min(n, READ_PIECE)])
        self._at += len(chunk)
        return Ok(chunk)

    def skip(self, n: int) -> Result[int, StreamError]:
        error = self._fill()
        if error is not None:
            return Err(error)
        step = min(n, len(self._data) - self._at)
        self._at += step
        return Ok(step)


class Budget:
    """What the host holds for one invocation's guest — bodies it buffers, header fields, the
    responses of its outgoing requests — in bytes: at most the function's memory limit, since the
    guest could not hold more itself (a handle costs the guest nothing, the host's copy does)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used = max(0, self.used - n)

    def charge(self, n: int, what: str) -> None:
        """Takes `n` bytes or stops the guest (a `MemoryError`: the invocation ran out of memory)."""
        if not self.take(n):
            raise MemoryError(f"{what}: the host would hold more than {self.limit} bytes for this invocation "
                              "(its memory limit)")


class Sink:
    """Where an output stream's bytes go: kept while the invocation's budget allows; past it,
    every write fails."""

    def __init__(self, budget: Budget, what: str) -> None:
        self.budget = budget
        self.limit = budget.limit
        self.what = what
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflowed = False
        self.closed = False
        """The body was finished: nothing more may be written to it."""

    def write(self, data: bytes) -> IoError | None:
        if not self.budget.take(len(data)):
            self.overflowed = True
            return IoError(f"{self.what} larger than {self.limit} bytes")
        self.chunks.append(data)
        self.size += len(data)
        return None

    def release(self) -> bytes:
        """What was written, handed over (its bytes no longer count against the budget)."""
        data = b"".join(self.chunks)
        self.budget.give(self.size)
        self.chunks, self.size = [], 0
        return data

    def value(self) -> bytes:
        return b"".join(self.chunks)


MAX_KEPT_LINE = 2000
"""Characters of each output line kept for error messages (the log itself has its own limits)."""


class LogSink(Sink):
    """stdout/stderr: each complete line goes to the function's log (the log's own caps apply)."""

    def __init__(self, ctx: InvocationContext) -> None:
        super().__init__(Budget(ctx.limits.max_log_bytes), "output")
        self.ctx = ctx
        self.pending = b""

    def write(self, data: bytes) -> IoError | None:
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            self.emit(line)
        if len(self.pending) > self.limit:
            self.pending = self.pending[: self.limit]
        return None

    def emit(self, line: bytes) -> None:
        text = line.decode(errors="replace").rstrip("\r")
        self.ctx.output.append(text[:MAX_KEPT_LINE])
        self.ctx.log(20, text, "stdout/stderr")

    def flush_pending(self) -> None:
        if self.pending:
            self.emit(self.pending)
            self.pending = b""


class OutputStream:
    """Writes into a `Sink`; a failed write closes it (every later operation is `closed`)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.failed = False

    def write(self, data: bytes) -> Result[None, StreamError]:
        if self.failed or self.sink.closed:
            return Err(StreamErrorClosed())
        error = self.sink.write(data)
        if error is not None:
            self.failed = True
            return Err(StreamErrorLastOperationFailed(error))
        return Ok(None)

    def check_write(self) -> Result[int, StreamError]:
        return Err(StreamErrorClosed()) if self.failed or self.sink.closed else Ok(WRITE_BUDGET)

    def flush(self) -> Result[None, StreamError]:
        return Err(StreamErrorClosed()) if self.failed else Ok(None)


class IoHost:
    """`wasi:io/error`, `poll` and `streams` for one invocation."""

    def __init__(self, ctx: InvocationContext) -> None:
        self.ctx = ctx

    # error
    def error_to_debug_string(self, self_: IoError) -> str:
        return self_.message

    # poll
    def pollable_ready(self, self_: Pollable) -> bool:
        return self_.ready()

    def pollable_block(self, self_: Pollable) -> None:
        block([self_], self.ctx)

    def poll(self, in_: list[Pollable]) -> list[int]:
        if not in_:
            raise ValueError("poll of an empty list")
        block(in_, self.ctx)
        return [i for i, p in enumerate(in_) if p.ready()]

    # input streams
    def input_stream_read(self, self_: InputStream, len: int) -> Result[bytes, StreamError]:
        return self_.read(len)

    def input_stream_blocking_read(self, self_: InputStream, len: int) -> Result[bytes, StreamError]:
        return self_.read(len)

    def input_stream_skip(self, self_: InputStream, len: int) -> Result[int, StreamError]:
        return self_.skip(len)

    def input_stream_blocking_skip(self, self_: InputStream, len: int) -> Result[int, StreamError]:
        return self_.skip(len)

    def input_stream_subscribe(self, self_: InputStream) -> Pollable:
        return Pollable(READY)

    # output streams
    def output_stream_check_write(self, self_: OutputStream) -> Result[int, StreamError]:
        return self_.check_write()

    def output_stream_write(self, self_: OutputStream, contents: bytes) -> Result[None, StreamError]:
        return self_.write(contents)

    def output_stream_blocking_write_and_flush(self, self_: OutputStream, contents: bytes) -> Result[None, StreamError]:
        return self_.write(contents)

    def output_stream_flush(self, self_: OutputStream) -> Result[None, StreamError]:
        return self_.flush()

    def output_stream_blocking_flush(self, self_: OutputStream) -> Result[None, StreamError]:
        return self_.flush()

    def output_stream_subscribe(self, self_: OutputStream) -> Pollable:
        return Pollable(READY)

    def output_stream_write_zeroes(self, self_: OutputStream, len: int) -> Result[None, StreamError]:
        return self_.write(bytes(min(len, WRITE_BUDGET)))

    def output_stream_blocking_write_zeroes_and_flush(self, self_: OutputStream, len: int) -> Result[None, StreamError]:
        return self_.write(bytes(min(len, WRITE_BUDGET)))

    def output_stream_splice(self, self_: OutputStream, src: InputStream, len: int) -> Result[int, StreamError]:
        read = src.read(min(len, WRITE_BUDGET))
        if isinstance(read, Err):
            return read
        written = self_.write(read.value)
        return written if isinstance(written, Err) else Ok(read.value.__len__())

    def output_stream_blocking_splice(self, self_: OutputStream, src: InputStream, len: int) -> Result[int, StreamError]:
        return self.output_stream_splice(self_, src, len)


def _body_size(limit: int) -> object:
    from ..bindings.wasi_http import HttpTypesErrorCodeHTTPRequestBodySize

    return HttpTypesErrorCodeHTTPRequestBodySize(limit)
