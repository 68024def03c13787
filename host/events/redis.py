"""A Redis Streams messaging source (`[messaging.NAME] type = "redis"`), through redis-py.

A subject is one stream, key `wasmlet-messaging:<label>:<subject>` (not under `wasmlet:<label>:`, where a
Redis key-value label of the same name keeps its keys). A message is one entry: field `payload` holds the
bytes, every other field is a header (in order; a name may repeat). Publishing is an XADD from the
calling thread (a synchronous client per thread, its timeout bounded by the caller's), trimming the
stream to about `max_length` entries.

A trigger reads through a consumer group named after its durable name, shared by every host and
worker process (they split the entries), created at the start of the stream when missing. An entry is
acknowledged (XACK) only once settled. Its attempt is its delivery count. A retry leaves it pending and
sets its idle time so that it becomes claimable (XAUTOCLAIM, which every consumer runs) when the
backoff is over; an entry whose consumer died is claimed the same way once idle for the ack wait. A
rejected entry (dead-lettered) is acknowledged and, when no other group reads the stream, deleted.

Only exact subjects can be consumed: a stream has no subject hierarchy to match a wildcard against.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from ..capabilities._redis import CONNECT_TIMEOUT_S, thread_client
from .nats import Delivery, _run

log = logging.getLogger("wasmlet.events")

KEY_PREFIX = "wasmlet-messaging"
PAYLOAD_FIELD = "payload"
DEFAULT_MAX_LENGTH = 100_000
"""Entries a stream keeps at most (approximately): older ones are trimmed by the next XADD, read or not."""
POLL_MS = 250
"""How long one read waits for new entries: also how often a consumer looks for entries to claim."""
PUBLISH_TIMEOUT_S = 10.0
"""The longest one publish may take (less when the caller's timeout is nearer)."""


def has_wildcard(subject: str) -> bool:
    """Whether `subject` holds a `*` or `>` token (a pattern, not one stream)."""
    sep = "/" if "/" in subject and "." not in subject else "."
    return any(token in ("*", ">") for token in subject.split(sep))


@dataclass
class RedisSource:
    """One Redis database under a runtime-config label; each subject is a stream."""

    label: str
    url: str
    max_length: int = DEFAULT_MAX_LENGTH
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _clients: list[Any] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def delivery(self) -> str:
        """How this source delivers, in a few words (for the log)."""
        return "Redis stream, at least once"

    def key(self, subject: str) -> str:
        """The stream holding `subject`."""
        return f"{KEY_PREFIX}:{self.label}:{subject}"

    # ------------------------------------------------------------------ publishing (any thread)
    def publish(self, subject: str, payload: bytes, headers: list[tuple[str, str]], timeout_s: float) -> None:
        """Appends one entry and waits for Redis's answer; raises on failure, TimeoutError past `timeout_s`."""
        import redis

        if has_wildcard(subject):
            raise ValueError(f"cannot publish to {subject!r}: a subject with wildcards is not a stream")
        if any(name == PAYLOAD_FIELD for name, _ in headers):
            raise ValueError(f"a header may not be named {PAYLOAD_FIELD!r} on a Redis source (it holds the payload)")
        fields: list[Any] = [PAYLOAD_FIELD, payload]
        for name, value in headers:
            fields += [name.encode(), value.encode()]
        timeout = max(0.01, min(PUBLISH_TIMEOUT_S, timeout_s))
        client = self._client(timeout)
        try:
            client.execute_command("XADD", self.key(subject), "MAXLEN", "~", self.max_length, "*", *fields)
        except redis.TimeoutError:
            client.connection.disconnect()  # a late answer must not be read as the next one's
            raise TimeoutError(f"Redis did not answer within {timeout:.1f} s") from None
        except redis.ResponseError:  # Redis refused the command: the connection is fine
            raise
        except Exception:
            client.connection.disconnect()
            raise

    def _client(self, timeout: float) -> Any:
        """This thread's client, its socket timeouts set to `timeout` for the next command."""
        client, created = thread_client(self._local, self.url, timeout)
        if created:
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        """Closes the publishing connections."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            with contextlib.suppress(Exception):
                client.close()

    # ------------------------------------------------------------------ consuming (the host's loop)
    async def consume(self, subject: str, durable: str, queue: str, max_deliver: int, ack_wait_s: float,
                      concurrency: int, handle: Callable[[Delivery], Awaitable[None]],
                      on_pending: Callable[[int], None] | None = None) -> None:
        """Delivers the entries of `subject`'s stream to `handle`, at most `concurrency` at a time, until
        cancelled; `on_pending` hears how many entries the group has not settled (every few seconds).
        `queue` and `max_deliver` play no part: the group is the trigger's, and the runner dead-letters at
        the last attempt."""
        if has_wildcard(subject):
            log.error("Redis source %r cannot consume %r: a Redis stream is one exact subject, not a pattern "
                      "(this trigger receives nothing)", self.label, subject)
            await anyio.sleep_forever()
        import redis
        import redis.asyncio as aioredis

        client: Any = aioredis.Redis.from_url(self.url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                              socket_keepalive=True)
        for command in ("XREADGROUP", "XAUTOCLAIM"):  # raw replies: repeated fields stay, in order
            client.set_response_callback(command, lambda response, **_: response)
        group = Group(client, self.key(subject), durable, f"{socket.gethostname()}-{os.getpid()}",
                      int(ack_wait_s * 1000))
        try:
            try:
                await client.xgroup_create(group.key, durable, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            async with anyio.create_task_group() as tg:
                if on_pending is not None:
                    tg.start_soon(group.report_pending, on_pending)
                limiter = anyio.Semaphore(concurrency)
                cursor = "0-0"
                while True:
                    await limiter.acquire()  # read only what can run now: the rest stays in the stream
                    free = 1 + limiter.value
                    limiter.release()
                    cursor, entries = await group.claim(cursor, free)
                    if not entries:
                        entries = await group.read(free)
                    for entry_id, attempt, fields in entries:
                        await limiter.acquire()
                        tg.start_soon(_run, limiter, handle, group.delivery(subject, entry_id, attempt, fields, tg))
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                with contextlib.suppress(Exception):
                    await group.leave()
                with contextlib.suppress(Exception):
                    await client.aclose()


@dataclass
class Group:
    """One consumer in a trigger's consumer group on one stream."""

    client: Any
    key: str
    name: str
    consumer: str
    ack_wait_ms: int

    async def read(self, count: int) -> list[tuple[str, int, list[Any]]]:
        """New entries (first delivery), waiting up to POLL_MS for some."""
        reply = await self.client.xreadgroup(self.name, self.consumer, {self.key: ">"}, count=count, block=POLL_MS)
        streams = reply.values() if isinstance(reply, dict) else [s[1] for s in reply or []]
        return [(_text(entry_id), 1, fields) for entries in streams for entry_id, fields in entries or []
                if fields is not None]

    async def claim(self, cursor: str, count: int) -> tuple[str, list[tuple[str, int, list[Any]]]]:
        """Entries idle for the ack wait (a retry's backoff is over, or their consumer died), with their
        delivery counts; and the cursor to go on from."""
        reply = await self.client.xautoclaim(self.key, self.name, self.consumer, self.ack_wait_ms, cursor,
                                             count=count)
        cursor = _text(reply[0])
        claimed = [(_text(entry_id), fields) for entry_id, fields in
                   (e for e in reply[1] if e is not None)]
        gone = [entry_id for entry_id, fields in claimed if fields is None]
        if gone:  # deleted from the stream (trimmed) but still pending (Redis before 7)
            await self.client.xack(self.key, self.name, *gone)
        claimed = [(entry_id, fields) for entry_id, fields in claimed if fields is not None]
        if not claimed:
            return cursor, []
        pending = await self.client.xpending_range(self.key, self.name, claimed[0][0], claimed[-1][0], len(claimed),
                                                   consumername=self.consumer)
        counts = {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        return cursor, [(entry_id, counts.get(entry_id, 2), fields) for entry_id, fields in claimed]

    def delivery(self, subject: str, entry_id: str, attempt: int, fields: list[Any], tg: Any) -> Delivery:
        payload = b""
        headers: list[tuple[str, str]] = []
        for name, value in zip(fields[::2], fields[1::2]):
            if _text(name) == PAYLOAD_FIELD:
                payload = bytes(value)
            else:
                headers.append((_text(name), _text(value)))

        async def ack() -> None:
            await self.client.xack(self.key, self.name, entry_id)

        async def retry(delay_s: float) -> None:
            delay_ms = max(0, int(delay_s * 1000))
            await self.hold(entry_id, self.ack_wait_ms - delay_ms)
            if delay_ms > self.ack_wait_ms:  # longer than the ack wait: keep it back until the backoff is over
                tg.start_soon(self.keep_back, entry_id, time.monotonic() + delay_s)

        async def reject() -> None:
            await self.client.xack(self.key, self.name, entry_id)
            if len(await self.client.xinfo_groups(self.key)) <= 1:  # no other trigger still needs it
                await self.client.xdel(self.key, entry_id)

        return Delivery(subject, payload, headers, attempt, f"{subject}-{entry_id}", ack, retry, reject)

    async def hold(self, entry_id: str, idle_ms: int) -> None:
        """Makes a pending entry of ours claimable in `ack_wait_ms - idle_ms` (its delivery count unchanged)."""
        await self.client.xclaim(self.key, self.name, self.consumer, 0, [entry_id], idle=max(0, idle_ms),
                                 justid=True)

    async def keep_back(self, entry_id: str, due: float) -> None:
        """Keeps resetting an entry's idle time until the ack wait ends at `due` (a backoff longer than it)."""
        wait_s = self.ack_wait_ms / 1000
        try:
            while (left := due - time.monotonic()) > wait_s:
                await anyio.sleep(min(wait_s / 2, left - wait_s))
                await self.hold(entry_id, int((wait_s - (due - time.monotonic())) * 1000))
        except Exception as exc:  # it only comes back sooner
            log.debug("could not keep entry %s of %s back: %s", entry_id, self.key, exc)

    async def report_pending(self, report: Callable[[int], None], every_s: float = 5.0) -> None:
        """Reports the entries not read yet (`lag`) plus those read and not settled, until cancelled."""
        while True:
            with contextlib.suppress(Exception):
                for info in await self.client.xinfo_groups(self.key):
                    if _text(info["name"]) == self.name:
                        report(int(info.get("lag") or 0) + int(info["pending"]))
            await anyio.sleep(every_s)

    async def leave(self) -> None:
        """Removes this consumer from the group when it holds nothing (what it holds is claimed by others)."""
        consumers = await self.client.xinfo_consumers(self.key, self.name)
        if any(_text(c["name"]) == self.consumer and int(c["pending"]) == 0 for c in consumers):
            await self.client.xgroup_delconsumer(self.key, self.name, self.consumer)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)
