"""Message triggers on Redis Streams, RabbitMQ (AMQP) and MQTT (Mosquitto), through a real `wasmlet serve`
with a `[messaging.events]` source of each type: a message published with the broker's own client runs the
function, which publishes its reply through the `messaging` hostcall, byte for byte; a trapping function's
message is retried up to its attempts, then dead-lettered with the reason; a 4xx dead-letters at once.
Each broker's test run works on streams, queues, an exchange and topics of its own, removed afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from conftest import REDIS_URL, reachable
from servers import free_port, running

from wasmlet.events.runner import durable_name
from wasmlet.events.triggers import MessageTrigger

AMQP_URL = os.environ.get("WASMLET_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
MQTT_URL = os.environ.get("WASMLET_TEST_MQTT", "mqtt://127.0.0.1:1883")
TOKEN = "events-test"
FUNCTION = "orders"
EVERY_BYTE = bytes(range(256))


@dataclass
class Received:
    payload: bytes
    headers: dict[str, str]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _mqtt_client(url: str, **options: Any) -> Any:
    import aiomqtt

    parts = urlsplit(url)
    return aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883, protocol=aiomqtt.ProtocolVersion.V5,
                          **options)


def _probe_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url, socket_connect_timeout=3).ping()


def _probe_amqp(url: str) -> None:
    import aio_pika

    async def check() -> None:
        conn = await aio_pika.connect(url, timeout=3)
        await conn.close()

    asyncio.run(check())


def _probe_mqtt(url: str) -> None:
    async def check() -> None:
        async with _mqtt_client(url, timeout=3):
            pass

    asyncio.run(check())


SERVICES = {
    "redis": ("Redis", REDIS_URL, _probe_redis),
    "amqp": ("RabbitMQ", AMQP_URL, _probe_amqp),
    "mqtt": ("MQTT broker", MQTT_URL, _probe_mqtt),
}


class Inbox:
    """A test's client of one broker: publishes, and collects what arrives on the subjects it watches."""

    def __init__(self, broker: dict[str, str]) -> None:
        self.broker = broker
        self.kind = broker["kind"]
        self.got: dict[str, list[Received]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closers: list[Any] = []

    # ---------------------------------------------------------------- per broker
    async def open(self) -> None:
        if self.kind == "redis":
            import redis.asyncio as aioredis

            self.redis: Any = aioredis.Redis.from_url(self.broker["url"])
            self._closers.append(self.redis.aclose)
        elif self.kind == "amqp":
            import aio_pika

            self.conn: Any = await aio_pika.connect(self.broker["url"], timeout=5)
            self._closers.append(self.conn.close)
            self.channel: Any = await self.conn.channel()
            self.exchange: Any = await self.channel.declare_exchange(self.broker["exchange"],
                                                                     aio_pika.ExchangeType.TOPIC, durable=True)
            self.queue: Any = await self.channel.declare_queue("", exclusive=True, auto_delete=True)

            async def take(msg: Any) -> None:
                headers = {k: _text(v) for k, v in (msg.headers or {}).items()}
                self.got.setdefault(msg.routing_key, []).append(Received(bytes(msg.body), headers))

            await self.queue.consume(take, no_ack=True)
        else:
            self.mqtt: Any = _mqtt_client(self.broker["url"])
            await self.mqtt.__aenter__()
            self._closers.append(lambda: self.mqtt.__aexit__(None, None, None))

            async def take_all() -> None:
                async for msg in self.mqtt.messages:
                    user = getattr(msg.properties, "UserProperty", None) or []
                    subject = msg.topic.value.replace("/", ".")
                    self.got.setdefault(subject, []).append(Received(bytes(msg.payload), dict(user)))

            self._tasks.append(asyncio.create_task(take_all()))

    async def watch(self, subject: str) -> None:
        """Starts collecting what is published to `subject` from now on."""
        self.got.setdefault(subject, [])
        if self.kind == "amqp":
            await self.queue.bind(self.exchange, routing_key=subject)
        elif self.kind == "mqtt":
            await self.mqtt.subscribe(subject.replace(".", "/"), qos=1)  # the documented mapping

    async def publish(self, subject: str, payload: bytes) -> None:
        if self.kind == "redis":
            await self.redis.xadd(stream(subject), {"payload": payload})
        elif self.kind == "amqp":
            import aio_pika

            await self.exchange.publish(aio_pika.Message(payload), routing_key=subject)
        else:
            await self.mqtt.publish(subject.replace(".", "/"), payload, qos=1)

    async def _poll_redis(self, subject: str) -> None:
        entries = await self.redis.xrange(stream(subject))
        found = []
        for _, fields in entries:
            fields = {_text(k): v for k, v in fields.items()}
            payload = bytes(fields.pop("payload", b""))
            found.append(Received(payload, {k: _text(v) for k, v in fields.items()}))
        self.got[subject] = found

    async def wait(self, subject: str, count: int, timeout: float = 30) -> list[Received]:
        for _ in range(int(timeout * 20)):
            if self.kind == "redis":
                await self._poll_redis(subject)
            if len(self.got[subject]) >= count:
                return self.got[subject]
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.got[subject])} of {count} message(s) on {subject} within {timeout} s")

    async def ready(self, host: dict[str, Any], subject: str, timeout: float = 30) -> None:
        """Waits until the host consumes `subject` for the function (a message published before is lost on
        AMQP and MQTT, which keep nothing for a queue or subscription that does not exist yet)."""
        durable = durable_name(FUNCTION, MessageTrigger("events", subject))
        deadline = time.monotonic() + timeout
        line = f"consuming {subject} on events for {FUNCTION}"
        while line not in host["log"].read_text(errors="replace"):
            assert time.monotonic() < deadline, f"the host never started consuming {subject}"
            await asyncio.sleep(0.1)
        while True:
            if self.kind == "redis":
                import redis

                with contextlib.suppress(redis.ResponseError):
                    if any(_text(g["name"]) == durable for g in await self.redis.xinfo_groups(stream(subject))):
                        return
            elif self.kind == "amqp":
                channel = await self.conn.channel()  # a passive declare of a missing queue closes its channel
                with contextlib.suppress(Exception):
                    declared = await channel.declare_queue(durable, passive=True)
                    if declared.declaration_result.consumer_count >= 1:
                        return
                with contextlib.suppress(Exception):
                    await channel.close()
            else:
                await asyncio.sleep(1.5)  # a subscription cannot be seen from outside: connecting takes far less
                return
            assert time.monotonic() < deadline, f"the host's consumer of {subject} never appeared"
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                await close()


def stream(subject: str) -> str:
    """The Redis stream of a subject on source `events` (docs/events.md)."""
    return f"wasmlet-messaging:events:{subject}"


async def _cleanup(broker: dict[str, str]) -> None:
    """Removes every stream, queue and exchange the run created (MQTT keeps nothing once the host's sessions end)."""
    prefix = broker["prefix"]
    if broker["kind"] == "redis":
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(broker["url"])
        keys = [key async for key in r.scan_iter(match=stream(f"{prefix}.*"))]
        if keys:
            await r.delete(*keys)
        await r.aclose()
    elif broker["kind"] == "amqp":
        import aio_pika

        conn = await aio_pika.connect(broker["url"], timeout=5)
        durable = durable_name(FUNCTION, MessageTrigger("events", f"{prefix}.orders.created"))
        for name in (durable, f"{durable}.retry.200"):
            channel = await conn.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
        channel = await conn.channel()
        with contextlib.suppress(Exception):
            await channel.exchange_delete(broker["exchange"])
        await conn.close()
    else:  # the host's session (kept for a restart to resume): replaced by one that ends at once
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        from wasmlet.events.mqtt import client_id

        durable = durable_name(FUNCTION, MessageTrigger("events", f"{prefix}.orders.created"))
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        async with _mqtt_client(broker["url"], identifier=client_id(durable, 0), clean_start=True, properties=props):
            pass


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module", params=sorted(SERVICES))
def broker(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """One broker (skipped when unreachable, failed in CI) and names of this run's own, removed afterwards."""
    kind = request.param
    name, url, probe = SERVICES[kind]
    reachable(name, url, probe)
    tag = secrets.token_hex(4)
    found = {"kind": kind, "url": url, "prefix": f"t{tag}", "exchange": f"wasmlet-test-{tag}"}
    yield found
    asyncio.run(_cleanup(found))


@pytest.fixture(scope="module")
def host(broker: dict[str, str], probe_wasm: dict[str, Path],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`wasmlet serve` with `[messaging.events]` on the broker, and the Rust probe subscribed to
    `<prefix>.orders.created`."""
    tmp = tmp_path_factory.mktemp(f"events-{broker['kind']}")
    source = f'[messaging.events]\ntype = "{broker["kind"]}"\nurl = "{broker["url"]}"\n'
    if broker["kind"] == "amqp":
        source += f'exchange = "{broker["exchange"]}"\n'
    (tmp / "wasmlet.toml").write_text(source)
    port, admin = free_port(), free_port()
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}", "--data-dir",
            str(tmp / "data"), "--config", str(tmp / "wasmlet.toml")]
    prefix = broker["prefix"]
    manifest = (f'[messaging]\npublish = ["events:{prefix}.>"]\n'
                f'[[triggers.message]]\nsource = "events"\nsubject = "{prefix}.orders.created"\nmax_attempts = 3\n'
                f'backoff = "200ms"\ndead_letter = "{prefix}.dead"\n')
    with running(args, f"http://127.0.0.1:{port}/_wasmlet/health", tmp / "serve.log",
                 env={"WASMLET_ADMIN_TOKEN": TOKEN}) as proc:
        with httpx.Client(base_url=f"http://127.0.0.1:{admin}", headers={"authorization": f"Bearer {TOKEN}"},
                          timeout=120) as client:
            resp = client.post(f"/v1/functions/{FUNCTION}/versions", data={"manifest": manifest},
                               files={"component": ("c.wasm", probe_wasm["rust"].read_bytes(), "application/wasm")})
            assert resp.status_code == 201, resp.text
            yield {"proc": proc, "log": tmp / "serve.log", "subject": f"{prefix}.orders.created"}


@pytest.fixture
async def inbox(broker: dict[str, str]) -> AsyncIterator[Inbox]:
    box = Inbox(broker)
    await box.open()
    try:
        yield box
    finally:
        await box.close()


@pytest.mark.anyio
async def test_a_message_runs_the_function_which_publishes_its_reply_byte_for_byte(
        anyio_backend: str, broker: dict[str, str], host: dict[str, Any], inbox: Inbox) -> None:
    subject = host["subject"]
    await inbox.watch(f"{subject}.reply")
    await inbox.ready(host, subject)
    await inbox.publish(subject, EVERY_BYTE)
    (reply,) = await inbox.wait(f"{subject}.reply", 1)
    assert reply.payload == EVERY_BYTE
    assert reply.headers["attempt"] == "1" and reply.headers["id"]


@pytest.mark.anyio
async def test_a_trapping_function_is_retried_then_dead_lettered_and_a_4xx_at_once(
        anyio_backend: str, broker: dict[str, str], host: dict[str, Any], inbox: Inbox) -> None:
    subject, dead = host["subject"], f"{broker['prefix']}.dead"
    await inbox.watch(dead)
    await inbox.ready(host, subject)
    started = time.monotonic()
    await inbox.publish(subject, b"trap")
    (letter,) = await inbox.wait(dead, 1)
    assert letter.payload == b"trap" and letter.headers["wasmlet-function"] == FUNCTION
    assert letter.headers["wasmlet-subject"] == subject
    assert letter.headers["wasmlet-attempts"] == "3", letter.headers
    assert letter.headers["wasmlet-reason"].startswith("500"), letter.headers
    assert time.monotonic() - started >= 0.4  # two backoffs of 200 ms
    await inbox.publish(subject, b"reject")
    rejected = (await inbox.wait(dead, 2))[1]
    assert rejected.payload == b"reject" and rejected.headers["wasmlet-attempts"] == "1"
    assert rejected.headers["wasmlet-reason"].startswith("400")


@pytest.mark.parametrize(("table", "error"), [
    ({"type": "redis", "url": "redis://127.0.0.1:6379/0", "stream": "X"},
     "messaging.events.stream: unknown key for type 'redis' (expected type, url, max_length)"),
    ({"type": "amqp", "url": "nats://127.0.0.1:4222"}, "messaging.events.url: expected the server's URL (amqp://"),
    ({"type": "amqp", "url": "amqp://127.0.0.1/", "exchange": "amq.topic"}, "messaging.events.exchange: expected"),
    ({"type": "mqtt", "url": "mqtt://127.0.0.1:1883", "exchange": "x"},
     "messaging.events.exchange: unknown key for type 'mqtt' (expected type, url)"),
    ({"type": "redis", "url": "redis://127.0.0.1:6379/0", "max_length": 0}, "messaging.events.max_length: expected"),
    ({"type": "kafka", "url": "kafka://127.0.0.1"}, "messaging.events.type: expected one of nats, redis, amqp, mqtt"),
])
def test_a_source_table_with_a_wrong_key_or_value_is_refused_in_one_line(
        tmp_path: Path, table: dict[str, Any], error: str) -> None:
    from wasmlet.capabilities.backends import BackendConfigError, Backends

    with pytest.raises(BackendConfigError) as refused:
        Backends(tmp_path, messaging={"events": table})
    assert str(refused.value).startswith(error) and "\n" not in str(refused.value)


@pytest.mark.anyio
async def test_a_redis_trigger_on_a_pattern_says_why_it_receives_nothing(
        anyio_backend: str, caplog: pytest.LogCaptureFixture) -> None:
    from wasmlet.events.redis import RedisSource

    async def handle(_: Any) -> None:
        raise AssertionError("nothing is delivered")

    with anyio.move_on_after(0.3):
        await RedisSource("events", "redis://127.0.0.1:1/0").consume("orders.*", "d", "q", 3, 5.0, 1, handle)
    assert "a Redis stream is one exact subject, not a pattern" in caplog.text
