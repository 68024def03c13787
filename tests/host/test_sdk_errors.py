"""A Rust guest whose handlers use `?` on hostcalls, served by the ASGI host: a failed
hostcall answers 403 (denied), 503 (backend) or 500 (not-found) with the JSON body
`{"error": message, "kind": kind}` that the Python SDK answers too."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from guests import ROOT, build_guest

from wasmlet.asgi import Host
from wasmlet.capabilities.backends import Backends
from wasmlet.manifest import Manifest
from wasmlet.registry import MemoryRegistry
from wasmlet.runtime import Runtime

pytestmark = pytest.mark.anyio

GRANTED = '[config]\ngreeting = "hi"\n[kv]\nstores = ["default"]\n[sql]\ndatabases = ["default"]\n' \
          '[modules]\nallowed = ["nowhere"]\n'


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sdk_errors_wasm() -> Path:
    """tests/guests/sdk-errors-rust, built once per source content."""
    return build_guest("sdk-errors-rust", ROOT / "tests" / "guests" / "sdk-errors-rust", "rust", ROOT / "wit", "function")


def client(runtime: Runtime, wasm: Path, tmp_path: Path) -> httpx.AsyncClient:
    """The guest as `denied` (an empty manifest: every hostcall denied) and as `granted`."""
    registry = MemoryRegistry()
    registry.put("denied", wasm.read_bytes(), Manifest())
    registry.put("granted", wasm.read_bytes(), Manifest.from_toml(GRANTED))
    host = Host(runtime, registry, backends=Backends(tmp_path))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://t", timeout=60)


def assert_host_error(resp: httpx.Response, status: int, kind: str) -> None:
    """The status, the content type and the exact JSON bytes (`error` first, then `kind`, compact)."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {"error", "kind"} and body["kind"] == kind and body["error"]
    assert resp.content == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("path", ["/config/greeting", "/kv/k", "/keys", "/sql?q=SELECT%201", "/call/nowhere"])
async def test_a_denied_hostcall_behind_question_mark_is_403(runtime: Runtime, sdk_errors_wasm: Path,
                                                             tmp_path: Path, path: str) -> None:
    async with client(runtime, sdk_errors_wasm, tmp_path) as c:
        assert_host_error(await c.get(f"/denied/latest{path}"), 403, "denied")


async def test_granted_hostcalls_answer_and_other_kinds_map_to_503_and_500(runtime: Runtime, sdk_errors_wasm: Path,
                                                                          tmp_path: Path) -> None:
    async with client(runtime, sdk_errors_wasm, tmp_path) as c:
        assert (await c.get("/granted/latest/config/greeting")).text == "hi"
        assert (await c.get("/granted/latest/kv/k")).status_code == 200
        assert (await c.get("/granted/latest/keys")).status_code == 200
        assert (await c.get("/granted/latest/sql", params={"q": "SELECT 1"})).text == "1 rows"
        broken = await c.get("/granted/latest/sql", params={"q": "SELECT nope FROM nowhere"})
        assert_host_error(broken, 503, "backend")
        assert "nowhere" in broken.json()["error"]
        assert_host_error(await c.get("/granted/latest/call/nowhere"), 500, "not-found")
