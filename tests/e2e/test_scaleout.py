"""Many hosts, one truth: three real `wasmlet serve` processes with their own data directories and
ports share one PostgreSQL registry (a database created for the test and dropped after).

A change made through any host's admin API is served by every host; a host killed with SIGKILL
mid-load loses only the requests it had in flight; concurrent deploys on different hosts get
distinct versions; a host whose PostgreSQL is unreachable waits and says why, and one that loses it
keeps serving what it knows, unready, until it catches up.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import WASMLET, eventually, free_port, read_log, running, stop, wait_healthy
from stallproxy import StallProxy

PROPAGATION_BOUND_S = 5.0
"""A change on one host must be served by all within this (measured: milliseconds; see bench/scaleout.py)."""


@dataclass
class Host:
    """One `wasmlet serve` process."""

    index: int
    port: int
    admin: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def deploy(self, name: str, wasm: bytes, manifest: str = "") -> httpx.Response:
        return httpx.post(f"http://127.0.0.1:{self.admin}/v1/functions/{name}/versions", data={"manifest": manifest},
                          files={"component": ("c.wasm", wasm, "application/wasm")}, timeout=60)


def host_args(tmp: Path, index: int, port: int, admin: int) -> list[str]:
    """`serve` with its own data directory, ports and config; the registry URL comes from the environment."""
    config = tmp / f"host{index}.toml"
    config.write_text('[registry]\ntype = "postgres"\n')
    return ["serve", "--config", str(config), "--data-dir", str(tmp / f"host{index}"), "--bind",
            f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}", "--no-access-log"]


@contextmanager
def start_host(tmp: Path, index: int, url: str) -> Iterator[Host]:
    port, admin = free_port(), free_port()
    with running(host_args(tmp, index, port, admin), f"http://127.0.0.1:{port}/_wasmlet/ready",
                 tmp / f"host{index}.log", env={"WASMLET_REGISTRY_URL": url}) as proc:
        yield Host(index, port, admin, proc)


@pytest.fixture
def hosts(tmp_path: Path, pg_database: str) -> Iterator[list[Host]]:
    with ExitStack() as stack:
        yield [stack.enter_context(start_host(tmp_path, i, pg_database)) for i in range(3)]


@pytest.fixture(scope="module")
def shared_hosts(tmp_path_factory: pytest.TempPathFactory, pg_module_database: str) -> Iterator[list[Host]]:
    """Three hosts the tests that stop none of them share (each uses its own function names)."""
    tmp = tmp_path_factory.mktemp("shared-hosts")
    with ExitStack() as stack:
        yield [stack.enter_context(start_host(tmp, i, pg_module_database)) for i in range(3)]


def serves(host: Host, path: str, expected: str) -> bool:
    r = httpx.get(host.url + path, timeout=5)
    return r.status_code == 200 and r.text == expected


def wait_all(hosts: list[Host], path: str, expected: str | None) -> list[float]:
    """Seconds until each host answers `path` with `expected` (None: with a 404), polled together."""
    started = time.monotonic()
    took: dict[int, float] = {}
    with httpx.Client(timeout=5) as client:
        while len(took) < len(hosts) and time.monotonic() - started < PROPAGATION_BOUND_S:
            for host in hosts:
                if host.index in took:
                    continue
                r = client.get(host.url + path)
                if (r.status_code == 404) if expected is None else (r.status_code == 200 and r.text == expected):
                    took[host.index] = time.monotonic() - started
            time.sleep(0.002)
    assert len(took) == len(hosts), f"not every host serves {path} -> {expected!r} after {PROPAGATION_BOUND_S} s: {took}"
    return [took[h.index] for h in hosts]


def test_a_change_on_any_host_is_served_by_every_host(shared_hosts: list[Host], probe_wasm: dict[str, Path]) -> None:
    """Deploy, alias moves and deletes on one host are served by all three within the bound; each host
    compiles the component itself, on first use, into its own cache."""
    hosts = shared_hosts
    wasm = probe_wasm["rust"].read_bytes()
    one, two, three = hosts
    first = one.deploy("probe", wasm, '[config]\nrelease = "one"\n')
    assert first.status_code == 201 and first.json()["version"] == "v1", first.text
    wait_all(hosts, "/probe/latest/config?key=release", 'Some("one")')
    for host in hosts:  # its own compile cache, filled on first use
        assert list((Path(host.proc.log_path).parent / f"host{host.index}" / "compiled").iterdir())  # type: ignore[attr-defined]

    assert two.deploy("probe", wasm, '[config]\nrelease = "two"\n').json()["version"] == "v2"
    wait_all(hosts, "/probe/latest/config?key=release", 'Some("two")')
    moved = httpx.put(f"http://127.0.0.1:{three.admin}/v1/functions/probe/aliases/stable", json={"version": "v1"})
    assert moved.status_code == 200, moved.text
    wait_all(hosts, "/probe/stable/config?key=release", 'Some("one")')

    listing = httpx.get(f"http://127.0.0.1:{one.admin}/v1/functions").json()["functions"]["probe"]
    assert listing["aliases"] == {"latest": "v2", "stable": "v1"}  # every host's admin API shows the same
    assert httpx.get(f"http://127.0.0.1:{two.admin}/v1/functions").json()["functions"]["probe"] == listing

    assert httpx.delete(f"http://127.0.0.1:{one.admin}/v1/functions/probe/aliases/stable").status_code == 200
    wait_all(hosts, "/probe/stable/config?key=release", None)
    gone = httpx.delete(f"http://127.0.0.1:{two.admin}/v1/functions/probe")
    assert gone.status_code == 200, gone.text
    wait_all(hosts, "/probe/latest/hello", None)
    wait_all(hosts, "/probe/v1/hello", None)
    again = three.deploy("probe", wasm)
    assert again.json()["version"] == "v3"  # version names are never reused, whichever host deploys
    wait_all(hosts, "/probe/latest/hello", "hello from rust")


def test_two_hosts_deploying_the_same_function_at_once_get_two_versions(shared_hosts: list[Host],
                                                                        probe_wasm: dict[str, Path]) -> None:
    """Concurrent deploys through different hosts: distinct versions, each with its own manifest and
    intact component, and `latest` names one of them on every host."""
    hosts = shared_hosts
    wasm = probe_wasm["rust"].read_bytes()
    for round_ in range(3):
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda h, r=round_: h.deploy("race", wasm, f'[config]\nrelease = "{r}-{h.index}"\n'),
                                    hosts[:2]))
        assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
        versions = [a.json()["version"] for a in answers]
        assert len(set(versions)) == 2, versions
        for answer, host in zip(answers, hosts[:2]):
            version = answer.json()["version"]
            wait_all(hosts, f"/race/{version}/config?key=release", f'Some("{round_}-{host.index}")')
    listing = httpx.get(f"http://127.0.0.1:{hosts[2].admin}/v1/functions").json()["functions"]["race"]
    assert [v["version"] for v in listing["versions"]] == [f"v{i}" for i in range(1, 7)]
    latest = listing["aliases"]["latest"]
    assert latest in ("v5", "v6")
    for host in hosts:
        assert httpx.get(f"{host.url}/race/latest/hello").text == "hello from rust"


def test_a_host_killed_mid_load_loses_only_its_requests_in_flight(hosts: list[Host],
                                                                  probe_wasm: dict[str, Path]) -> None:
    """A small round-robin balancer (as a load balancer would: a refused connection is retried on the
    next host and that host taken out) keeps 4 clients busy while one host is killed with SIGKILL;
    the only failures are requests that were in flight on the killed host."""
    assert hosts[0].deploy("probe", probe_wasm["rust"].read_bytes()).status_code == 201
    wait_all(hosts, "/probe/latest/hello", "hello from rust")
    victim = hosts[1]
    alive = {h.index: h for h in hosts}
    turn = itertools.count()
    lock = threading.Lock()
    ok: list[int] = []
    lost: list[tuple[int, str]] = []
    wrong: list[str] = []
    stop_at = time.monotonic() + 4.0

    def client() -> None:
        with httpx.Client(timeout=10) as http:
            while time.monotonic() < stop_at:
                with lock:
                    pool = sorted(alive)
                    host = alive[pool[next(turn) % len(pool)]]
                try:
                    r = http.get(f"{host.url}/probe/latest/hello")
                except httpx.ConnectError:  # nothing was sent: the balancer retries elsewhere
                    with lock:
                        alive.pop(host.index, None)
                    continue
                except httpx.TransportError as exc:  # sent, no answer: lost with the host
                    with lock:
                        alive.pop(host.index, None)
                        lost.append((host.index, type(exc).__name__))
                    continue
                if r.status_code == 200 and r.text == "hello from rust":
                    ok.append(host.index)
                else:
                    wrong.append(f"{host.index}: {r.status_code} {r.text[:200]}")

    with ThreadPoolExecutor(4) as pool:
        running_clients = [pool.submit(client) for _ in range(4)]
        time.sleep(1.5)
        before = len(ok)
        os.kill(victim.proc.pid, signal.SIGKILL)
        for f in running_clients:
            f.result(timeout=60)
    assert not wrong, wrong[:5]
    assert before > 20 and len(ok) > before + 20, (before, len(ok))  # served before and after the kill
    assert all(index == victim.index for index, _ in lost), lost
    assert len(lost) <= 4, lost  # at most one in flight per client
    assert victim.index not in alive
    assert {0, 2} <= set(ok[before:])  # the others kept serving


def test_a_host_waits_for_postgresql_says_why_and_catches_up_after_losing_it(
        tmp_path: Path, pg_database: str, pg_url: str, probe_wasm: dict[str, Path]) -> None:
    """Started while PostgreSQL is unreachable the host waits, saying why, and serves once it answers;
    when it loses PostgreSQL later it keeps serving what it knows with readiness 503 and the reason,
    and after reconnecting it serves what changed meanwhile."""
    from psycopg import conninfo

    pg = conninfo.conninfo_to_dict(pg_url)
    proxy_port = free_port()
    through_proxy = conninfo.make_conninfo(pg_database, host="127.0.0.1", port=str(proxy_port))
    wasm = probe_wasm["rust"].read_bytes()
    with start_host(tmp_path, 0, pg_database) as direct:
        assert direct.deploy("probe", wasm, '[config]\nrelease = "one"\n').status_code == 201
        port, admin = free_port(), free_port()
        log_path = tmp_path / "waiting.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(WASMLET + host_args(tmp_path, 1, port, admin), stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, "WASMLET_REGISTRY_URL": through_proxy}, start_new_session=True)
            proc.log_path = str(log_path)  # type: ignore[attr-defined]
            try:
                said = f"waiting for PostgreSQL at 127.0.0.1:{proxy_port}/"
                assert eventually(lambda: said in log_path.read_text(), timeout=60), read_log(proc)
                assert re.search(r"Connection refused; trying again every \d+ s", log_path.read_text()), read_log(proc)
                time.sleep(1)
                assert proc.poll() is None  # still waiting, not exited
                with pytest.raises(httpx.ConnectError):
                    httpx.get(f"http://127.0.0.1:{port}/_wasmlet/live")

                base = f"http://127.0.0.1:{port}"
                with StallProxy(str(pg.get("host") or "127.0.0.1"), int(pg.get("port") or 5432), port=proxy_port):
                    wait_healthy(f"{base}/_wasmlet/ready", proc, timeout=60)
                    assert httpx.get(f"{base}/probe/latest/config?key=release").text == 'Some("one")'
                # PostgreSQL gone (every connection through the proxy closed): unready, still serving
                assert eventually(lambda: httpx.get(f"{base}/_wasmlet/ready").status_code == 503, timeout=30)
                reason = httpx.get(f"{base}/_wasmlet/ready").json()["reason"]
                assert reason.startswith("registry unreachable: PostgreSQL at 127.0.0.1:") and str(proxy_port) in reason
                assert httpx.get(f"{base}/probe/latest/config?key=release").text == 'Some("one")'
                assert direct.deploy("probe", wasm, '[config]\nrelease = "two"\n').json()["version"] == "v2"
                with StallProxy(str(pg.get("host") or "127.0.0.1"), int(pg.get("port") or 5432), port=proxy_port):
                    assert eventually(lambda: httpx.get(f"{base}/_wasmlet/ready").status_code == 200, timeout=30), \
                        read_log(proc)[-3000:]
                    assert httpx.get(f"{base}/probe/latest/config?key=release").text == 'Some("two")'
                    assert "following PostgreSQL's changes at" in read_log(proc)
            finally:
                stop(proc)


def test_serve_refuses_a_postgres_registry_without_a_url(tmp_path: Path) -> None:
    config = tmp_path / "wasmlet.toml"
    config.write_text('[registry]\ntype = "postgres"\n')
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if k != "WASMLET_REGISTRY_URL"}
    run = subprocess.run(WASMLET + ["serve", "--config", str(config), "--data-dir", str(tmp_path / "d"), "--bind",
                                    f"127.0.0.1:{free_port()}", "--admin-bind", f"127.0.0.1:{free_port()}"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 2, run.stderr
    assert 'type = "postgres" needs a url: set [registry] url or WASMLET_REGISTRY_URL' in run.stderr
    assert "Traceback" not in run.stderr
    config.write_text('[registry]\ntype = "etcd"\n')
    run = subprocess.run(WASMLET + ["serve", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and '[registry] type must be "sqlite" or "postgres", not \'etcd\'' in run.stderr


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql//wasmlet:s3cret@127.0.0.1/db", "not a PostgreSQL URL or conninfo string"),
    ("mysql://root:s3cret@127.0.0.1/test", "not a PostgreSQL URL or conninfo string"),
    ("postgresql://postgres:s3cret@127.0.0.1:5432/no_such_database_here", 'database "no_such_database_here" does not exist'),
    ("postgresql://nobody_here:s3cret@127.0.0.1:5432/test", 'role "nobody_here" does not exist'),
])
def test_a_registry_url_that_cannot_work_stops_serve_at_once_without_showing_it(
        tmp_path: Path, pg_url: str, url: str, says: str) -> None:
    """Waiting helps an unreachable server, not a wrong URL: one line, exit 2, the password never shown."""
    config = tmp_path / "wasmlet.toml"
    config.write_text('[registry]\ntype = "postgres"\n')
    started = time.monotonic()
    run = subprocess.run(WASMLET + ["serve", "--config", str(config), "--data-dir", str(tmp_path / "d"), "--bind",
                                    f"127.0.0.1:{free_port()}", "--admin-bind", f"127.0.0.1:{free_port()}"],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "WASMLET_REGISTRY_URL": url})
    assert run.returncode == 2, run.stderr
    assert time.monotonic() - started < 20
    last = run.stderr.strip().splitlines()[-1]
    assert says in last and last.endswith("(url from WASMLET_REGISTRY_URL)"), run.stderr
    assert "s3cret" not in run.stderr and "Traceback" not in run.stderr


def test_a_server_config_beside_a_component_is_not_taken_for_its_manifest(tmp_path: Path) -> None:
    """The multi-host walk-through keeps `wasmlet.toml` (with `[registry]`) beside `hello.wasm`."""
    from wasmlet.manifest import manifest_path

    (tmp_path / "wasmlet.toml").write_text('[registry]\ntype = "postgres"\n')
    assert manifest_path(tmp_path) is None
    (tmp_path / "wasmlet.toml").write_text('[kv.default]\ntype = "redis"\nurl = "redis://127.0.0.1"\n')
    assert manifest_path(tmp_path) is None
    (tmp_path / "wasmlet.toml").write_text('kv = ["default"]\n[limits]\ntimeout_ms = 100\n')  # an old manifest
    assert manifest_path(tmp_path) == tmp_path / "wasmlet.toml"


def test_the_cli_pointed_at_a_functions_port_says_so(shared_hosts: list[Host]) -> None:
    run = subprocess.run(WASMLET + ["ls", "--admin", shared_hosts[0].url], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert f"127.0.0.1:{shared_hosts[0].port} serves functions, not the admin API: check --admin" in run.stderr
