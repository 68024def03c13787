"""README promises about real servers that had no test."""

from __future__ import annotations

import shutil
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from servers import eventually, free_port, read_log, running


def test_redis_configured_through_wasmlet_toml(tmp_path: Path, probe_wasm: dict[str, Path], redis_url: str) -> None:
    import redis

    label = f"cache{uuid.uuid4().hex[:8]}"
    (tmp_path / "wasmlet.toml").write_text(f'[kv.{label}]\ntype = "redis"\nurl = "{redis_url}"\n')
    shutil.copy(probe_wasm["rust"], tmp_path / "probe.wasm")
    (tmp_path / "probe.toml").write_text(f'[kv]\nstores = ["{label}"]\n')
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = redis.Redis.from_url(redis_url)
    try:
        with running(["dev", "--bind", f"127.0.0.1:{port}", "--config", str(tmp_path / "wasmlet.toml"),
                      "-m", f"probe:{tmp_path / 'probe.wasm'}"], f"{base}/_wasmlet/health", tmp_path / "log",
                     cwd=tmp_path):
            assert httpx.get(f"{base}/probe/latest/kv?op=set&store={label}&key=k&value=v").text == "ok"
        assert server.get(f"wasmlet:{label}:k") == b"v"
    finally:
        server.delete(f"wasmlet:{label}:k")


def test_serve_sigterm_finishes_in_flight_refuses_new_and_is_bounded(tmp_path: Path,
                                                                      probe_wasm: dict[str, Path]) -> None:
    port, admin = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "wasmlet.toml").write_text("[server]\ngrace_seconds = 3\n")
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}", "--data-dir",
            str(tmp_path / "data"), "--config", str(tmp_path / "wasmlet.toml")]
    with running(args, f"{base}/_wasmlet/health", tmp_path / "log", env={"WASMLET_ADMIN_TOKEN": "t"}) as proc:
        deploy = httpx.post(f"http://127.0.0.1:{admin}/v1/functions/py/versions", headers={"authorization": "Bearer t"},
                            files={"component": probe_wasm["python"].read_bytes()}, timeout=300)
        assert deploy.status_code == 201, deploy.text
        assert httpx.get(f"{base}/py/latest/hello", timeout=120).status_code == 200
        results: list[int] = []
        slow = threading.Thread(target=lambda: results.append(
            httpx.get(f"{base}/py/latest/spin?ms=1500&log=1", timeout=30).status_code))
        slow.start()
        assert eventually(lambda: "spinning 1500 ms" in read_log(proc), timeout=30)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.HTTPError):  # stopped accepting
            httpx.get(f"{base}/py/latest/hello", timeout=2)
        slow.join(timeout=30)
        assert proc.wait(timeout=30) == 0
        took = time.monotonic() - start
    assert results == [200]  # the request in flight finished
    assert took < 3 + 3 + 2, f"exit took {took:.1f}s with a 3 s grace period"


def test_hypercorn_on_trio_is_a_real_server(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["dev", "--bind", f"127.0.0.1:{port}", "--server", "hypercorn", "--backend", "trio",
                  "-m", f"probe:{probe_wasm['rust']}"], f"{base}/_wasmlet/health", tmp_path / "log") as proc:
        resp = httpx.get(f"{base}/probe/latest/hello")
        assert resp.status_code == 200 and resp.text == "hello from rust" and resp.headers["x-request-id"]
        assert httpx.get(f"{base}/nope/latest/").json()["status"] == 404
        assert "trio" in read_log(proc).lower() or proc.poll() is None


def test_a_reload_lets_requests_in_flight_finish_on_the_old_code(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    target = tmp_path / "fn.wasm"
    shutil.copy(probe_wasm["python"], target)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["dev", "--bind", f"127.0.0.1:{port}", "-m", f"fn:{target}"], f"{base}/_wasmlet/health",
                 tmp_path / "log") as proc:
        assert httpx.get(f"{base}/fn/latest/hello", timeout=120).text == "hello from python"
        old: list[str] = []
        slow = threading.Thread(target=lambda: old.append(
            httpx.get(f"{base}/fn/latest/spin?ms=2500&log=1", timeout=60).text))
        slow.start()
        assert eventually(lambda: "spinning 2500 ms" in read_log(proc), timeout=30)
        shutil.copy(probe_wasm["rust"], target)  # the new version has no /spin at all
        assert eventually(lambda: httpx.get(f"{base}/fn/latest/hello").text == "hello from rust", timeout=60)
        slow.join(timeout=60)
    assert old == ["spun 2500 ms"]  # answered by the code it started on


def test_deploy_with_a_manifest_and_wasmlet_test(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    import subprocess

    from servers import WASMLET

    new = subprocess.run(WASMLET + ["new", "python", "fnt"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert new.returncode == 0, new.stderr
    tested = subprocess.run(WASMLET + ["test", "fnt"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert tested.returncode == 0 and "passed" in tested.stdout + tested.stderr, tested.stdout + tested.stderr
    port, admin = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "m.toml").write_text("[limits]\ntimeout_ms = 300\n")
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}", "--data-dir",
            str(tmp_path / "data")]
    env = {"WASMLET_ADMIN_TOKEN": "t"}
    with running(args, f"{base}/_wasmlet/health", tmp_path / "log", env=env):
        deploy = subprocess.run(WASMLET + ["deploy", "probe", str(probe_wasm["rust"]), "--manifest",
                                           str(tmp_path / "m.toml"), "--admin", f"http://127.0.0.1:{admin}",
                                           "--token", "t"], capture_output=True, text=True, timeout=120)
        assert deploy.returncode == 0, deploy.stderr
        spin = httpx.get(f"{base}/probe/latest/loop", timeout=30)
        assert spin.status_code == 504 and "300 ms" in spin.json()["error"]  # the manifest's timeout applies
