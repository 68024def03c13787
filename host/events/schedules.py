"""Fires `[[triggers.schedule]]`: every `every` milliseconds, aligned to the Unix epoch, so every host
computes the same due times.

With one host (`[server] schedule_source` unset) a due time runs the function directly. With several,
each host publishes every due time to a JetStream stream on that NATS source, with the message id
`<function>/<schedule>/<due-ms>`: JetStream keeps only the first of identical ids within its
duplicate window, so a due time is one message however many hosts publish it, and one durable
consumer, shared by every host, hands it to exactly one of them (redelivered if that host dies).

A host that was down does not catch up: at start it fires the next due time, not the missed ones.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import anyio

from ..bindings.faas import EventSchedule, Schedule
from .runner import RESTART_DELAY_S, Deliverer, Registry, describe
from .triggers import ScheduleTrigger

log = logging.getLogger("wasmlet.events")

SUBJECT_PREFIX = "wasmlet.schedule"
DUPLICATE_WINDOW_S = 600.0
"""How long JetStream remembers a due time's id (longer than any clock skew between hosts)."""


@dataclass(frozen=True)
class _Due:
    function: str
    trigger: ScheduleTrigger

    @property
    def name(self) -> str:
        return self.trigger.name


class ScheduleRunner:
    """Keeps every function's schedules firing, directly or through a NATS source."""

    def __init__(self, host: Deliverer, registry: Registry, source: Any | None = None,
                 interval_s: float = 0.25) -> None:
        self.host = host
        self.registry = registry
        self.source = source
        """A NatsSource whose server coordinates several hosts (None: this host alone)."""
        self.interval_s = interval_s
        group = (source.stream or "WASMLET") if source is not None else "WASMLET"
        self.stream = f"{group}_SCHEDULES"
        """The JetStream stream of due times: one per group of hosts (named after the source's stream)."""
        self.prefix = f"{SUBJECT_PREFIX}.{group.lower()}"

    def wanted(self) -> set[_Due]:
        out: set[_Due] = set()
        for function in self.registry.list():
            version = self.registry.resolve(function, "latest")
            if version is not None:
                out |= {_Due(function, s) for s in version.manifest.triggers.schedules}
        return out

    async def run(self) -> None:
        """Fires due schedules until cancelled (and, coordinated, consumes the shared schedule stream);
        a failure (NATS unreachable, a JetStream call timing out) is logged and the runner starts again."""
        while True:
            try:
                await self._run_once()
            except Exception as exc:
                log.warning("schedules: %s; starting again in %.0f s", describe(exc), RESTART_DELAY_S)
                await anyio.sleep(RESTART_DELAY_S)

    async def _run_once(self) -> None:
        conn = None
        try:
            async with anyio.create_task_group() as tg:
                if self.source is not None:
                    from .nats import connect

                    conn = await connect(self.source.url)
                    js = conn.jetstream()
                    await _ensure_schedule_stream(js, self.stream, self.prefix)
                    tg.start_soon(self._consume, js)
                await self._tick(tg, conn)
        finally:
            if conn is not None:
                with anyio.CancelScope(shield=True):  # after every task using it has stopped
                    try:
                        await conn.close()
                    except Exception:
                        pass

    async def _tick(self, tg: Any, conn: Any) -> None:
        due_at: dict[_Due, int] = {}
        while True:
            now = int(time.time() * 1000)
            try:
                wanted = await anyio.to_thread.run_sync(self.wanted)
            except Exception:
                log.exception("reading the registry for schedules failed")
                wanted = set(due_at)
            for gone in set(due_at) - wanted:
                del due_at[gone]
            for new in wanted - set(due_at):
                due_at[new] = new.trigger.next_due(now)  # no catch-up: the next due time
            for due, when in list(due_at.items()):
                if when <= now:
                    due_at[due] = due.trigger.next_due(now)
                    if conn is None:
                        tg.start_soon(self._fire, due.function, due.name, when)
                    else:
                        tg.start_soon(self._publish, conn, due, when)
            await anyio.sleep(self.interval_s)

    async def _publish(self, conn: Any, due: _Due, when: int) -> None:
        subject = f"{self.prefix}.{due.function}.{due.name}"
        try:
            await conn.jetstream().publish(subject, str(when).encode(), timeout=5,
                                           headers={"Nats-Msg-Id": f"{due.function}/{due.name}/{when}"})
        except Exception as exc:
            log.warning("schedule %s of %s due at %d could not be published: %s", due.name, due.function, when, exc)

    async def _consume(self, js: Any) -> None:
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import AckPolicy, ConsumerConfig

        config = ConsumerConfig(durable_name="wasmlet-schedules", ack_policy=AckPolicy.EXPLICIT, max_deliver=3,
                                ack_wait=120)
        sub = await js.pull_subscribe(f"{self.prefix}.>", durable="wasmlet-schedules", stream=self.stream,
                                      config=config)
        async with anyio.create_task_group() as tg:
            while True:
                try:
                    msgs = await sub.fetch(batch=8, timeout=1)
                except NatsTimeout:
                    continue
                for msg in msgs:
                    tg.start_soon(self._settle, msg)

    async def _settle(self, msg: Any) -> None:
        parts = msg.subject[len(self.prefix) + 1:].split(".")
        function, name = parts[0], ".".join(parts[1:])
        try:
            when = int(msg.data.decode())
        except ValueError:
            await msg.term()
            return
        status = await self._fire(function, name, when)
        if status is None or status < 500:
            await msg.ack()
        else:
            await msg.nak(delay=5)

    async def _fire(self, function: str, name: str, when: int) -> int | None:
        """Runs one due time; returns the status (None when the function or schedule is gone)."""
        version = self.registry.resolve(function, "latest")
        if version is None or not any(s.name == name for s in version.manifest.triggers.schedules):
            return None
        rid = f"{random.getrandbits(128):032x}"
        status, detail = await self.host.deliver(version, EventSchedule(Schedule(name, when)), rid)
        log.info("schedule %s of %s/%s due at %d: %d%s", name, function, version.version, when, status,
                 f" {detail}" if detail else "", extra={"function": function, "request_id": rid})
        self.host.metrics.schedule_runs.labels(function, "ok" if status < 400 else "failed").inc()
        return status


async def _ensure_schedule_stream(js: Any, stream: str, prefix: str) -> None:
    from nats.js.api import RetentionPolicy, StreamConfig
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=stream, subjects=[f"{prefix}.>"], retention=RetentionPolicy.WORK_QUEUE,
                                         duplicate_window=DUPLICATE_WINDOW_S))
