"""Asynchronous invocations: `POST /_wasmlet/async/<function>/<version>/<path>` answers 202 with an id
at once; the request is queued durably (a JetStream work-queue stream on `[server] async_source`),
run by whichever host takes it with the function's limits, retried with backoff on a 5xx, trap or
timeout, and its outcome kept for an hour in a JetStream key-value bucket that
`GET /_wasmlet/async/<id>` reads. An `Idempotency-Key` header makes a repeated submission return the
first one's id without queuing again. A host killed while an invocation is queued or running loses
nothing: the message is redelivered once its acknowledgement is overdue.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import secrets
import time
from typing import Any

import anyio

from ..bindings.faas import EventHttp, Request
from ..bodies import body_from_bytes
from .runner import Deliverer, Registry, describe

log = logging.getLogger("wasmlet.events")

MAX_ATTEMPTS = 100
"""JetStream's own ceiling on deliveries; a function's `[triggers] async_max_attempts` (default 3) ends it sooner."""
BACKOFF_S = (1.0, 5.0, 30.0)
ACK_WAIT_S = 15.0
"""How long a taken invocation may go without a sign of life before another host gets it."""
HEARTBEAT_S = 5.0
STATUS_TTL_S = 3600.0
"""How long an invocation's status (and response) can be read back."""
MAX_KEPT_BODY = 256 * 1024
"""A response body larger than this is not kept (its status and headers are)."""


class AsyncInvocations:
    """Queues, runs and reports asynchronous invocations on one NATS server (JetStream)."""

    def __init__(self, url: str, group: str = "WASMLET") -> None:
        self.url = url
        self.stream = f"{group}_ASYNC"
        self.bucket = f"{group}_ASYNC_STATUS"
        self.prefix = f"wasmlet.async.{group.lower()}"
        self._conn: Any = None
        self._kv: Any = None
        self._lock = anyio.Lock()

    async def _ready(self) -> tuple[Any, Any]:
        """The connection and the status bucket, made (and the stream created) on first use."""
        async with self._lock:
            if self._conn is None or self._conn.is_closed:
                from nats.js.api import RetentionPolicy, StreamConfig
                from nats.js.errors import NotFoundError

                from .nats import connect

                self._conn = await connect(self.url)
                js = self._conn.jetstream()
                try:
                    await js.stream_info(self.stream)
                except NotFoundError:
                    await js.add_stream(StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"],
                                                     retention=RetentionPolicy.WORK_QUEUE, duplicate_window=600.0))
                try:
                    self._kv = await js.key_value(self.bucket)
                except Exception:
                    self._kv = await js.create_key_value(bucket=self.bucket, ttl=STATUS_TTL_S)
            return self._conn, self._kv

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    # ---------------------------------------------------------------- submitting and reading
    async def submit(self, function: str, version: str, request: dict[str, Any], body: bytes,
                     idempotency_key: str | None) -> tuple[str, bool]:
        """Queues one invocation; returns its id and whether it was a repeat of an earlier submission."""
        conn, kv = await self._ready()
        invocation = secrets.token_hex(16)  # it is the key to the result: unpredictable, never from `random`
        if idempotency_key:
            key = "idem-" + hashlib.sha256(f"{function}\0{idempotency_key}".encode()).hexdigest()[:40]
            try:
                await kv.create(key, invocation.encode())
            except Exception:  # the key exists: this submission was made before
                entry = await kv.get(key)
                return entry.value.decode(), True
        await self._put(kv, invocation, {"id": invocation, "status": "queued", "function": function,
                                         "version": version, "attempts": 0, "submitted": time.time()})
        headers = {"Nats-Msg-Id": invocation, "wasmlet-id": invocation, "wasmlet-function": function,
                   "wasmlet-version": version, "wasmlet-request": json.dumps(request)}
        await conn.jetstream().publish(f"{self.prefix}.{function}", body, timeout=5, headers=headers)
        return invocation, False

    async def status(self, invocation: str) -> dict[str, Any] | None:
        """What is known of an invocation (None: unknown, or its status expired)."""
        if not all(c in "0123456789abcdef" for c in invocation) or len(invocation) != 32:
            return None
        _, kv = await self._ready()
        try:
            entry = await kv.get(invocation)
        except Exception:
            return None
        found: dict[str, Any] = json.loads(entry.value)
        return found

    async def _put(self, kv: Any, invocation: str, record: dict[str, Any]) -> None:
        record["updated"] = time.time()
        await kv.put(invocation, json.dumps(record).encode())

    # ---------------------------------------------------------------- running
    async def consume(self, host: Deliverer, registry: Registry, concurrency: int = 4) -> None:
        """Takes queued invocations (shared with every other host) and runs them, until cancelled."""
        from nats.js.api import AckPolicy, ConsumerConfig

        from .nats import fetch_available

        while True:
            try:
                conn, kv = await self._ready()
                config = ConsumerConfig(durable_name="wasmlet-async", ack_policy=AckPolicy.EXPLICIT,
                                        max_deliver=MAX_ATTEMPTS + 2, ack_wait=ACK_WAIT_S)
                sub = await conn.jetstream().pull_subscribe(f"{self.prefix}.>", durable="wasmlet-async",
                                                            stream=self.stream, config=config)
                limiter = anyio.Semaphore(concurrency)
                async with anyio.create_task_group() as tg:
                    while True:
                        for msg in await fetch_available(sub, limiter):
                            await limiter.acquire()
                            tg.start_soon(self._run, host, registry, kv, msg, limiter)
            except Exception as exc:
                log.warning("asynchronous invocations: consumer failed (%s); again in 2 s", describe(exc))
                await anyio.sleep(2)

    async def _run(self, host: Deliverer, registry: Registry, kv: Any, msg: Any, limiter: anyio.Semaphore) -> None:
        try:
            await self._invoke(host, registry, kv, msg)
        except Exception as exc:
            log.error("asynchronous invocation failed in the host: %s", describe(exc))
        finally:
            limiter.release()

    async def _invoke(self, host: Deliverer, registry: Registry, kv: Any, msg: Any) -> None:
        headers = msg.headers or {}
        invocation, function = headers.get("wasmlet-id", ""), headers.get("wasmlet-function", "")
        attempt = int(msg.metadata.num_delivered)
        version = registry.resolve(function, headers.get("wasmlet-version", "latest"))
        record: dict[str, Any] = {"id": invocation, "function": function, "attempts": attempt}
        if version is None:
            await self._put(kv, invocation, {**record, "status": "failed", "error": "the function or version is gone"})
            await msg.term()
            return
        request = json.loads(headers.get("wasmlet-request", "{}"))
        event = EventHttp(Request(request.get("method", "POST"), request.get("path", "/"), request.get("query", ""),
                                  [tuple(h) for h in request.get("headers", [])], body_from_bytes(bytes(msg.data)),
                                  request.get("mount", "")))
        record["version"] = version.version
        await self._put(kv, invocation, {**record, "status": "running"})
        async with anyio.create_task_group() as tg:
            tg.start_soon(_heartbeat, msg)
            status, detail, response = await _deliver(host, version, event)
            tg.cancel_scope.cancel()
        host.metrics.deliveries.labels(function, "async").inc()
        if status < 400:
            await self._put(kv, invocation, {**record, "status": "succeeded", "response": response})
            await msg.ack()
        elif 400 <= status < 500 and status not in (408, 429):
            await self._put(kv, invocation, {**record, "status": "failed", "response": response, "error": detail})
            await msg.term()
        elif attempt >= version.manifest.triggers.async_max_attempts:
            await self._put(kv, invocation, {**record, "status": "dead", "response": response, "error": detail})
            await self._dead_letter(msg, function, attempt, status, detail)
            host.metrics.dead_letters.labels(function).inc()
            await msg.term()
        else:
            await self._put(kv, invocation, {**record, "status": "retrying", "error": detail})
            await msg.nak(delay=BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1])
        log.info("asynchronous invocation %s of %s/%s (attempt %d): %d%s", invocation, function, version.version,
                 attempt, status, f" {detail}" if detail else "")


    async def _dead_letter(self, msg: Any, function: str, attempt: int, status: int, detail: str) -> None:
        """The request, as it was queued, published to `wasmlet.dead.<function>` with why it died."""
        conn, _ = await self._ready()
        headers = {**(msg.headers or {}), "wasmlet-attempts": str(attempt),
                   "wasmlet-reason": f"{status} {detail}".strip()[:500]}
        headers.pop("Nats-Msg-Id", None)
        try:
            await conn.publish(f"wasmlet.dead.{function}", bytes(msg.data), headers=headers)
        except Exception as exc:
            log.error("dead letter of asynchronous invocation for %s not published: %s", function, describe(exc))


async def _heartbeat(msg: Any) -> None:
    """Tells JetStream the invocation is still running (a host that dies stops telling it)."""
    while True:
        await anyio.sleep(HEARTBEAT_S)
        await msg.in_progress()


async def _deliver(host: Deliverer, version: Any, event: Any) -> tuple[int, str, dict[str, Any]]:
    """Runs the invocation; its status, failure detail and the response as kept in the status record."""
    rid = f"{random.getrandbits(128):032x}"
    outcome = await host.deliver_response(version, event, rid)
    status, detail, resp = outcome
    kept: dict[str, Any] = {"status": status, "request_id": rid}
    if resp is not None:
        from ..bodies import BodyError, body_bytes

        kept["headers"] = [list(h) for h in resp.headers]
        try:
            data = body_bytes(resp.body)
        except BodyError:
            data = b""
        if len(data) <= MAX_KEPT_BODY:
            try:
                kept["body"] = data.decode("utf-8")
            except UnicodeDecodeError:
                kept["body_base64"] = base64.b64encode(data).decode()
        else:
            kept["body_omitted"] = len(data)
    return status, detail, kept
