"""An MQTT 5 messaging source (`[messaging.NAME] type = "mqtt"`, e.g. Mosquitto), through aiomqtt.

A subject without `/` is a topic with `.` written `/` (`orders.created` is `orders/created`, and a
message on `orders/created` reaches the trigger as `orders.created`); a subject with `/` is the topic as
it is. Wildcards: `*` is `+`, `>` is `#`. Headers are user properties. Publishing (the `messaging`
hostcall) is QoS 1, waiting for the broker's PUBACK, on the source's own event loop in a thread of an
anyio blocking portal (as the NATS source does); it is closed with the host.

A trigger subscribes at QoS 1 through a shared subscription, `$share/<queue>/<topic>`, so every host and
worker process splits the messages, in a persistent session the broker keeps SESSION_EXPIRY_S after a
disconnect. Its client id is the trigger's durable name, the host name and a slot (the lowest number no
other process of this host holds for the trigger, through a lock file): a host that restarts, or a
consumer that reconnects, resumes the same session, and gets the messages it held unacknowledged and
those the broker queued for it meanwhile. A message is acknowledged (PUBACK) only once settled.

MQTT has no negative acknowledgement: a retry sends a copy, with user property `x-wasmlet-attempt` one
higher, after the backoff to the trigger's own retry topic (`wasmlet/retry/<durable>`, which only that
trigger's consumers subscribe to, so no other subscriber sees it twice), then acknowledges the original;
a rejected message (dead-lettered by the runner) is acknowledged.

User properties `x-wasmlet-*` are the source's own: a publisher's are dropped, and a function does not
see them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import anyio

from ._publisher import PublishingThread
from .nats import Delivery, _run
from .redis import has_wildcard

log = logging.getLogger("wasmlet.events")

CONNECT_TIMEOUT_S = 5.0
SESSION_EXPIRY_S = 600
"""How long the broker keeps a consumer's session, and queues its share of the messages, while no process
holds it: a host back within this resumes it; after it, what the session held is gone."""
MAX_SLOTS = 256
HELD_EXTRA = 32
"""Unacknowledged messages a consumer may hold beyond its concurrency (waiting for a retry's backoff)."""
RETRY_PREFIX = "wasmlet/retry"
OWN = "x-wasmlet-"
ATTEMPT = "x-wasmlet-attempt"
SUBJECT = "x-wasmlet-subject"
MESSAGE_ID = "x-wasmlet-id"
RESEND_TIMEOUT_S = 5.0
"""How long sending a retry's copy may take."""


def topic(subject: str) -> str:
    """The MQTT topic (filter) of a subject (pattern): `.` as `/` unless it has `/`, `*` as `+`, `>` as `#`."""
    tokens = subject.split("/") if "/" in subject else subject.split(".")
    return "/".join({"*": "+", ">": "#"}.get(token, token) for token in tokens)


def _safe(name: str) -> str:
    """A share name or topic level: no `/`, `+` or `#`."""
    return re.sub(r"[/+#\s]", "_", name)


def client_id(durable: str, slot: int) -> str:
    """The consumer's client id: the trigger's durable name, this host and the slot."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", f"{durable}-{socket.gethostname()}-{slot}")
    if len(name) <= 64:
        return name
    return f"{name[:47]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def _claim_slot(url: str, durable: str) -> tuple[int, IO[str] | None]:
    """The lowest slot of the trigger no other process of this host holds, and its lock (held while the file
    stays open); where no lock can be taken, the process id (a session of this process alone)."""
    import fcntl

    digest = hashlib.sha256(f"{url}|{durable}".encode()).hexdigest()[:16]
    try:
        folder = Path(tempfile.gettempdir()) / f"wasmlet-mqtt-{os.getuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        for slot in range(MAX_SLOTS):
            lock = open(folder / f"{digest}-{slot}.lock", "a")  # kept open: it is the claim
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return slot, lock
            except OSError:
                lock.close()
    except OSError as exc:
        log.warning("no lock file for an MQTT consumer slot (%s): this process's session will not be resumed", exc)
    return os.getpid() + MAX_SLOTS, None


def _properties(packet: str, user: list[tuple[str, str]] | None = None, **values: Any) -> Any:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props: Any = Properties(getattr(PacketTypes, packet))  # type: ignore[no-untyped-call]
    for name, value in values.items():
        setattr(props, name, value)
    if user:
        props.UserProperty = list(user)
    return props


@dataclass
class MqttSource:
    """One MQTT broker under a runtime-config label."""

    label: str
    url: str
    _thread: PublishingThread = field(default_factory=PublishingThread, repr=False)
    _client: Any = field(default=None, repr=False)
    _connecting: anyio.Lock | None = field(default=None, repr=False)

    def delivery(self) -> str:
        """How this source delivers, in a few words (for the log)."""
        return "MQTT shared subscription at QoS 1, at least once while the host runs"

    def _endpoint(self, identifier: str | None, **options: Any) -> Any:
        """A client for the source's URL (`mqtt://[user:password@]host[:port]`, `mqtts://` for TLS)."""
        import ssl

        import aiomqtt

        parts = urlsplit(self.url)
        tls = parts.scheme == "mqtts"
        return aiomqtt.Client(
            parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            identifier=identifier, protocol=aiomqtt.ProtocolVersion.V5, timeout=CONNECT_TIMEOUT_S,
            tls_context=ssl.create_default_context() if tls else None,
            logger=logging.getLogger("wasmlet.events.mqtt"), **options)

    # ------------------------------------------------------------------ publishing (any thread)
    def publish(self, subject: str, payload: bytes, headers: list[tuple[str, str]], timeout_s: float) -> None:
        """Publishes at QoS 1 and waits for the broker's PUBACK; raises on failure, TimeoutError past `timeout_s`."""
        if has_wildcard(subject):
            raise ValueError(f"cannot publish to {subject!r}: a topic name has no wildcards")
        self._thread.call(self._publish, subject, payload, headers, timeout_s)

    async def _publish(self, subject: str, payload: bytes, headers: list[tuple[str, str]], timeout_s: float) -> None:
        user = [(k, v) for k, v in headers if not k.startswith(OWN)] + [(MESSAGE_ID, uuid.uuid4().hex)]
        with anyio.fail_after(max(0.01, timeout_s)):
            client = await self._connection()
            try:
                await client.publish(topic(subject), payload, qos=1, properties=_properties("PUBLISH", user),
                                     timeout=timeout_s)
            except BaseException:
                if self._client is client:
                    await self._drop()  # the next publish starts from a fresh connection
                raise

    async def _connection(self) -> Any:
        """The publishing client, connected once however many publishes wait for it."""
        if self._connecting is None:
            self._connecting = anyio.Lock()
        async with self._connecting:
            if self._client is None or self._client._disconnected.done():
                await self._drop()
                client = self._endpoint(None)
                await client.__aenter__()
                self._client = client
            return self._client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2), contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)

    def close(self) -> None:
        """Closes the publishing connection and stops its thread."""
        self._thread.close(self._drop)

    # ------------------------------------------------------------------ consuming (the host's loop)
    async def consume(self, subject: str, durable: str, queue: str, max_deliver: int, ack_wait_s: float,
                      concurrency: int, handle: Callable[[Delivery], Awaitable[None]],
                      on_pending: Callable[[int], None] | None = None) -> None:
        """Delivers messages on `subject` to `handle`, at most `concurrency` at a time, until cancelled.
        `on_pending` is never called: a client cannot see what the broker holds for a shared subscription."""
        slot, lock = _claim_slot(self.url, durable)
        try:
            client = self._endpoint(client_id(durable, slot), clean_start=False,  # resume the slot's session
                                    properties=_properties("CONNECT", SessionExpiryInterval=SESSION_EXPIRY_S,
                                                           ReceiveMaximum=min(65535, concurrency + HELD_EXTRA)))
            client._client.manual_ack_set(True)  # aiomqtt acknowledges on receipt: settle through paho's ack
            async with client:
                retry_topic = f"{RETRY_PREFIX}/{_safe(durable)}"
                for topic_filter in (topic(subject), retry_topic):
                    codes = await client.subscribe(f"$share/{_safe(queue)}/{topic_filter}", qos=1)
                    refused = [code for code in codes if getattr(code, "value", code) >= 0x80]
                    if refused:
                        raise ConnectionError(f"the broker refused subscribing to {topic_filter}: {refused[0]}")
                held = _Held(client, retry_topic, dotted="/" not in subject)
                async with anyio.create_task_group() as tg:
                    limiter = anyio.Semaphore(concurrency)
                    async for message in client.messages:
                        await limiter.acquire()
                        tg.start_soon(_run, limiter, handle, held.delivery(message, tg))
        finally:
            if lock is not None:
                lock.close()


@dataclass
class _Pending:
    mid: int
    payload: bytes
    qos: int
    subject: str
    id: str
    headers: list[tuple[str, str]]
    next_attempt: int


@dataclass
class _Held:
    """The messages a consumer has received and not acknowledged yet."""

    client: Any
    retry_topic: str
    dotted: bool
    pending: dict[int, _Pending] = field(default_factory=dict)
    received: int = 0

    def delivery(self, message: Any, tg: Any) -> Delivery:
        user = [(str(k), str(v)) for k, v in (getattr(message.properties, "UserProperty", None) or [])]
        own = {k: v for k, v in user if k.startswith(OWN)}
        headers = [(k, v) for k, v in user if not k.startswith(OWN)]
        try:
            attempt = max(1, int(own.get(ATTEMPT, "1")))
        except ValueError:
            attempt = 1
        name = message.topic.value
        subject = own.get(SUBJECT) or (name.replace("/", ".") if self.dotted else name)
        message_id = own.get(MESSAGE_ID) or uuid.uuid4().hex
        payload = message.payload if isinstance(message.payload, bytes) else bytes(message.payload or b"")
        self.received += 1
        key = self.received  # not the packet id: every QoS 0 message has 0
        self.pending[key] = _Pending(int(message.mid), payload, int(message.qos), subject, message_id, headers,
                                     attempt + 1)

        async def ack() -> None:
            self.settle(key)

        async def retry(delay_s: float) -> None:
            tg.start_soon(self.resend_after, key, delay_s)

        return Delivery(subject, payload, headers, attempt, message_id, ack, retry, ack)

    def settle(self, key: int) -> None:
        held = self.pending.pop(key, None)
        if held is not None and held.qos > 0:
            self.client._client.ack(held.mid, held.qos)

    async def resend_after(self, key: int, delay_s: float) -> None:
        await anyio.sleep(delay_s)
        await self.resend(key)

    async def resend(self, key: int) -> None:
        """A copy with the next attempt to the trigger's retry topic, then the original acknowledged."""
        held = self.pending.get(key)
        if held is None:
            return
        user = [*held.headers, (ATTEMPT, str(held.next_attempt)), (SUBJECT, held.subject), (MESSAGE_ID, held.id)]
        await self.client.publish(self.retry_topic, held.payload, qos=1, properties=_properties("PUBLISH", user),
                                  timeout=RESEND_TIMEOUT_S)
        self.settle(key)
