"""The ASGI host in-process, with httpx, on asyncio and on trio."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import httpx
import pytest

from wasmlet._logging import JsonFormatter
from wasmlet.asgi import Host, HostSettings
from wasmlet.capabilities.backends import Backends
from wasmlet.manifest import Grants, Manifest
from wasmlet.registry import MemoryRegistry
from wasmlet.runtime import Runtime

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_host(runtime: Runtime, probe_wasm: dict[str, Path], **limits: int) -> Host:
    registry = MemoryRegistry()
    manifest = Manifest(**limits) if limits else Manifest()
    registry.put("probe", probe_wasm["rust"].read_bytes(), manifest)
    registry.put("pyprobe", probe_wasm["python"].read_bytes(), manifest)
    return Host(runtime, registry, HostSettings(worker_threads=4))


async def in_flight(host: Host, count: int, timeout: float = 10) -> None:
    """Waits until `count` invocations are running (the in-flight gauge), instead of a fixed sleep."""
    with anyio.fail_after(timeout):
        while f"wasmlet_invocations_in_flight {float(count)}" not in host.metrics.render().decode():
            await anyio.sleep(0.01)


def client(host: Host) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://test", timeout=30)


def assert_json_error(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status
    body = resp.json()
    assert body["status"] == status and body["request_id"] == resp.headers["x-request-id"]
    assert isinstance(body["error"], str) and body["error"]
    return dict(body)


async def test_routes_and_request_ids(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    async with client(make_host(runtime, probe_wasm)) as c:
        for version in ("latest", "dev"):
            resp = await c.get(f"/probe/{version}/hello")
            assert resp.status_code == 200 and resp.text == "hello from rust"
            assert len(resp.headers["x-request-id"]) == 32
        info = await c.post("/pyprobe/latest/info?x=1&y=2", content=b"body")
        assert info.text == "POST /info ?x=1&y=2 mount=/pyprobe/latest"
        root = await c.get("/probe/latest/")
        assert root.status_code == 404 and root.text == "no such probe"  # reached the guest with path "/"
        bare = await c.get("/probe/latest?x=1")  # relative links need the trailing slash: redirected there
        assert bare.status_code == 308 and bare.headers["location"] == "/probe/latest/?x=1"
        assert bare.json()["request_id"] == bare.headers["x-request-id"]
        assert (await c.post("/probe/v9")).status_code == 404  # unknown versions are not redirected
        ids = {(await c.get("/probe/latest/hello")).headers["x-request-id"] for _ in range(5)}
        assert len(ids) == 5


async def test_headers_reach_the_guest_lower_cased_with_duplicates(runtime: Runtime,
                                                                   probe_wasm: dict[str, Path]) -> None:
    async with client(make_host(runtime, probe_wasm)) as c:
        resp = await c.post("/probe/latest/echo", content=b"\x00\xffbinary",
                            headers=[("X-Multi", "one"), ("x-multi", "two"), ("X-Other", "Three")])
        assert resp.content == b"\x00\xffbinary"
        assert resp.headers.get_list("x-multi") == ["one", "two"]
        assert resp.headers["x-other"] == "Three"


async def test_unknown_function_and_version_are_404_json(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    async with client(make_host(runtime, probe_wasm)) as c:
        assert_json_error(await c.get("/nope/latest/hello"), 404)
        assert_json_error(await c.get("/probe/v9/hello"), 404)
        assert_json_error(await c.get("/"), 404)


async def test_body_over_limit_is_413(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    async with client(make_host(runtime, probe_wasm, max_body_bytes=1000)) as c:
        assert (await c.post("/probe/latest/echo", content=b"x" * 1000)).status_code == 200
        assert_json_error(await c.post("/probe/latest/echo", content=b"x" * 1001), 413)

        async def chunks() -> object:  # no content-length: refused while streaming
            for _ in range(100):
                yield b"y" * 100

        assert_json_error(await c.post("/probe/latest/echo", content=chunks()), 413)


@pytest.mark.parametrize("fn", ["probe", "pyprobe"])
async def test_trap_is_500_timeout_504_bad_response_502(runtime: Runtime, probe_wasm: dict[str, Path],
                                                        fn: str) -> None:
    async with client(make_host(runtime, probe_wasm, timeout_ms=300)) as c:
        assert "failed" in str(assert_json_error(await c.get(f"/{fn}/latest/panic"), 500)["error"])
        assert "timed out" in str(assert_json_error(await c.get(f"/{fn}/latest/loop"), 504)["error"])
        assert "invalid status 42" in str(assert_json_error(await c.get(f"/{fn}/latest/bad-status"), 502)["error"])
        assert "invalid value" in str(assert_json_error(await c.get(f"/{fn}/latest/bad-header"), 502)["error"])
        assert (await c.get(f"/{fn}/latest/hello")).status_code == 200


async def test_slow_guest_does_not_stall_others(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    host = make_host(runtime, probe_wasm, timeout_ms=2000)
    async with client(host) as c:
        results: dict[str, float] = {}

        async def slow() -> None:
            resp = await c.get("/probe/latest/loop")
            results["slow_status"] = resp.status_code

        start = time.monotonic()  # before the slow request: a host that ran it on the loop could not hide it
        async with anyio.create_task_group() as tg:
            tg.start_soon(slow)
            await in_flight(host, 1)  # the loop is running in a worker thread now
            resp = await c.get("/probe/latest/hello")
            results["hello"] = time.monotonic() - start
            assert resp.status_code == 200
        assert results["hello"] < 0.3 + 0.5, f"hello answered {results['hello']:.1f}s after the slow request began"
        assert results["slow_status"] == 504


async def test_over_the_concurrency_cap_is_503_with_retry_after(runtime: Runtime,
                                                                probe_wasm: dict[str, Path]) -> None:
    host = make_host(runtime, probe_wasm, timeout_ms=1000, max_concurrency=1)
    async with client(host) as c:
        async with anyio.create_task_group() as tg:
            tg.start_soon(c.get, "/probe/latest/loop")
            await in_flight(host, 1)
            resp = await c.get("/probe/latest/hello")
            assert_json_error(resp, 503)
            assert resp.headers["retry-after"] == "1"
        assert (await c.get("/probe/latest/hello")).status_code == 200


async def test_health_and_metrics(probe_wasm: dict[str, Path], tmp_path: Path) -> None:
    from wasmlet import Engine

    with Engine(cache_dir=tmp_path) as engine:  # an empty compile cache: the first request is a cold start
        await _health_and_metrics(Runtime(engine), probe_wasm)


async def _health_and_metrics(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    host = make_host(runtime, probe_wasm, timeout_ms=1000)
    async with client(host) as c:
        assert (await c.get("/_wasmlet/health")).json() == {"status": "ok"}
        assert_json_error(await c.get("/_wasmlet/metrics"), 404)  # not public unless public_metrics
        await c.get("/probe/latest/hello")
        await c.get("/probe/latest/panic")
        await c.get("/nope/latest/x")
        text = host.metrics.render().decode()  # what the admin API's /metrics serves
        assert 'wasmlet_requests_total{function="probe",status="200",version="dev"} 1.0' in text
        assert 'wasmlet_requests_total{function="probe",status="500",version="dev"} 1.0' in text
        assert 'function="nope"' not in text
        assert "wasmlet_request_seconds_bucket" in text
        assert "wasmlet_invocations_in_flight 0.0" in text
        assert 'wasmlet_cold_starts_total{function="probe"} 1.0' in text  # compiled once, then from memory
        async with anyio.create_task_group() as tg:  # one invocation running: the gauge says so
            tg.start_soon(c.get, "/probe/latest/loop")
            await in_flight(host, 1)  # the gauge says so (or this times out)
        assert "wasmlet_invocations_in_flight 0.0" in host.metrics.render().decode()


async def test_json_access_log(runtime: Runtime, probe_wasm: dict[str, Path],
                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="wasmlet.access")
    registry = MemoryRegistry()
    registry.put("probe", probe_wasm["rust"].read_bytes())
    host = Host(runtime, registry, HostSettings())
    async with client(host) as c:
        resp = await c.get("/probe/latest/hello?a=b")
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "wasmlet.access"]
    assert lines[-1]["status"] == 200 and lines[-1]["target"] == "/probe/latest/hello?a=b"
    assert lines[-1]["request_id"] == resp.headers["x-request-id"] and lines[-1]["function"] == "probe"


async def test_slow_effect_free_guest_is_moved_off_the_loop_and_counted_once(
        runtime: Runtime, hostile_wasm: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="wasmlet.guest")
    registry = MemoryRegistry()
    registry.put("spinner", hostile_wasm.read_bytes())  # Rust, no WASI: may try the loop
    host = Host(runtime, registry, HostSettings(inline_budget_ms=10, inline_strikes=1))
    async with client(host) as c:
        # the inline attempt (30 ms of work on an AMD EPYC, more on a Xeon) runs past 10 ms,
        # is thrown away and runs again in a worker thread
        resp = await c.get("/spinner/latest/spin?n=60&log=1")
        assert resp.status_code == 200 and resp.text.startswith("spun 60 million rounds")
        # what the discarded attempt logged is gone: the line appears once, from the real run
        assert [r.getMessage() for r in caplog.records].count("spinning 60 million rounds") == 1
        metrics = host.metrics.render().decode()
        assert 'wasmlet_inline_overruns_total{function="spinner"} 1.0' in metrics
        # one strike: the next slow call goes straight to a thread, with no second attempt
        assert (await c.get("/spinner/latest/spin?n=60")).text.startswith("spun 60 million rounds")
        metrics = host.metrics.render().decode()
        assert 'wasmlet_inline_overruns_total{function="spinner"} 1.0' in metrics


async def test_guests_with_wasi_never_run_on_the_loop(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    """A WASI guest can block inside WASI (a clock subscription) where no deadline reaches it."""
    registry = MemoryRegistry()
    registry.put("pyprobe", probe_wasm["python"].read_bytes())
    host = Host(runtime, registry, HostSettings(inline_budget_ms=10))
    async with client(host) as c:
        assert (await c.get("/pyprobe/latest/spin?ms=60")).text == "spun 60 ms"
        metrics = host.metrics.render().decode()
        assert 'wasmlet_inline_overruns_total{function="pyprobe"}' not in metrics  # no attempt was made


async def test_functions_with_effects_never_run_on_the_loop(runtime: Runtime, probe_wasm: dict[str, Path],
                                                            tmp_path: Path) -> None:
    registry = MemoryRegistry()
    registry.put("pyprobe", probe_wasm["python"].read_bytes(), Manifest(grants=Grants(kv=("default",))))
    host = Host(runtime, registry, HostSettings(inline_budget_ms=10), Backends(tmp_path))
    async with client(host) as c:
        assert (await c.get("/pyprobe/latest/spin?ms=60")).text == "spun 60 ms"
        metrics = host.metrics.render().decode()
        assert 'wasmlet_inline_overruns_total{function="pyprobe"}' not in metrics  # no attempt was made


async def test_access_log_can_be_turned_off(runtime: Runtime, probe_wasm: dict[str, Path],
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="wasmlet.access")
    registry = MemoryRegistry()
    registry.put("probe", probe_wasm["rust"].read_bytes())
    async with client(Host(runtime, registry, HostSettings(access_log=False))) as c:
        assert (await c.get("/probe/latest/hello")).status_code == 200
    assert not [r for r in caplog.records if r.name == "wasmlet.access"]


async def test_large_binary_bodies_are_handed_over_off_the_loop_only_to_0_1_0_guests(
        runtime: Runtime, hostile_wasm: Path) -> None:
    old_probe = Path(__file__).resolve().parents[1] / "fixtures" / "contract-0.1.0" / "probe-rust.wasm"
    registry = MemoryRegistry()
    registry.put("spinner", hostile_wasm.read_bytes())
    registry.put("old", old_probe.read_bytes())
    host = Host(runtime, registry, HostSettings(inline_budget_ms=10))
    binary = bytes(range(256)) * 4096  # 1 MiB, not UTF-8
    async with client(host) as c:
        # to a 0.1.0 guest it crosses as list<u8> (~0.1 s per MB): straight to a thread, never an overrun
        assert (await c.post("/old/latest/echo", content=binary)).content == binary
        assert 'wasmlet_inline_overruns_total{function="old"}' not in host.metrics.render().decode()
        # to a 0.2.0 guest it is one `octets` string: tried on the loop like text (this slow call overruns there)
        assert (await c.post("/spinner/latest/spin?n=60", content=binary)).text.startswith("spun 60")
        assert 'wasmlet_inline_overruns_total{function="spinner"} 1.0' in host.metrics.render().decode()




async def test_pooled_instances_start_fresh_and_a_full_pool_is_a_503(hostile_wasm: Path, probe_wasm: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    """The instance pool `serve` uses by default: a slot's memory is kept resident and reset for the
    next instance (module state never survives), and when every slot is taken the request is
    refused with 503 and Retry-After, not a 500."""
    from wasmlet import Engine, EngineSettings

    settings = EngineSettings(pooling_instances=1, pooling_keep_resident_mb=32, pooling_warm_slots=1)
    with Engine(settings, cache_dir=tmp_path) as engine:
        registry = MemoryRegistry()
        registry.put("spinner", hostile_wasm.read_bytes())
        registry.put("pyprobe", probe_wasm["python"].read_bytes())
        host = Host(Runtime(engine), registry, HostSettings(dispatch="thread", worker_threads=4))
        async with client(host) as c:
            for _ in range(5):  # the same slot, reused: its static counter starts from the image each time
                assert (await c.get("/spinner/latest/count")).text == "1"
            assert (await c.get("/pyprobe/latest/hello")).text == "hello from python"  # a Python guest in that slot
            assert (await c.get("/spinner/latest/count")).text == "1"
            async with anyio.create_task_group() as tg:
                async def slow() -> None:
                    assert (await c.get("/spinner/latest/spin?n=1000")).status_code == 200

                tg.start_soon(slow)
                await in_flight(host, 1)
                await anyio.sleep(0.05)  # the spinner holds the only slot
                busy = await c.get("/pyprobe/latest/hello")  # another function: a thread is free, a slot is not
                assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
                assert "instance slot" in busy.json()["error"]
            assert (await c.get("/spinner/latest/hello")).status_code == 200  # the slot is back
