"""Real `wasmlet dev` and `wasmlet serve` processes, driven with httpx."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from servers import WASMLET, eventually, free_port, read_log, running

from wasmlet.manifest import Manifest
from wasmlet.registry import SqliteRegistry
from wasmlet.server import bind_workers


def test_dev_reloads_a_rebuilt_function_and_survives_garbage(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    target = tmp_path / "probe.wasm"
    shutil.copy(probe_wasm["rust"], target)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["dev", "--bind", f"127.0.0.1:{port}", "-m", f"probe:{target}"],
                 f"{base}/_wasmlet/health", tmp_path / "dev.log") as proc:
        assert httpx.get(f"{base}/probe/latest/hello").text == "hello from rust"
        # "rebuild": a new component with different output, written atomically as build tools do
        tmp = tmp_path / "probe.wasm.tmp"
        shutil.copy(probe_wasm["python"], tmp)
        tmp.replace(target)
        assert eventually(lambda: httpx.get(f"{base}/probe/latest/hello").text == "hello from python")
        # a broken rebuild keeps the last good version serving
        target.write_bytes(b"\x00asm\x0d\x00\x01\x00 this is not a component")
        assert eventually(lambda: "kept the previous probe" in read_log(proc))
        assert httpx.get(f"{base}/probe/dev/hello").text == "hello from python"
        assert proc.poll() is None


class Serve:
    def __init__(self, tmp: Path) -> None:
        self.data = tmp / "data"
        self.port, self.admin_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin = httpx.Client(base_url=f"http://127.0.0.1:{self.admin_port}",
                                  headers={"authorization": "Bearer s3cret"}, timeout=120)
        self.args = ["serve", "--bind", f"127.0.0.1:{self.port}", "--admin-bind", f"127.0.0.1:{self.admin_port}",
                     "--data-dir", str(self.data)]
        self.env = {"WASMLET_ADMIN_TOKEN": "s3cret"}

    def deploy(self, name: str, wasm: Path | bytes, manifest: str = "") -> httpx.Response:
        data = wasm if isinstance(wasm, bytes) else wasm.read_bytes()
        return self.admin.post(f"/v1/functions/{name}/versions",
                               files={"component": ("c.wasm", data, "application/wasm")}, data={"manifest": manifest})


def test_serve_deploy_versions_aliases_rollback_delete(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    s = Serve(tmp_path)
    with running(s.args, f"{s.base}/_wasmlet/health", tmp_path / "serve.log", env=s.env):
        assert httpx.get(f"http://127.0.0.1:{s.admin_port}/v1/functions").status_code == 401
        wrong = httpx.get(f"http://127.0.0.1:{s.admin_port}/v1/functions", headers={"authorization": "Bearer no"})
        assert wrong.status_code == 401

        v1 = s.deploy("probe", probe_wasm["rust"], "[limits]\ntimeout_ms = 2000\n")
        assert v1.status_code == 201 and v1.json()["version"] == "v1"
        assert httpx.get(f"{s.base}/probe/latest/hello").text == "hello from rust"

        v2 = s.deploy("probe", probe_wasm["python"])
        assert v2.json()["version"] == "v2"
        assert httpx.get(f"{s.base}/probe/latest/hello").text == "hello from python"
        assert httpx.get(f"{s.base}/probe/v1/hello").text == "hello from rust"
        assert httpx.get(f"{s.base}/probe/v2/hello").text == "hello from python"

        # invalid uploads: 422 with the reason, and nothing changes
        before = s.admin.get("/v1/functions").json()
        for bad, manifest, reason in [
            (b"not wasm at all", "", "invalid component"),
            (probe_wasm["rust"].read_bytes(), "[limits]\ntimeout_ms = -5\n", "limits.timeout_ms"),
            (probe_wasm["rust"].read_bytes(), "[limits\n", "not valid TOML"),
        ]:
            resp = s.deploy("probe", bad, manifest)
            assert resp.status_code == 422 and reason in resp.json()["error"]
        assert s.admin.get("/v1/functions").json() == before

        # rollback: move latest back to v1
        assert s.admin.put("/v1/functions/probe/aliases/latest", json={"version": "v1"}).status_code == 200
        assert httpx.get(f"{s.base}/probe/latest/hello").text == "hello from rust"
        assert s.admin.put("/v1/functions/probe/aliases/stable", json={"version": "v2"}).status_code == 200
        assert httpx.get(f"{s.base}/probe/stable/hello").text == "hello from python"

        # delete: refused while an alias points at the version
        assert s.admin.delete("/v1/functions/probe/versions/v2").status_code == 409
        assert s.admin.put("/v1/functions/probe/aliases/stable", json={"version": "v1"}).status_code == 200
        assert s.admin.delete("/v1/functions/probe/versions/v2").status_code == 204
        assert httpx.get(f"{s.base}/probe/v2/hello").status_code == 404
        listing = s.admin.get("/v1/functions").json()["functions"]["probe"]
        assert [v["version"] for v in listing["versions"]] == ["v1"]
        assert listing["aliases"] == {"latest": "v1", "stable": "v1"}


def test_cli_drives_the_admin_api(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    s = Serve(tmp_path)
    admin = ["--admin", f"http://127.0.0.1:{s.admin_port}", "--token", "s3cret"]
    with running(s.args, f"{s.base}/_wasmlet/health", tmp_path / "serve.log", env=s.env):
        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(WASMLET + list(args), capture_output=True, text=True, timeout=120)

        out = cli("deploy", "probe", str(probe_wasm["rust"]), *admin)
        assert out.returncode == 0 and "deployed probe v1" in out.stdout
        cli("deploy", "probe", str(probe_wasm["python"]), *admin)
        listing = cli("ls", *admin).stdout
        assert "probe\tv1" in listing and "probe\tv2" in listing and "latest" in listing
        assert cli("alias", "probe", "latest", "v1", *admin).returncode == 0
        assert httpx.get(f"{s.base}/probe/latest/hello").text == "hello from rust"
        refused = cli("rm", "probe", "v1", *admin)
        assert refused.returncode == 1 and "error 409" in refused.stderr
        assert cli("rm", "probe", "v2", *admin).returncode == 0
        bad = cli("ls", "--admin", f"http://127.0.0.1:{s.admin_port}", "--token", "wrong")
        assert bad.returncode == 1 and "401" in bad.stderr


@pytest.mark.parametrize("bind", ["0.0.0.0:0", "localhost.evil:0"])
def test_admin_refuses_to_start_without_token_off_loopback(tmp_path: Path, bind: str) -> None:
    """The check used to be a string prefix: `localhost.evil` passed."""
    proc = subprocess.run(WASMLET + ["serve", "--admin-bind", bind, "--bind", f"127.0.0.1:{free_port()}",
                                     "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and "without a token" in proc.stderr


def test_loopback_means_every_address_is_loopback() -> None:
    from wasmlet.admin import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "localhost.evil", "10.0.0.1", "::", "example.invalid"))


_KILLED_MID_DEPLOY = """
import os, signal, sys
from pathlib import Path
from wasmlet.manifest import Manifest
from wasmlet.registry import SqliteRegistry
registry = SqliteRegistry(Path(sys.argv[1]))
registry.deploy("probe", Path(sys.argv[2]).read_bytes(), Manifest())          # v1, committed
where = sys.argv[4]
if where == "writing":     # the blob half written: killed before its rename
    real_fsync = os.fsync
    def fsync(fd):
        os.kill(os.getpid(), signal.SIGKILL)
    os.fsync = fsync
else:                      # the blob in place, the metadata transaction not committed
    real = registry._transaction
    from contextlib import contextmanager
    @contextmanager
    def transaction():
        with real() as cur:
            yield cur
            os.kill(os.getpid(), signal.SIGKILL)                         # before COMMIT
    registry._transaction = transaction
registry.deploy("probe", Path(sys.argv[3]).read_bytes(), Manifest())          # v2: never finishes
"""


@pytest.mark.parametrize("where", ["writing", "committing"])
def test_kill_9_during_deploy_leaves_a_consistent_registry(tmp_path: Path, probe_wasm: dict[str, Path],
                                                           where: str) -> None:
    """The kill lands inside the dangerous window (blob written or being written, transaction not
    committed), not while the upload is still being validated."""
    import sys

    data = tmp_path / "data"
    run = subprocess.run([sys.executable, "-c", _KILLED_MID_DEPLOY, str(data), str(probe_wasm["rust"]),
                          str(probe_wasm["python"]), where], capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    leftovers = list((data / "blobs").glob(".upload-*"))
    assert bool(leftovers) == (where == "writing")  # the half-written upload is there to be cleaned up
    registry = SqliteRegistry(data)
    try:
        assert not list((data / "blobs").glob(".upload-*"))  # removed at start-up
        listing = registry.list()["probe"]
        assert [v["version"] for v in listing["versions"]] == ["v1"]  # type: ignore[index]
        assert listing["aliases"] == {"latest": "v1"}
        latest = registry.resolve("probe", "latest")
        assert latest is not None and registry.wasm(latest) == probe_wasm["rust"].read_bytes()  # sha256 checked
        assert registry.deploy("probe", probe_wasm["python"].read_bytes(), Manifest()).version == "v2"
    finally:
        registry.close()


def _ignore(fn: object) -> None:
    try:
        fn()  # type: ignore[operator]
    except httpx.HTTPError:
        pass


def test_every_tenth_request_traps_and_the_server_keeps_serving(tmp_path: Path,
                                                                probe_wasm: dict[str, Path]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["dev", "--bind", f"127.0.0.1:{port}", "-m", f"probe:{probe_wasm['rust']}"],
                 f"{base}/_wasmlet/health", tmp_path / "dev.log") as proc:
        statuses: dict[int, int] = {}
        with httpx.Client(base_url=base) as c:
            for i in range(1000):
                status = c.get("/probe/latest/panic" if i % 10 == 9 else "/probe/latest/hello").status_code
                statuses[status] = statuses.get(status, 0) + 1
        assert statuses == {200: 900, 500: 100}
        assert proc.poll() is None
        assert httpx.get(f"{base}/_wasmlet/health").status_code == 200


def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["dev", "--bind", f"127.0.0.1:{port}", "-m", f"pyprobe:{probe_wasm['python']}", "--grace", "10"],
                 f"{base}/_wasmlet/health", tmp_path / "dev.log") as proc:
        results: list[httpx.Response] = []
        threads = [threading.Thread(target=lambda: results.append(
            httpx.get(f"{base}/pyprobe/latest/spin?ms=1500&log=1", timeout=30))) for _ in range(3)]
        for t in threads:
            t.start()
        assert eventually(lambda: read_log(proc).count("spinning 1500 ms") == 3, timeout=60)  # all three running
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join()
        assert proc.wait(timeout=20) == 0
        assert [r.status_code for r in results] == [200, 200, 200]
        assert all(r.text == "spun 1500 ms" for r in results)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{base}/_wasmlet/health", timeout=2)


def test_serve_with_worker_processes(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    s = Serve(tmp_path)
    config = tmp_path / "wasmlet.toml"
    config.write_text("[server]\npublic_metrics = true\n")  # each worker's own metrics, on the shared port
    with running(s.args + ["--workers", "2", "--config", str(config)], f"{s.base}/_wasmlet/health",
                 tmp_path / "serve.log", env=s.env) as proc:
        assert eventually(lambda: s.admin.get("/v1/functions").status_code == 200)  # worker 0 serves the admin API
        assert s.deploy("probe", probe_wasm["rust"]).status_code == 201
        # a new connection each time: the kernel spreads connections over the workers' sockets,
        # and every worker sees the deploy through the shared registry
        assert all(httpx.get(f"{s.base}/probe/latest/hello").text == "hello from rust" for _ in range(40))
        served = dict(_requests_served(httpx.get(f"{s.base}/_wasmlet/metrics").text) for _ in range(30))
        assert len(served) == 2 and sum(served.values()) == 40, served  # both workers answered, 40 in all
        assert read_log(proc).count("serving functions (worker") == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def _requests_served(metrics: str) -> tuple[int, int]:
    """(the answering worker's pid, how many function requests it served)."""
    lines = metrics.splitlines()
    pid = next(int(float(line.split()[1])) for line in lines if line.startswith("wasmlet_process_id "))
    return pid, sum(int(float(line.rsplit(" ", 1)[1])) for line in lines if line.startswith("wasmlet_requests_total{"))


def test_bind_workers_spreads_connections_over_one_socket_per_worker() -> None:
    sockets = bind_workers("127.0.0.1", 0, 2)
    clients: list[socket.socket] = []
    try:
        assert sockets[0] is not sockets[1] and sockets[0].getsockname() == sockets[1].getsockname()
        assert all(s.proto == socket.IPPROTO_TCP for s in sockets)  # so asyncio turns Nagle off
        clients = [socket.create_connection(sockets[0].getsockname()) for _ in range(40)]
        accepted = []
        for listener in sockets:
            listener.setblocking(False)
            n = 0
            while True:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    break
                conn.close()
                n += 1
            accepted.append(n)
        assert sum(accepted) == 40 and min(accepted) > 0, accepted
    finally:
        for c in clients:
            c.close()
        for s in sockets:
            s.close()


def test_registry_answers_from_memory_and_sees_other_workers_changes(tmp_path: Path,
                                                                     probe_wasm: dict[str, Path]) -> None:
    a, b = SqliteRegistry(tmp_path), SqliteRegistry(tmp_path)  # two workers' connections to one registry
    try:
        wasm = probe_wasm["rust"].read_bytes()
        first = a.deploy("fn", wasm, Manifest())
        assert b.resolve("fn", "latest") == first  # remembered from here on
        a.deploy("fn", wasm, Manifest(timeout_ms=500))
        latest = b.resolve("fn", "latest")
        assert latest is not None and latest.version == "v2" and latest.manifest.timeout_ms == 500
        a.set_alias("fn", "stable", "v1")
        assert b.resolve("fn", "stable") == first
        b.set_alias("fn", "stable", "v2")  # its own write
        assert b.resolve("fn", "stable") == latest and a.resolve("fn", "stable") == latest
        b.set_alias("fn", "stable", "v1")
        assert a.resolve("fn", "stable") == first
        a.deploy("fn", wasm, Manifest(timeout_ms=700))  # latest moves on to v3, so v2 may go
        assert b.resolve("fn", "v2") == latest
        a.delete_version("fn", "v2")
        assert b.resolve("fn", "v2") is None and b.resolve("fn", "nope") is None
    finally:
        a.close()
        b.close()


def test_serve_config_turns_inline_attempts_and_the_access_log_off(tmp_path: Path,
                                                                    probe_wasm: dict[str, Path]) -> None:
    s = Serve(tmp_path)
    config = tmp_path / "wasmlet.toml"
    config.write_text("[server]\ninline_budget_ms = 0\naccess_log = false\n")
    with running(s.args + ["--config", str(config)], f"{s.base}/_wasmlet/health", tmp_path / "serve.log",
                 env=s.env) as proc:
        assert s.deploy("pyprobe", probe_wasm["python"]).status_code == 201
        assert httpx.get(f"{s.base}/pyprobe/latest/spin?ms=30", timeout=60).text == "spun 30 ms"
        assert httpx.get(f"{s.base}/_wasmlet/metrics").status_code == 404  # not on the public port by default
        metrics = s.admin.get("/metrics").text
        assert 'wasmlet_requests_total{function="pyprobe",status="200",version="v1"} 1.0' in metrics
        assert 'wasmlet_inline_overruns_total{function="pyprobe"}' not in metrics  # straight to a thread
        log = read_log(proc)
    assert "GET /pyprobe/latest/spin" not in log and "serving functions" in log


def test_readiness_means_something_and_sigterm_drains_first(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    """`/_wasmlet/live` is the process; `/_wasmlet/ready` is 503 when the registry cannot be read or
    once SIGTERM arrived; during `drain_seconds` requests are still served, then the host stops."""
    port, admin = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "wasmlet.toml").write_text("[server]\ndrain_seconds = 2.0\n")
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}", "--data-dir",
            str(tmp_path / "data"), "--config", str(tmp_path / "wasmlet.toml")]
    with running(args, f"{base}/_wasmlet/health", tmp_path / "serve.log") as proc:
        resp = httpx.post(f"http://127.0.0.1:{admin}/v1/functions/probe/versions",
                          files={"component": ("p.wasm", probe_wasm["rust"].read_bytes(), "application/wasm")},
                          timeout=60)
        assert resp.status_code == 201, resp.text
        assert httpx.get(f"{base}/_wasmlet/live").status_code == 200
        assert httpx.get(f"{base}/_wasmlet/ready").json() == {"status": "ready"}
        blobs = tmp_path / "data" / "blobs"
        blobs.rename(tmp_path / "blobs-away")  # the registry can no longer give components
        gone = httpx.get(f"{base}/_wasmlet/ready")
        assert gone.status_code == 503 and "blobs" in gone.json()["reason"]
        (tmp_path / "blobs-away").rename(blobs)
        assert httpx.get(f"{base}/_wasmlet/ready").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert eventually(lambda: httpx.get(f"{base}/_wasmlet/ready").status_code == 503, timeout=1.5)
        assert httpx.get(f"{base}/_wasmlet/ready").json()["reason"].startswith("draining")
        assert httpx.get(f"{base}/probe/latest/hello").text == "hello from rust"  # still served while draining
        assert proc.wait(timeout=20) == 0
