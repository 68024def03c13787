"""Asynchronous invocations on real NATS JetStream through real `wasmlet serve` processes: 202 and an
id at once, the response kept for `GET /_wasmlet/async/<id>`; an Idempotency-Key queues once; a
trapping invocation is retried, then marked dead; a function that did not opt in is refused; and a
host killed with invocations queued loses none of them (another host runs them)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import WASMLET, free_port, running


@pytest.fixture(scope="module")
def group(nats_url: str) -> Iterator[str]:
    name = f"WASMLET_ASYNC_TEST_{secrets.token_hex(4)}"
    yield name

    async def cleanup() -> None:
        import nats

        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        for stream in (f"{name}_ASYNC", f"KV_{name}_ASYNC_STATUS"):
            with contextlib.suppress(Exception):
                await js.delete_stream(stream)
        await nc.close()

    asyncio.run(cleanup())


TOKEN = "async-test"


@contextlib.contextmanager
def host(tmp: Path, nats_url: str, group: str, probe: Path) -> Iterator[dict[str, Any]]:
    """A `wasmlet serve` with asynchronous invocations on `group`, the Rust probe deployed as `probe`
    (async allowed) and as `sync-only` (not allowed)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "wasmlet.toml").write_text(f'[server]\nasync_source = "events"\n[messaging.events]\ntype = "nats"\n'
                                      f'url = "{nats_url}"\nstream = "{group}"\n')
    port, admin = free_port(), free_port()
    with running(["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}", "--data-dir",
                  str(tmp / "data"), "--config", str(tmp / "wasmlet.toml")], f"http://127.0.0.1:{port}/_wasmlet/health",
                 tmp / "serve.log", env={"WASMLET_ADMIN_TOKEN": TOKEN}) as proc:
        allowed = "[triggers]\nasync = true\nasync_max_attempts = 2\n[limits]\ntimeout_ms = 2000\n"
        for name, manifest in (("probe", allowed), ("sync-only", "")):
            resp = httpx.post(f"http://127.0.0.1:{admin}/v1/functions/{name}/versions", data={"manifest": manifest},
                              files={"component": ("c.wasm", probe.read_bytes(), "application/wasm")},
                              headers={"authorization": f"Bearer {TOKEN}"}, timeout=120)
            assert resp.status_code == 201, resp.text
        yield {"base": f"http://127.0.0.1:{port}", "proc": proc, "log": tmp / "serve.log"}


def wait_for(base: str, invocation: str, states: set[str], timeout: float = 40) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = httpx.get(f"{base}/_wasmlet/async/{invocation}", timeout=10).json()
        if found.get("status") in states or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_an_invocation_is_queued_run_and_its_response_kept(tmp_path: Path, nats_url: str, group: str,
                                                          probe_wasm: dict[str, Path]) -> None:
    with host(tmp_path / "a", nats_url, group, probe_wasm["rust"]) as h:
        base = h["base"]
        payload = bytes(range(256))
        submitted = httpx.post(f"{base}/_wasmlet/async/probe/latest/echo", content=payload, timeout=10)
        assert submitted.status_code == 202, submitted.text
        invocation = submitted.json()["id"]
        assert submitted.headers["location"] == f"/_wasmlet/async/{invocation}"
        done = wait_for(base, invocation, {"succeeded", "failed", "dead"})
        assert done["status"] == "succeeded" and done["attempts"] == 1, done
        assert done["response"]["status"] == 200
        import base64

        assert base64.b64decode(done["response"]["body_base64"]) == payload

        first = httpx.post(f"{base}/_wasmlet/async/probe/latest/hello", headers={"idempotency-key": "k-1"}).json()
        again = httpx.post(f"{base}/_wasmlet/async/probe/latest/hello", headers={"idempotency-key": "k-1"}).json()
        assert again["id"] == first["id"] and again["repeated"] and not first["repeated"]
        assert wait_for(base, first["id"], {"succeeded"})["response"]["body"] == "hello from rust"

        dead = httpx.post(f"{base}/_wasmlet/async/probe/latest/panic").json()["id"]
        record = wait_for(base, dead, {"dead", "failed", "succeeded"}, timeout=60)
        assert record["status"] == "dead" and record["attempts"] == 2 and "failed" in record["error"], record

        cli = subprocess.run([*WASMLET, "invoke", "probe", "/echo", "-X", "POST", "-d", "via the cli", "--async",
                              "--wait", "--url", base], capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["response"]["body"] == "via the cli"
        sync = subprocess.run([*WASMLET, "invoke", "probe", "hello", "--url", base], capture_output=True, text=True,
                              timeout=60)
        assert sync.returncode == 0 and sync.stdout == "hello from rust" and sync.stderr.startswith("200")

        refused = httpx.post(f"{base}/_wasmlet/async/sync-only/latest/hello")
        assert refused.status_code == 403 and "async = true" in refused.json()["error"]
        assert httpx.get(f"{base}/_wasmlet/async/{'0' * 32}").status_code == 404
        assert httpx.get(f"{base}/_wasmlet/async/probe/latest/hello").status_code == 405


def test_a_host_killed_with_invocations_queued_loses_none(tmp_path: Path, nats_url: str, group: str,
                                                          probe_wasm: dict[str, Path]) -> None:
    with host(tmp_path / "first", nats_url, group, probe_wasm["rust"]) as first:
        ids = [httpx.post(f"{first['base']}/_wasmlet/async/probe/latest/echo", content=f"n{i}".encode()).json()["id"]
               for i in range(8)]
        first["proc"].send_signal(signal.SIGKILL)  # queued and maybe taken: nothing acknowledged after this
        first["proc"].wait()
    with host(tmp_path / "second", nats_url, group, probe_wasm["rust"]) as second:
        records = [wait_for(second["base"], i, {"succeeded"}, timeout=60) for i in ids]
    assert [r["status"] for r in records] == ["succeeded"] * len(ids), records
    assert sorted(r["response"]["body"] for r in records) == sorted(f"n{i}" for i in range(8))
