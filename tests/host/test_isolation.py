"""Isolation: one function never observes or affects another except through what both were
granted — no cookies or connections shared through the host, no secrets through config,
wildcards that match whole labels only, module calls inside the caller's deadline and limits."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from wasmlet.asgi import Host
from wasmlet.bindings.faas import BodyText, OutgoingRequest, Request
from wasmlet.capabilities import InvocationContext
from wasmlet.capabilities._packed import unpack_rows
from wasmlet.capabilities.config import ConfigCalls
from wasmlet.capabilities.modules import ModulesCalls
from wasmlet.capabilities.outbound_http import OriginPattern, OutboundHttpCalls, OutboundPools
from wasmlet.manifest import Grants, Limits, Manifest, ManifestError
from wasmlet.registry import MemoryRegistry
from wasmlet.runtime import Runtime

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"




def outbound(upstream: int, function: str, pools: OutboundPools, timeout_s: float = 10) -> OutboundHttpCalls:
    ctx = InvocationContext(function, deadline=time.monotonic() + timeout_s)
    return OutboundHttpCalls(OutboundHttpCalls.parse([f"http://127.0.0.1:{upstream}"]), pools, ctx)


def get(host: OutboundHttpCalls, url: str) -> object:
    return host.send(OutgoingRequest("GET", url, [], BodyText("")))


def test_cookies_never_cross_functions_or_invocations(upstream: int) -> None:
    """A session cookie one function received used to be sent by every other function."""
    pools = OutboundPools()
    base = f"http://127.0.0.1:{upstream}"
    got = get(outbound(upstream, "alice", pools), f"{base}/set-cookie?who=alice")
    assert got.tag == "ok" and any(k == "set-cookie" for k, _ in got.value.headers)  # type: ignore[attr-defined]
    for who in ("bob", "alice"):  # another function, and the same function's next invocation
        echoed = get(outbound(upstream, who, pools), f"{base}/echo-cookie")
        assert echoed.tag == "ok" and echoed.value.body == BodyText("cookie="), who  # type: ignore[attr-defined]
    pools.close()


def test_outbound_obeys_the_invocation_deadline(upstream: int) -> None:
    """An upstream sending one byte every 0.5 s (each read quick) once held a request 35 s."""
    pools = OutboundPools()
    base = f"http://127.0.0.1:{upstream}"
    for path in ("/trickle", "/stall"):
        start = time.monotonic()
        result = get(outbound(upstream, "slow", pools, timeout_s=1.0), base + path)
        took = time.monotonic() - start
        assert result.tag == "err" and result.value.__class__.__name__ == "OutboundHttpErrorTimeout", path  # type: ignore[attr-defined]
        assert took < 1.8, f"{path} took {took:.1f}s for a 1 s deadline"
    expired = OutboundHttpCalls(OutboundHttpCalls.parse([base]), pools,
                               InvocationContext("late", deadline=time.monotonic() - 1))
    assert get(expired, f"{base}/ok").tag == "err"  # nothing is sent after the deadline
    pools.close()


def test_wildcards_match_whole_labels_only() -> None:
    p = OriginPattern.parse("https://*.example.com")
    assert p.matches("https", "api.example.com", 443) and p.matches("https", "a.b.example.com", 443)
    assert not p.matches("https", "example.com", 443) and not p.matches("https", "evilexample.com", 443)
    for bad in ("https://*example.com", "https://api.*.com", "https://ex*.com", "https://*.*.com"):
        with pytest.raises(ValueError, match="whole labels"):
            OriginPattern.parse(bad)
    with pytest.raises(ManifestError, match="whole labels"):
        Manifest.from_toml('[outbound_http]\nallowed_hosts = ["https://*example.com"]\n')


def test_wasmlet_secrets_cannot_be_granted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest could read the admin token through `config.env`."""
    monkeypatch.setenv("WASMLET_ADMIN_TOKEN", "s3cret")
    with pytest.raises(ManifestError, match="WASMLET_ADMIN_TOKEN is wasmlet's own setting"):
        Manifest.from_toml('[config]\nenv = ["WASMLET_ADMIN_TOKEN"]\n')
    stored = ConfigCalls(Grants(env=("WASMLET_ADMIN_TOKEN", "wasmlet_admin_token")))  # stored before the check
    assert stored.get("WASMLET_ADMIN_TOKEN").tag == "err"  # type: ignore[attr-defined]
    assert stored.get("wasmlet_admin_token").tag == "err"  # type: ignore[attr-defined]


class _Invoker:
    def __init__(self, body: str, sleep: float = 0.0) -> None:
        self.body, self.sleep, self.calls = body, sleep, 0

    def call_module(self, name: str, version: str, request: Request, parent: InvocationContext) -> object:
        from wasmlet.bindings.faas import Response

        self.calls += 1
        return Response(200, [], BodyText(self.body))


def test_module_call_results_and_deadlines_are_bounded() -> None:
    req = Request("GET", "/", "", [], BodyText(""), "")
    big = ModulesCalls(("callee",), _Invoker("x" * 2000), InvocationContext("caller",
                      limits=Limits(max_module_response_bytes=1000)))  # type: ignore[arg-type]
    result = big.call("callee", req)
    assert result.tag == "err" and "over the limit of 1000" in result.value.value  # type: ignore[attr-defined]
    invoker = _Invoker("ok")
    late = ModulesCalls(("callee",), invoker, InvocationContext("caller", deadline=time.monotonic() - 0.1))  # type: ignore[arg-type]
    assert late.call("callee", req).tag == "err" and invoker.calls == 0  # type: ignore[attr-defined]


async def test_module_callee_runs_inside_the_callers_deadline(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    """The callee loops forever with a 30 s timeout of its own; the caller has 1 s in all."""
    registry = MemoryRegistry()
    registry.put("caller", probe_wasm["python"].read_bytes(),
                 Manifest.from_toml('[modules]\nallowed = ["looper"]\n[limits]\ntimeout_ms = 1000\n'))
    registry.put("looper", probe_wasm["rust"].read_bytes(), Manifest.from_toml("[limits]\ntimeout_ms = 30000\n"))
    host = Host(runtime, registry)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://t", timeout=60) as c:
        assert (await c.get("/caller/latest/call?module=looper&path=/hello")).text == "200 hello from rust"
        start = time.monotonic()  # both compiled now: only the call is timed
        r = await c.get("/caller/latest/call?module=looper&path=/loop")
        took = time.monotonic() - start
    assert r.status_code in (502, 504), r.text
    assert took < 3, f"the module call ran {took:.1f}s past a 1 s deadline"


def test_a_transaction_left_open_does_not_carry_over(tmp_path: Path) -> None:
    """Invocations share a thread's connection: a BEGIN left open must end with its invocation,
    or the next function on that thread runs inside it (and sees its uncommitted rows)."""
    from wasmlet.capabilities.backends import Backends
    from wasmlet.capabilities.sql import SqlCalls

    backends = Backends(tmp_path)
    first = InvocationContext("a", deadline=time.monotonic() + 10)
    a = SqlCalls(("default",), backends.sql, first)
    assert a.execute("default", "CREATE TABLE t (v TEXT)", []).tag == "ok"  # type: ignore[attr-defined]
    assert a.execute("default", "BEGIN", []).tag == "ok"  # type: ignore[attr-defined]
    assert a.execute("default", "INSERT INTO t VALUES ('uncommitted')", []).tag == "ok"  # type: ignore[attr-defined]
    first.finish()  # the runtime does this when the invocation ends, however it ends
    b = SqlCalls(("default",), backends.sql, InvocationContext("b", deadline=time.monotonic() + 10))
    seen = b.query("default", "SELECT count(*) FROM t", [])
    assert seen.tag == "ok" and unpack_rows(seen.value.packed) == [[0]]  # type: ignore[attr-defined]
    assert b.execute("default", "INSERT INTO t VALUES ('mine')", []).tag == "ok"  # type: ignore[attr-defined]


def test_cleanup_runs_however_the_invocation_ends(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    from wasmlet import BodyText as Text
    from wasmlet import EventHttp, GuestTrap

    for path, fails in (("/hello", False), ("/panic", True)):
        ctx, called = InvocationContext("f"), []
        ctx.at_finish(lambda called=called, path=path: called.append(path))  # type: ignore[misc]
        fn = runtime.load_file(probe_wasm["rust"])
        event = EventHttp(Request("GET", path, "", [], Text(""), ""))
        if fails:
            with pytest.raises(GuestTrap):
                runtime.invoke(fn, event, ctx=ctx)
        else:
            runtime.invoke(fn, event, ctx=ctx)
        assert called == [path]


async def test_stuck_hostcalls_do_not_starve_other_functions(runtime: Runtime, probe_wasm: dict[str, Path],
                                                            tmp_path: Path) -> None:
    """Eight endless queries used to hold all eight worker threads: an unrelated function waited 21 s."""
    import anyio

    from wasmlet.asgi import HostSettings
    from wasmlet.capabilities.backends import Backends

    registry = MemoryRegistry()
    registry.put("stuck", probe_wasm["python"].read_bytes(),
                 Manifest.from_toml('[sql]\ndatabases = ["default"]\n[limits]\ntimeout_ms = 1000\n'))
    registry.put("other", probe_wasm["rust"].read_bytes(), Manifest.from_toml('[kv]\nstores = ["default"]\n'))
    host = Host(runtime, registry, HostSettings(worker_threads=8), backends=Backends(tmp_path))
    endless = {"db": "default", "query": True,
               "statement": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://t", timeout=60) as c:
        assert (await c.get("/stuck/latest/hello")).status_code == 200  # both compiled before timing
        assert (await c.get("/other/latest/kv?op=set&key=k&value=v")).status_code == 200
        statuses: list[int] = []

        async def stuck() -> None:
            statuses.append((await c.post("/stuck/latest/sql", json=endless)).status_code)

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(stuck)
            await anyio.sleep(0.3)  # every worker thread is in a query now
            start = time.monotonic()
            other = await c.get("/other/latest/kv?op=get&key=k")
            waited = time.monotonic() - start
    assert other.status_code == 200 and "v" in other.text
    assert waited < 2.5, f"an unrelated function waited {waited:.1f}s for a thread"
    assert len(statuses) == 8 and all(s in (502, 504) for s in statuses), statuses


def test_redis_labels_cannot_nest(tmp_path: Path) -> None:
    """Keys live under `wasmlet:<label>:`: labels `a` and `a:sub` would share a namespace."""
    from wasmlet.capabilities.backends import BackendConfigError, Backends

    with pytest.raises(BackendConfigError, match="may not contain ':'"):
        Backends(tmp_path, kv={"a:sub": {"type": "redis", "url": "redis://127.0.0.1:6379/0"}})


def test_a_non_ascii_url_is_an_error_not_a_trap(upstream: int) -> None:
    host = outbound(upstream, "f", OutboundPools())
    result = get(host, f"http://127.0.0.1:{upstream}/\u00e9")
    assert result.tag == "err" and result.value.__class__.__name__ == "OutboundHttpErrorFailed"  # type: ignore[attr-defined]
