"""A NATS messaging source (`[messaging.NAME] type = "nats"`), through nats-py.

Publishing (the `messaging` hostcall) runs on the source's own event loop in a thread of an anyio
blocking portal, so a guest's worker thread can wait on it under the invocation's deadline; it is
closed with the host. Consumers run on the host's loop. With `stream` set, subjects are kept in a
JetStream stream and triggers read through durable pull consumers with explicit acks
(at-least-once); without it, they subscribe to core NATS (at-most-once: nothing is redelivered).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from ._publisher import PublishingThread
from ._subjects import matches

log = logging.getLogger("wasmlet.events")

CONNECT_TIMEOUT_S = 5.0


@dataclass
class Delivery:
    """One message handed to a function: what it carries and how to settle it with the broker."""

    subject: str
    payload: bytes
    headers: list[tuple[str, str]]
    attempt: int
    id: str
    ack: Callable[[], Awaitable[None]]
    retry: Callable[[float], Awaitable[None]]
    """Redeliver after the given seconds (at-least-once sources; a no-op for core NATS)."""
    reject: Callable[[], Awaitable[None]]
    """Never redeliver (after a dead letter)."""
    redelivers: bool = True
    """False for at-most-once sources: a failure cannot be retried."""


@dataclass
class NatsSource:
    """One NATS server (and optionally one JetStream stream) under a runtime-config label."""

    label: str
    url: str
    stream: str | None = None
    subjects: tuple[str, ...] = ()
    """What the stream holds (created with these subjects when it does not exist)."""
    _thread: PublishingThread = field(default_factory=PublishingThread, repr=False)
    _conn: Any = field(default=None, repr=False)
    _on_pending: Callable[[int], None] | None = field(default=None, repr=False)

    def delivery(self) -> str:
        """How this source delivers, in a few words (for the log)."""
        return f"JetStream stream {self.stream}, at least once" if self.stream else "core NATS, at most once"

    # ------------------------------------------------------------------ publishing (any thread)
    def publish(self, subject: str, payload: bytes, headers: list[tuple[str, str]], timeout_s: float) -> None:
        """Publishes and waits until the server has it (JetStream: stored); raises on failure or timeout."""
        self._thread.call(self._publish, subject, payload, headers, timeout_s)

    async def _publish(self, subject: str, payload: bytes, headers: list[tuple[str, str]], timeout_s: float) -> None:
        with anyio.fail_after(max(0.01, timeout_s)):
            if self._conn is None or self._conn.is_closed:
                self._conn = await connect(self.url)
            await publish_on(self._conn, self.stream if self.stores(subject) else None, subject, payload, headers,
                             timeout_s)

    def stores(self, subject: str) -> bool:
        """Whether the source's stream keeps `subject` (published to JetStream, acknowledged when stored)."""
        return self.stream is not None and any(matches(pattern, subject) for pattern in self.subjects)

    def close(self) -> None:
        """Closes the publishing connection and stops its thread."""
        self._thread.close(self._drop)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    # ------------------------------------------------------------------ consuming (the host's loop)
    async def consume(self, subject: str, durable: str, queue: str, max_deliver: int, ack_wait_s: float,
                      concurrency: int, handle: Callable[[Delivery], Awaitable[None]],
                      on_pending: Callable[[int], None] | None = None) -> None:
        """Delivers messages on `subject` to `handle`, at most `concurrency` at a time, until cancelled;
        `on_pending` hears how many messages wait in the stream (every few seconds; JetStream only)."""
        self._on_pending = on_pending
        conn = await connect(self.url)
        try:
            async with anyio.create_task_group() as tg:
                limiter = anyio.Semaphore(concurrency)
                if self.stream is None:
                    await self._consume_core(conn, subject, queue, limiter, tg, handle)
                else:
                    await self._consume_stream(conn, subject, durable, max_deliver, ack_wait_s, limiter, tg, handle)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _consume_core(self, conn: Any, subject: str, queue: str, limiter: anyio.Semaphore,
                            tg: Any, handle: Callable[[Delivery], Awaitable[None]]) -> None:
        sub = await conn.subscribe(subject, queue=queue)
        seq = 0
        async for msg in sub.messages:
            seq += 1
            await limiter.acquire()

            async def nothing(*_: Any) -> None:
                return None

            delivery = Delivery(msg.subject, bytes(msg.data), _headers(msg), 1, _msg_id(msg, f"core-{seq}"),
                                nothing, nothing, nothing, redelivers=False)
            tg.start_soon(_run, limiter, handle, delivery)

    async def _consume_stream(self, conn: Any, subject: str, durable: str, max_deliver: int, ack_wait_s: float,
                              limiter: anyio.Semaphore, tg: Any,
                              handle: Callable[[Delivery], Awaitable[None]]) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig

        js = conn.jetstream()
        await ensure_stream(js, self.stream, self.subjects or (subject,))
        config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, max_deliver=max_deliver,
                                ack_wait=ack_wait_s, filter_subject=subject)
        sub = await js.pull_subscribe(subject, durable=durable, stream=self.stream, config=config)
        if self._on_pending is not None:
            tg.start_soon(_report_pending, sub, self._on_pending)
        while True:
            for msg in await fetch_available(sub, limiter):
                await limiter.acquire()
                meta = msg.metadata
                delivery = Delivery(
                    msg.subject, bytes(msg.data), _headers(msg), int(meta.num_delivered),
                    _msg_id(msg, f"{self.stream}-{meta.sequence.stream}"), msg.ack, _nak(msg), msg.term)
                tg.start_soon(_run, limiter, handle, delivery)


async def fetch_available(sub: Any, limiter: anyio.Semaphore) -> list[Any]:
    """The next messages of a pull consumer, as many as `limiter` lets run now (at least one, waiting
    for a free slot): the rest stay queued in the stream. An empty list after a quiet second."""
    from nats.errors import TimeoutError as NatsTimeout

    await limiter.acquire()
    free = 1 + limiter.value
    limiter.release()
    try:
        msgs: list[Any] = await sub.fetch(batch=free, timeout=1)
    except (NatsTimeout, TimeoutError):
        return []
    return msgs


async def _report_pending(sub: Any, report: Callable[[int], None], every_s: float = 5.0) -> None:
    """Reports the consumer's pending count (the queue's lag) until cancelled."""
    while True:
        try:
            info = await sub.consumer_info()
            report(int(info.num_pending) + int(info.num_ack_pending))
        except Exception:
            pass
        await anyio.sleep(every_s)


async def _run(limiter: anyio.Semaphore, handle: Callable[[Delivery], Awaitable[None]],
               delivery: Delivery) -> None:
    try:
        await handle(delivery)
    except Exception:
        log.exception("delivery of message %s on %s failed in the host", delivery.id, delivery.subject)
    finally:
        limiter.release()


def _nak(msg: Any) -> Callable[[float], Awaitable[None]]:
    async def nak(delay: float) -> None:
        await msg.nak(delay=delay)

    return nak


def _headers(msg: Any) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in (msg.headers or {}).items()]


def _msg_id(msg: Any, fallback: str) -> str:
    return str((msg.headers or {}).get("Nats-Msg-Id") or fallback)


async def connect(url: str) -> Any:
    """A connection that gives up after CONNECT_TIMEOUT_S instead of retrying for ever."""
    import nats

    return await nats.connect(url, connect_timeout=CONNECT_TIMEOUT_S, max_reconnect_attempts=3,
                              allow_reconnect=True, name="wasmlet")


async def publish_on(conn: Any, stream: str | None, subject: str, payload: bytes,
                     headers: list[tuple[str, str]], timeout_s: float) -> None:
    """One publish on an open connection: stored in `stream` (acknowledged) or flushed to core NATS."""
    hdrs = dict(headers) if headers else None
    if stream is not None:
        await conn.jetstream().publish(subject, payload, timeout=timeout_s, headers=hdrs)
    else:
        await conn.publish(subject, payload, headers=hdrs)
        await conn.flush(timeout=max(0.01, timeout_s))


async def ensure_stream(js: Any, stream: str | None, subjects: tuple[str, ...]) -> None:
    """Creates the stream with `subjects` when it does not exist (an existing one is left as it is)."""
    from nats.js.errors import NotFoundError

    if stream is None:
        return
    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(name=stream, subjects=list(subjects))
