"""Runs every deployed function's message triggers: one consumer per trigger, started and stopped as
the registry changes, each delivery invoked with the function's limits and settled by its outcome.

Outcome of a delivery (the response of the `latest` version): 2xx/3xx acknowledges; 4xx dead-letters
at once (the function refused the message: another attempt would too); 5xx, a trap or a timeout is
retried after the trigger's backoff, and dead-lettered after its last attempt (on core NATS, which
cannot redeliver, at once). A dead letter is the original payload published to the trigger's
`dead_letter` subject (default `wasmlet.dead.<function>`) with `wasmlet-*` headers saying why.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from anyio.abc import TaskStatus

from ..bindings.faas import EventMessage, Message
from ..bodies import body_from_bytes
from ..registry import Version
from .nats import Delivery
from .triggers import MessageTrigger

log = logging.getLogger("wasmlet.events")

RESTART_DELAY_S = 2.0
"""How long a consumer whose connection failed waits before it connects again."""


class Deliverer(Protocol):
    """What runs an event: the HTTP host's `deliver`."""

    metrics: Any

    async def deliver(self, version: Version, event: Any, rid: str) -> tuple[int, str]: ...

    async def deliver_response(self, version: Version, event: Any, rid: str) -> tuple[int, str, Any]: ...


class Registry(Protocol):
    def list(self) -> dict[str, dict[str, object]]: ...

    def resolve(self, function: str, version: str) -> Version | None: ...


@dataclass(frozen=True)
class _Consumer:
    function: str
    index: int
    trigger: MessageTrigger


def describe(exc: BaseException) -> str:
    """An error in one line: the first leaf of an exception group, with its type."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def durable_name(function: str, trigger: MessageTrigger) -> str:
    """The JetStream durable consumer every host shares for one trigger (so they split its messages)."""
    digest = hashlib.sha256(f"{trigger.subject}|{trigger.queue}".encode()).hexdigest()[:10]
    return f"wasmlet-{function}-{digest}".replace(".", "_")


class TriggerRunner:
    """Keeps one consumer running per message trigger of every function's `latest` version."""

    def __init__(self, host: Deliverer, registry: Registry, open_source: Callable[[str], Any],
                 worker_threads: int = 8, interval_s: float = 1.0) -> None:
        self.host = host
        self.registry = registry
        self.open_source = open_source
        self.worker_threads = worker_threads
        self.interval_s = interval_s

    def wanted(self) -> set[_Consumer]:
        """The consumers the registry's `latest` versions ask for now."""
        out: set[_Consumer] = set()
        for function in self.registry.list():
            version = self.registry.resolve(function, "latest")
            if version is None:
                continue
            for index, trigger in enumerate(version.manifest.triggers.messages):
                out.add(_Consumer(function, index, trigger))
        return out

    async def run(self) -> None:
        """Starts and stops consumers as the registry changes, until cancelled."""
        running: dict[_Consumer, anyio.CancelScope] = {}
        async with anyio.create_task_group() as tg:
            while True:
                try:
                    wanted = await anyio.to_thread.run_sync(self.wanted)
                except Exception:
                    log.exception("reading the registry for triggers failed; trying again")
                    wanted = set(running)
                for gone in set(running) - wanted:
                    running.pop(gone).cancel()
                    log.info("stopped the consumer of %s for %s", gone.trigger.subject, gone.function)
                for new in wanted - set(running):
                    running[new] = await tg.start(self._consume, new)
                await anyio.sleep(self.interval_s)

    async def _consume(self, consumer: _Consumer, *, task_status: TaskStatus[anyio.CancelScope]) -> None:
        with anyio.CancelScope() as scope:
            task_status.started(scope)
            trigger = consumer.trigger
            while True:
                try:
                    source = self.open_source(trigger.source)
                    version = self.registry.resolve(consumer.function, "latest")
                    manifest = version.manifest if version is not None else None
                    timeout_s = (manifest.timeout_ms / 1000) if manifest else 10.0
                    concurrency = max(1, min(manifest.max_concurrency if manifest else 1, self.worker_threads))
                    log.info("consuming %s on %s for %s (%s)", trigger.subject, trigger.source, consumer.function,
                             source.delivery())
                    await source.consume(trigger.subject, durable_name(consumer.function, trigger),
                                         trigger.queue or f"wasmlet.{consumer.function}", trigger.max_attempts,
                                         timeout_s + 5, concurrency,
                                         lambda d: self._deliver(consumer.function, trigger, d),
                                         on_pending=self.host.metrics.queue_lag.labels(consumer.function, trigger.subject).set)
                except Exception as exc:
                    log.warning("consumer of %s for %s failed (%s); connecting again in %.0f s", trigger.subject,
                                consumer.function, describe(exc), RESTART_DELAY_S)
                    await anyio.sleep(RESTART_DELAY_S)

    async def _deliver(self, function: str, trigger: MessageTrigger, delivery: Delivery) -> None:
        """One delivery: invoke the function, then acknowledge, retry or dead-letter."""
        started = time.perf_counter()
        metrics = self.host.metrics
        rid = f"{random.getrandbits(128):032x}"
        version = self.registry.resolve(function, "latest")
        if version is None:  # deleted meanwhile: leave it for a later look
            await delivery.retry(5.0)
            return
        if delivery.attempt > 1:
            metrics.redeliveries.labels(function).inc()
        event = EventMessage(Message(trigger.source, delivery.subject, body_from_bytes(delivery.payload),
                                     delivery.headers, delivery.attempt, delivery.id))
        status, detail = await self.host.deliver(version, event, rid)
        log.info("message %s on %s (attempt %d) -> %s/%s: %d%s", delivery.id, delivery.subject, delivery.attempt,
                 function, version.version, status, f" {detail}" if detail else "",
                 extra={"function": function, "version": version.version, "request_id": rid})
        if status < 400:
            await delivery.ack()
            outcome = "acked"
        elif 400 <= status < 500 and status not in (408, 429) or not delivery.redelivers \
                or delivery.attempt >= trigger.max_attempts:
            await self._dead_letter(function, trigger, delivery, status, detail)
            await delivery.reject()
            outcome = "dead-lettered"
        else:
            await delivery.retry(trigger.backoff_for(delivery.attempt) / 1000)
            outcome = "retried"
        metrics.deliveries.labels(function, outcome).inc()
        metrics.delivery_lag.labels(function).observe(time.perf_counter() - started)

    async def _dead_letter(self, function: str, trigger: MessageTrigger, delivery: Delivery, status: int,
                           detail: str) -> None:
        subject = trigger.dead_letter or f"wasmlet.dead.{function}"
        headers = [("wasmlet-function", function), ("wasmlet-subject", delivery.subject),
                   ("wasmlet-message-id", delivery.id), ("wasmlet-attempts", str(delivery.attempt)),
                   ("wasmlet-reason", f"{status} {detail}".strip()[:500])]
        source = self.open_source(trigger.source)
        try:
            await anyio.to_thread.run_sync(source.publish, subject, delivery.payload, headers, 5.0)
        except Exception as exc:
            log.error("dead letter of message %s for %s could not be published to %s: %s", delivery.id, function,
                      subject, exc)
            return
        self.host.metrics.dead_letters.labels(function).inc()
        log.warning("message %s on %s dead-lettered to %s after %d attempt(s): %d %s", delivery.id,
                    delivery.subject, subject, delivery.attempt, status, detail)
