"""An AMQP 0-9-1 messaging source (`[messaging.NAME] type = "amqp"`, RabbitMQ), through aio-pika.

Subjects are routing keys on one durable topic exchange (`exchange`, default `wasmlet`); a trigger's
pattern is its binding key, NATS wildcards written the AMQP way (`*` one word, `>` as `#`). Publishing
(the `messaging` hostcall) sends a persistent message with the headers and a message id, and waits for
the broker's confirm, on the source's own event loop in a thread of an anyio blocking portal (as the
NATS source does); it is closed with the host. A message no queue is bound for is dropped by the broker.

A trigger reads a durable queue named after its durable name (shared by every host and worker process,
which split its messages), bound with its subject, with manual acks and a prefetch of its concurrency.
The attempt travels in header `x-wasmlet-attempt`. A retry sends a copy with the attempt one higher to
a delay queue (`<queue>.retry.<ms>`, whose TTL dead-letters it back into the trigger's queue alone), then
acks the original; a rejected message (dead-lettered by the runner) is acked. A message a host held when
it stopped or crashed is redelivered by the broker, counted as one more attempt.

Headers `x-wasmlet-*` are the source's own: a publisher's are dropped, and a function does not see them.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from ._publisher import PublishingThread
from .nats import Delivery, _run
from .redis import has_wildcard

log = logging.getLogger("wasmlet.events")

CONNECT_TIMEOUT_S = 5.0
DEFAULT_EXCHANGE = "wasmlet"
ATTEMPT = "x-wasmlet-attempt"
SUBJECT = "x-wasmlet-subject"
_OWN = ("x-wasmlet-", "x-death", "x-first-death-", "x-last-death-")
"""Header prefixes the source and the broker write: never shown to a function, never taken from a publisher."""
DELAY_QUEUE_EXPIRES_MS = 60_000
"""How long a delay queue outlives its longest wait unused (it is declared again by each retry through it)."""


def binding_key(subject: str) -> str:
    """A NATS-style subject pattern as an AMQP binding key: `*` stays, `>` becomes `#`."""
    return ".".join("#" if token == ">" else token for token in subject.split("."))


@dataclass
class AmqpSource:
    """One AMQP broker (one topic exchange) under a runtime-config label."""

    label: str
    url: str
    exchange: str = DEFAULT_EXCHANGE
    _thread: PublishingThread = field(default_factory=PublishingThread, repr=False)
    _conn: Any = field(default=None, repr=False)
    _exchange: Any = field(default=None, repr=False)
    _connecting: anyio.Lock | None = field(default=None, repr=False)

    def delivery(self) -> str:
        """How this source delivers, in a few words (for the log)."""
        return f"AMQP queue on exchange {self.exchange}, at least once"

    # ------------------------------------------------------------------ publishing (any thread)
    def publish(self, subject: str, payload: bytes, headers: list[tuple[str, str]], timeout_s: float) -> None:
        """Publishes and waits for the broker's confirm; raises on failure, TimeoutError past `timeout_s`."""
        if has_wildcard(subject):
            raise ValueError(f"cannot publish to {subject!r}: a routing key has no wildcards")
        self._thread.call(self._publish, subject, payload, headers, timeout_s)

    async def _publish(self, subject: str, payload: bytes, headers: list[tuple[str, str]], timeout_s: float) -> None:
        with anyio.fail_after(max(0.01, timeout_s)):
            conn, exchange = await self._connection()
            try:
                message = _message(payload, {k: v for k, v in headers if not k.startswith(_OWN)}, uuid.uuid4().hex)
                await exchange.publish(message, routing_key=subject, mandatory=False, timeout=timeout_s)
            except BaseException:
                if self._conn is conn:
                    await self._drop()  # the next publish starts from a fresh connection
                raise

    async def _connection(self) -> tuple[Any, Any]:
        """The publishing connection and exchange, opened once however many publishes wait for it."""
        if self._connecting is None:
            self._connecting = anyio.Lock()
        async with self._connecting:
            if self._conn is None or self._conn.is_closed:
                self._conn, self._exchange = await self._open()
            return self._conn, self._exchange

    async def _open(self) -> tuple[Any, Any]:
        import aio_pika

        conn = await aio_pika.connect(self.url, timeout=CONNECT_TIMEOUT_S, client_properties={
            "connection_name": f"wasmlet {self.label} publisher"})
        channel = await conn.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        return conn, exchange

    async def _drop(self) -> None:
        conn, self._conn, self._exchange = self._conn, None, None
        if conn is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2), contextlib.suppress(Exception):
                await conn.close()

    def close(self) -> None:
        """Closes the publishing connection and stops its thread."""
        self._thread.close(self._drop)

    # ------------------------------------------------------------------ consuming (the host's loop)
    async def consume(self, subject: str, durable: str, queue: str, max_deliver: int, ack_wait_s: float,
                      concurrency: int, handle: Callable[[Delivery], Awaitable[None]],
                      on_pending: Callable[[int], None] | None = None) -> None:
        """Delivers messages routed with `subject` to `handle`, at most `concurrency` at a time, until
        cancelled; `on_pending` hears how many messages wait in the queue (every few seconds). The queue
        is named `durable` (one per trigger, whatever `queue` says: a queue shared by two triggers would
        mix their subjects)."""
        import aio_pika

        conn = await aio_pika.connect(self.url, timeout=CONNECT_TIMEOUT_S, client_properties={
            "connection_name": f"wasmlet {self.label} consumer {durable}"})
        try:
            channel = await conn.channel(publisher_confirms=True, on_return_raises=True)
            await channel.set_qos(prefetch_count=concurrency)
            exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            amqp_queue = await channel.declare_queue(durable, durable=True)
            await amqp_queue.bind(exchange, routing_key=binding_key(subject))
            async with anyio.create_task_group() as tg:
                if on_pending is not None:
                    tg.start_soon(_report_pending, conn, durable, on_pending)
                limiter = anyio.Semaphore(concurrency)
                async with amqp_queue.iterator() as messages:
                    async for msg in messages:
                        await limiter.acquire()
                        tg.start_soon(_run, limiter, handle, _delivery(channel, durable, msg))
                raise ConnectionError(f"the broker stopped the consumer of queue {durable}")
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2), contextlib.suppress(Exception):
                await conn.close()


async def _report_pending(conn: Any, queue: str, report: Callable[[int], None], every_s: float = 5.0) -> None:
    """Reports the messages ready in the queue (not those being handled), until cancelled."""
    channel = await conn.channel()  # its own: a failed declare closes the channel it runs on
    while True:
        with contextlib.suppress(Exception):
            if channel.is_closed:
                channel = await conn.channel()
            declared = await channel.declare_queue(queue, passive=True)
            report(int(declared.declaration_result.message_count or 0))
        await anyio.sleep(every_s)


def _message(payload: bytes, headers: dict[str, Any], message_id: str) -> Any:
    import aio_pika

    return aio_pika.Message(payload, headers=headers, message_id=message_id,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT)


def _header_text(value: Any) -> str | None:
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None  # tables, arrays and timestamps are not headers a function reads


def _delivery(channel: Any, queue: str, msg: Any) -> Delivery:
    raw: dict[str, Any] = dict(msg.headers or {})
    try:
        attempt = max(1, int(raw.get(ATTEMPT, 1)))
    except (TypeError, ValueError):
        attempt = 1
    if msg.redelivered:  # a host held it and stopped without settling it
        attempt += 1
    subject = _header_text(raw.get(SUBJECT)) or str(msg.routing_key or "")
    message_id = str(msg.message_id or uuid.uuid4().hex)
    kept = {k: v for k, v in raw.items() if not k.startswith(_OWN)}
    headers = [(k, text) for k, v in kept.items() if (text := _header_text(v)) is not None]

    async def ack() -> None:
        await msg.ack()

    async def retry(delay_s: float) -> None:
        """A copy with the next attempt waits in a delay queue, which hands it back to `queue` alone."""
        delay_ms = max(1, int(delay_s * 1000))
        delay_queue = f"{queue}.retry.{delay_ms}"
        await channel.declare_queue(delay_queue, durable=True, arguments={
            "x-message-ttl": delay_ms, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue,
            "x-expires": 2 * delay_ms + DELAY_QUEUE_EXPIRES_MS})
        copy = _message(msg.body, {**kept, ATTEMPT: attempt + 1, SUBJECT: subject}, message_id)
        try:
            await channel.default_exchange.publish(copy, routing_key=delay_queue, mandatory=True)
        except Exception as exc:  # back to the queue at once rather than held unsettled
            log.warning("retry of message %s through %s failed (%s); requeued", message_id, delay_queue, exc)
            await msg.nack(requeue=True)
            return
        await msg.ack()

    return Delivery(subject, bytes(msg.body), headers, attempt, message_id, ack, retry, ack)
