"""Message triggers on real NATS JetStream, through a real `wasmlet serve`: a published message runs
the function, which publishes its reply through the `messaging` hostcall; a trapping function's
message is redelivered up to its attempts, then dead-lettered with the reason; a 4xx dead-letters at
once; a publish the manifest does not grant is denied and reaches no subscriber; deploys with
triggers the host or the component cannot serve are refused (422)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from guests import ROOT
from servers import free_port, running

TOKEN = "events-test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def names(nats_url: str) -> Iterator[dict[str, str]]:
    """A stream and a subject prefix of this test run's own, deleted afterwards."""
    tag = secrets.token_hex(4)
    found = {"stream": f"WASMLET_TEST_{tag}", "prefix": f"t{tag}"}
    yield found

    async def cleanup() -> None:
        import nats

        nc = await nats.connect(nats_url)
        try:
            await nc.jetstream().delete_stream(found["stream"])
        except Exception:
            pass
        await nc.close()

    asyncio.run(cleanup())


@pytest.fixture(scope="module")
def host(names: dict[str, str], probe_wasm: dict[str, Path], nats_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("events")
    prefix = names["prefix"]
    (tmp / "wasmlet.toml").write_text(
        f'[messaging.events]\ntype = "nats"\nurl = "{nats_url}"\nstream = "{names["stream"]}"\n'
        f'subjects = ["{prefix}.orders.>", "{prefix}.other"]\n')
    port, admin = free_port(), free_port()
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}", "--data-dir",
            str(tmp / "data"), "--config", str(tmp / "wasmlet.toml")]
    with running(args, f"http://127.0.0.1:{port}/_wasmlet/health", tmp / "serve.log",
                 env={"WASMLET_ADMIN_TOKEN": TOKEN}) as proc:
        client = httpx.Client(base_url=f"http://127.0.0.1:{admin}", headers={"authorization": f"Bearer {TOKEN}"},
                              timeout=120)
        yield {"admin": client, "proc": proc, "log": tmp / "serve.log", "base": f"http://127.0.0.1:{port}"}
        client.close()


def deploy(host: dict[str, Any], name: str, wasm: Path, manifest: str) -> httpx.Response:
    return host["admin"].post(f"/v1/functions/{name}/versions", data={"manifest": manifest},
                              files={"component": ("c.wasm", wasm.read_bytes(), "application/wasm")})


def manifest(prefix: str, subject: str, publish: str) -> str:
    return (f'[messaging]\npublish = ["events:{publish}"]\n'
            f'[[triggers.message]]\nsource = "events"\nsubject = "{subject}"\nmax_attempts = 3\n'
            f'backoff = "200ms"\ndead_letter = "{prefix}.dead"\n')


class Inbox:
    """Core-NATS subscriptions collecting what arrives on some subjects."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.got: dict[str, list[Any]] = {}

    async def watch(self, subject: str) -> None:
        self.got[subject] = []

        async def take(msg: Any) -> None:
            self.got[subject].append(msg)

        await self.nc.subscribe(subject, cb=take)

    async def wait(self, subject: str, count: int, timeout: float = 30) -> list[Any]:
        for _ in range(int(timeout * 20)):
            if len(self.got[subject]) >= count:
                return self.got[subject]
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.got[subject])} of {count} message(s) on {subject} within {timeout} s")


@pytest.fixture
async def inbox(nats_url: str) -> AsyncIterator[Inbox]:
    import nats

    nc = await nats.connect(nats_url)
    try:
        yield Inbox(nc)
    finally:
        await nc.close()


@pytest.mark.anyio
@pytest.mark.parametrize("lang", ["rust", "python"])
async def test_a_message_runs_the_function_which_publishes_its_reply(
        anyio_backend: str, host: dict[str, Any], names: dict[str, str], probe_wasm: dict[str, Path],
        inbox: Inbox, lang: str) -> None:
    prefix = names["prefix"]
    subject = f"{prefix}.orders.{lang}"
    resp = deploy(host, f"consumer-{lang}", probe_wasm[lang], manifest(prefix, subject, f"{prefix}.orders.>"))
    assert resp.status_code == 201, resp.text
    await inbox.watch(f"{subject}.reply")
    js = inbox.nc.jetstream()
    await asyncio.sleep(2.5)  # the runner looks at the registry every second
    payload = bytes(range(256)).decode("latin-1").encode("latin-1")  # every byte value, both ways
    ack = await js.publish(subject, payload, headers={"Nats-Msg-Id": f"m-{lang}"})
    assert ack.stream == names["stream"]
    (reply,) = await inbox.wait(f"{subject}.reply", 1)
    assert reply.data == payload
    assert reply.headers["attempt"] == "1" and reply.headers["id"] == f"m-{lang}"


@pytest.mark.anyio
async def test_a_trapping_function_is_retried_then_dead_lettered_with_the_reason(
        anyio_backend: str, host: dict[str, Any], names: dict[str, str], probe_wasm: dict[str, Path],
        inbox: Inbox) -> None:
    prefix = names["prefix"]
    subject = f"{prefix}.orders.trapping"
    assert deploy(host, "trapping", probe_wasm["rust"], manifest(prefix, subject, f"{prefix}.orders.>")).status_code == 201
    await inbox.watch(f"{prefix}.dead")
    await asyncio.sleep(2.5)
    await inbox.nc.jetstream().publish(subject, b"trap")
    dead = [m for m in await inbox.wait(f"{prefix}.dead", 1) if m.headers.get("wasmlet-function") == "trapping"]
    assert dead and dead[0].data == b"trap"
    assert dead[0].headers["wasmlet-attempts"] == "3" and dead[0].headers["wasmlet-reason"].startswith("500")
    await inbox.nc.jetstream().publish(subject, b"reject")  # 4xx: at once, no retries
    for _ in range(200):
        rejected = [m for m in inbox.got[f"{prefix}.dead"] if m.data == b"reject"]
        if rejected:
            break
        await asyncio.sleep(0.05)
    assert rejected and rejected[0].headers["wasmlet-attempts"] == "1"
    assert rejected[0].headers["wasmlet-reason"].startswith("400")


@pytest.mark.anyio
async def test_a_publish_the_manifest_does_not_grant_reaches_nobody(
        anyio_backend: str, host: dict[str, Any], names: dict[str, str], probe_wasm: dict[str, Path],
        inbox: Inbox) -> None:
    prefix = names["prefix"]
    subject = f"{prefix}.other"  # its reply subject, other.reply, is not under the grant
    assert deploy(host, "ungranted", probe_wasm["rust"], manifest(prefix, subject, f"{prefix}.orders.>")).status_code == 201
    await inbox.watch(f"{subject}.reply")
    await inbox.watch(f"{prefix}.dead")
    await asyncio.sleep(2.5)
    await inbox.nc.jetstream().publish(subject, b"hello")
    dead = [m for m in await inbox.wait(f"{prefix}.dead", 1) if m.headers.get("wasmlet-function") == "ungranted"]
    assert dead[0].headers["wasmlet-reason"].startswith("403") and "not granted" in dead[0].headers["wasmlet-reason"]
    assert inbox.got[f"{subject}.reply"] == []


def test_deploys_with_triggers_the_host_cannot_serve_are_refused(
        host: dict[str, Any], names: dict[str, str], probe_wasm: dict[str, Path]) -> None:
    prefix = names["prefix"]
    unknown = deploy(host, "nosource", probe_wasm["rust"],
                     f'[[triggers.message]]\nsource = "elsewhere"\nsubject = "{prefix}.x"\n')
    assert unknown.status_code == 422 and "'elsewhere' is not configured" in unknown.json()["error"]
    old = ROOT / "tests" / "fixtures" / "contract-0.2.0" / "probe-rust.wasm"
    legacy = deploy(host, "legacy", old, manifest(prefix, f"{prefix}.orders.legacy", f"{prefix}.orders.>"))
    assert legacy.status_code == 422 and "0.3.0 or later" in legacy.json()["error"]
    bad = deploy(host, "badsubject", probe_wasm["rust"], '[[triggers.message]]\nsource = "events"\nsubject = "a..b"\n')
    assert bad.status_code == 422 and "empty token" in bad.json()["error"]


@pytest.mark.anyio
async def test_a_schedule_fires_once_per_due_time_across_two_hosts(
        anyio_backend: str, names: dict[str, str], probe_wasm: dict[str, Path], nats_url: str, inbox: Inbox,
        tmp_path: Path) -> None:
    """Two hosts with the same function and schedule, coordinated through NATS: every due time runs
    exactly once (JetStream drops the second host's copy of each due time's id)."""
    group = f"{names['stream']}_S"
    schedule = f"s{names['prefix']}"
    config = (f'[server]\nschedule_source = "events"\n[messaging.events]\ntype = "nats"\nurl = "{nats_url}"\n'
              f'stream = "{group}"\nsubjects = ["{names["prefix"]}.grouped.>"]\n')
    manifest_text = (f'[messaging]\npublish = ["events:schedules.fired"]\n'
                     f'[[triggers.schedule]]\nname = "{schedule}"\nevery = "1s"\n')
    await inbox.watch("schedules.fired")
    with contextlib.ExitStack() as hosts:
        for i in range(2):
            (tmp_path / f"h{i}").mkdir()
            (tmp_path / f"h{i}" / "wasmlet.toml").write_text(config)
            port, admin = free_port(), free_port()
            hosts.enter_context(running(
                ["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}", "--data-dir",
                 str(tmp_path / f"h{i}" / "data"), "--config", str(tmp_path / f"h{i}" / "wasmlet.toml")],
                f"http://127.0.0.1:{port}/_wasmlet/health", tmp_path / f"h{i}" / "serve.log",
                env={"WASMLET_ADMIN_TOKEN": TOKEN}))
            resp = httpx.post(f"http://127.0.0.1:{admin}/v1/functions/ticker/versions", data={"manifest": manifest_text},
                              files={"component": ("c.wasm", probe_wasm["rust"].read_bytes(), "application/wasm")},
                              headers={"authorization": f"Bearer {TOKEN}"}, timeout=120)
            assert resp.status_code == 201, resp.text
        def fired_now() -> list[int]:
            return [int(m.data.decode().split()[1]) for m in inbox.got["schedules.fired"]
                    if m.data.decode().split()[0] == schedule]

        for _ in range(300):  # at least four due times, within 30 s
            if len(fired_now()) >= 4:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # a duplicate of the last one would have arrived by now
    fired = fired_now()
    try:
        assert len(fired) >= 3, fired
        assert len(fired) == len(set(fired)), f"a due time ran twice: {sorted(fired)}"
        assert all(due % 1000 == 0 for due in fired)
    finally:
        import nats

        nc = await nats.connect(nats_url)
        for stream in (f"{group}_SCHEDULES", group):
            try:
                await nc.jetstream().delete_stream(stream)
            except Exception:
                pass
        await nc.close()


@pytest.mark.anyio
async def test_a_flood_on_one_subject_does_not_starve_http(
        anyio_backend: str, host: dict[str, Any], names: dict[str, str], probe_wasm: dict[str, Path],
        inbox: Inbox) -> None:
    """300 messages for a Python function at once: HTTP requests to another function keep being answered
    (the consumer takes only what its share of the worker threads can run), and every message is handled."""
    prefix = names["prefix"]
    subject = f"{prefix}.orders.flood"
    assert deploy(host, "flooded", probe_wasm["python"], manifest(prefix, subject, f"{prefix}.orders.>")).status_code == 201
    assert deploy(host, "web", probe_wasm["rust"], "").status_code == 201
    await inbox.watch(f"{subject}.reply")
    await asyncio.sleep(2.5)
    js = inbox.nc.jetstream()
    await asyncio.gather(*(js.publish(subject, f"m{i}".encode()) for i in range(300)))
    async with httpx.AsyncClient(base_url=f"{host['base']}/web/latest", timeout=10) as web:
        answers = []
        for _ in range(40):
            answers.append((await web.get("/hello")).status_code)
            await asyncio.sleep(0.05)
    assert answers == [200] * 40
    replies = await inbox.wait(f"{subject}.reply", 300, timeout=120)
    assert sorted({m.data for m in replies}) == sorted(f"m{i}".encode() for i in range(300))


@pytest.mark.anyio
async def test_a_host_killed_mid_stream_loses_no_message(
        anyio_backend: str, names: dict[str, str], probe_wasm: dict[str, Path], nats_url: str, inbox: Inbox,
        tmp_path: Path) -> None:
    """Messages queued and in flight when a host is killed with -9 are all handled after another host
    starts (at least once: a message the dead host had run but not acknowledged may run twice)."""
    prefix = names["prefix"]
    subject = f"{prefix}.orders.killed"
    config = (f'[messaging.events]\ntype = "nats"\nurl = "{nats_url}"\nstream = "{names["stream"]}"\n'
              f'subjects = ["{prefix}.orders.>", "{prefix}.other"]\n')
    manifest_text = manifest(prefix, subject, f"{prefix}.orders.>") + "[limits]\ntimeout_ms = 2000\n"
    await inbox.watch(f"{subject}.reply")

    @contextlib.contextmanager
    def host_at(name: str) -> Iterator[Any]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "wasmlet.toml").write_text(config)
        port, admin = free_port(), free_port()
        with running(["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}", "--data-dir",
                      str(tmp_path / name / "data"), "--config", str(tmp_path / name / "wasmlet.toml")],
                     f"http://127.0.0.1:{port}/_wasmlet/health", tmp_path / name / "serve.log",
                     env={"WASMLET_ADMIN_TOKEN": TOKEN}) as proc:
            resp = httpx.post(f"http://127.0.0.1:{admin}/v1/functions/killed/versions",
                              data={"manifest": manifest_text}, headers={"authorization": f"Bearer {TOKEN}"},
                              files={"component": ("c.wasm", probe_wasm["python"].read_bytes(), "application/wasm")},
                              timeout=120)
            assert resp.status_code == 201, resp.text
            yield proc

    sent = [f"k{i}".encode() for i in range(60)]
    with host_at("first") as first:
        await asyncio.sleep(2.5)
        await asyncio.gather(*(inbox.nc.jetstream().publish(subject, data) for data in sent))
        for _ in range(200):  # kill it while it is working through them
            if inbox.got[f"{subject}.reply"]:
                break
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
    handled_before = len(inbox.got[f"{subject}.reply"])
    assert handled_before < len(sent), "the first host finished before it was killed: nothing was tested"
    with host_at("second"):
        for _ in range(600):
            if {m.data for m in inbox.got[f"{subject}.reply"]} >= set(sent):
                break
            await asyncio.sleep(0.1)
    got = [m.data for m in inbox.got[f"{subject}.reply"]]
    assert set(got) == set(sent), f"lost: {sorted(set(sent) - set(got))[:5]}"
    assert len(got) - len(sent) <= 60  # duplicates are allowed (at least once), and counted here


@pytest.mark.anyio
async def test_wasmlet_dev_runs_message_triggers_too(
        anyio_backend: str, names: dict[str, str], probe_wasm: dict[str, Path], nats_url: str, inbox: Inbox,
        tmp_path: Path) -> None:
    """`wasmlet dev` with a messaging source in wasmlet.toml consumes the triggers of the functions it serves."""
    import shutil

    prefix = names["prefix"]
    subject = f"{prefix}.orders.dev"
    (tmp_path / "wasmlet.toml").write_text(
        f'[messaging.events]\ntype = "nats"\nurl = "{nats_url}"\nstream = "{names["stream"]}"\n'
        f'subjects = ["{prefix}.orders.>", "{prefix}.other"]\n')
    shutil.copy(probe_wasm["rust"], tmp_path / "devconsumer.wasm")
    (tmp_path / "devconsumer.toml").write_text(manifest(prefix, subject, f"{prefix}.orders.>"))
    await inbox.watch(f"{subject}.reply")
    port = free_port()
    with running(["dev", "--bind", f"127.0.0.1:{port}", "-m", f"devconsumer:{tmp_path / 'devconsumer.wasm'}"],
                 f"http://127.0.0.1:{port}/_wasmlet/health", tmp_path / "dev.log", cwd=tmp_path):
        await asyncio.sleep(2.5)
        await inbox.nc.jetstream().publish(subject, b"from dev")
        (reply,) = await inbox.wait(f"{subject}.reply", 1)
    assert reply.data == b"from dev"
