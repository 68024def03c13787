"""Faults the host must survive: a corrupted or unwritable compile cache, a damaged blob, a full
disk or a locked registry during a deploy — each answered with a clear JSON error or a warning,
never a crash, a plain-text 500 or a failed request for a function that compiled."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from wasmlet import BodyText, Engine, EventHttp, Request, Runtime
from wasmlet.admin import admin_app
from wasmlet.manifest import Manifest
from wasmlet.registry import RegistryError, SqliteRegistry

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


_LOAD_AND_CALL = """
import sys
from pathlib import Path
from wasmlet import BodyText, Engine, EventHttp, Request, Runtime
with Engine(cache_dir=Path(sys.argv[1])) as eng:
    fn = Runtime(eng).load_file(sys.argv[2])
    r = Runtime(eng).invoke(fn, EventHttp(Request("GET", "/hello", "", [], BodyText(""), "")))
    print(fn.cache_hit, r.body.value)
"""


@pytest.mark.parametrize("lang", ["rust", "python"])
def test_a_corrupted_artifact_is_recompiled_not_run(tmp_path: Path, probe_wasm: dict[str, Path], lang: str) -> None:
    """Bytes flipped inside the machine code used to kill the worker with SIGILL on every start."""
    with Engine(cache_dir=tmp_path) as eng:
        Runtime(eng).load_file(probe_wasm[lang])
    (artifact,) = tmp_path.glob("*.cwasm")
    data = bytearray(artifact.read_bytes())
    for offset in range(len(data) // 3, len(data) * 2 // 3, 997):  # the code, not the header
        data[offset] ^= 0xFF
    artifact.write_bytes(bytes(data))
    run = subprocess.run([sys.executable, "-c", _LOAD_AND_CALL, str(tmp_path), str(probe_wasm[lang])],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["False", "hello", "from", lang], run.stdout
    assert "does not match its checksum" in run.stderr


def test_an_unwritable_cache_is_a_warning(tmp_path: Path, probe_wasm: dict[str, Path],
                                          caplog: pytest.LogCaptureFixture) -> None:
    """A full or broken cache disk used to fail requests for functions that had compiled."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with Engine(cache_dir=blocker / "cache") as eng:
        rt = Runtime(eng)
        fn = rt.load_file(probe_wasm["rust"])
        response = rt.invoke(fn, EventHttp(Request("GET", "/hello", "", [], BodyText(""), "")))
    assert response.body == BodyText("hello from rust")
    assert any("could not write" in r.getMessage() for r in caplog.records)


def test_a_damaged_blob_is_refused(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    registry = SqliteRegistry(tmp_path)
    version = registry.deploy("fn", probe_wasm["rust"].read_bytes(), Manifest())
    blob = tmp_path / "blobs" / f"{version.sha256}.wasm"
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(RegistryError, match="damaged"):
        registry.wasm(version)
    registry.close()


def admin(tmp_path: Path, runtime: Runtime) -> tuple[httpx.AsyncClient, SqliteRegistry]:
    registry = SqliteRegistry(tmp_path / "data")
    app = admin_app(registry, runtime, "tok")
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin",
                               headers={"authorization": "Bearer tok"}, timeout=60)
    return client, registry


def assert_json_error(r: httpx.Response, status: int, fragment: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and fragment in body["error"], body
    assert body["request_id"] and r.headers["x-request-id"] == body["request_id"]


async def test_deploy_on_a_full_disk_answers_json(tmp_path: Path, runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    client, registry = admin(tmp_path, runtime)
    registry.blobs = tmp_path / "blob-file"  # writes under a file fail as a full disk's do: with an OSError
    registry.blobs.write_text("")
    async with client:
        r = await client.post("/v1/functions/fn/versions", files={"component": probe_wasm["rust"].read_bytes()})
    assert_json_error(r, 507, "could not store")
    registry.close()


async def test_deploy_while_the_registry_is_locked_answers_json(tmp_path: Path, runtime: Runtime,
                                                                 probe_wasm: dict[str, Path]) -> None:
    client, registry = admin(tmp_path, runtime)
    other = sqlite3.connect(tmp_path / "data" / "registry.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        async with client:
            r = await client.post("/v1/functions/fn/versions", files={"component": probe_wasm["rust"].read_bytes()})
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert_json_error(r, 503, "busy")
    assert r.headers["retry-after"] == "1"
    registry.close()


async def test_admin_errors_are_json_and_never_echo_the_input(tmp_path: Path, runtime: Runtime) -> None:
    client, registry = admin(tmp_path, runtime)
    junk = b"JUNK" * (5 << 20)  # 20 MB that is no component
    async with client:
        r = await client.post("/v1/functions/fn/versions", files={"component": junk})
        assert_json_error(r, 422, "invalid component")
        assert len(r.content) < 4096 and b"JUNKJUNK" not in r.content
        r = await client.post("/v1/functions/fn/versions", files={"component": b"\0asm", "manifest": "[x\n" * 100000})
        assert_json_error(r, 422, "invalid manifest")
        assert len(r.content) < 4096
        r = await client.put("/v1/functions/fn/aliases/stable", content=b"not json")
        assert_json_error(r, 422, "JSON")
        r = await client.post("/v1/functions/fn/versions", content=b"garbage",
                              headers={"content-type": "multipart/form-data; boundary=x"})
        assert r.status_code in (400, 422) and r.json()["request_id"]
        r = await client.get("/v1/functions", headers={"authorization": "Bearer wrong"})
        assert_json_error(r, 401, "token")
        r = await client.get("/v1/nothing-here")
        assert_json_error(r, 404, "Not Found")
    registry.close()


async def test_uploads_are_capped_while_they_stream(tmp_path: Path, runtime: Runtime,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A 300 MB upload used to be accepted whole (and 200 MB of junk took the process to 4.4 GB)."""
    import wasmlet.admin

    monkeypatch.setattr(wasmlet.admin, "MAX_UPLOAD", 1 << 20)
    client, registry = admin(tmp_path, runtime)
    sent = 0

    async def body() -> object:
        nonlocal sent
        boundary = b"--b\r\nContent-Disposition: form-data; name=\"component\"; filename=\"x\"\r\n\r\n"
        yield boundary
        for _ in range(64):  # 64 MB if nobody stops it
            sent += 1 << 20
            yield b"\0" * (1 << 20)

    async with client:
        declared = await client.post("/v1/functions/fn/versions", content=b"x" * 10,
                                     headers={"content-length": str(2 << 20)})
        assert_json_error(declared, 413, "over the limit")
        r = await client.post("/v1/functions/fn/versions", content=body(),  # type: ignore[arg-type]
                              headers={"content-type": "multipart/form-data; boundary=b"})
    assert_json_error(r, 413, "over the limit")
    assert sent <= 4 << 20, f"{sent} bytes were read past a 1 MB cap"
    assert json.loads(r.content)["status"] == 413
    registry.close()


def test_sigterm_finishes_within_the_grace_period(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    """A guest spinning with a 60 s timeout and an endless SQLite query used to keep the process
    alive after SIGTERM until they ended by themselves (or forever)."""
    import shutil
    import threading
    import time

    from servers import free_port, running, seconds_to_stop

    shutil.copy(probe_wasm["rust"], tmp_path / "spin.wasm")
    (tmp_path / "spin.toml").write_text("[limits]\ntimeout_ms = 60000\n")
    shutil.copy(probe_wasm["python"], tmp_path / "query.wasm")
    (tmp_path / "query.toml").write_text('[sql]\ndatabases = ["default"]\n[limits]\ntimeout_ms = 60000\n')
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    endless = json.dumps({"db": "default", "query": True, "statement":
                          "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"})
    args = ["dev", "--bind", f"127.0.0.1:{port}", "--grace", "1", "-m", f"spin:{tmp_path / 'spin.wasm'}",
            "-m", f"query:{tmp_path / 'query.wasm'}"]
    answers: list[int] = []

    def call(path: str, body: str | None) -> None:
        try:
            r = httpx.post(base + path, content=body, timeout=90) if body else httpx.get(base + path, timeout=90)
            answers.append(r.status_code)
        except httpx.HTTPError:
            answers.append(0)

    with running(args, f"{base}/_wasmlet/health", tmp_path / "log", cwd=tmp_path) as proc:
        assert httpx.get(f"{base}/query/latest/hello", timeout=120).status_code == 200  # compiled
        callers = [threading.Thread(target=call, args=a) for a in (("/spin/latest/loop", None),
                                                                    ("/query/latest/sql", endless))]
        for t in callers:
            t.start()
        time.sleep(1.5)  # both are running now
        took = seconds_to_stop(proc)
        for t in callers:
            t.join(timeout=30)
    assert took < 6, f"the server took {took:.1f}s to exit after SIGTERM with a 1 s grace period"
    assert proc.returncode == 0
