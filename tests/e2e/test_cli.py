"""The CLI explains itself: one-line errors for everyday slips, help for every command, progress,
config discovery, manifest naming and reloads, JSON logs, the dev server's index and builds that
give the same bytes for the same source."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from guests import ROOT
from servers import WASMLET, eventually, free_port, read_log, running

from wasmlet.server import parse_bind

COMMANDS = ["bindgen", "build", "new", "test", "inspect", "dev", "serve", "deploy", "ls", "alias", "rm"]


def wasmlet(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([*WASMLET, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def one_line_error(proc: subprocess.CompletedProcess[str], fragment: str, code: int = 2) -> None:
    """Failed with `code`, said `fragment` on one stderr line, and showed no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("wasmlet")]
    assert any(fragment in line for line in lines), proc.stderr


def test_version_and_help_of_every_command() -> None:
    from wasmlet import __version__

    version = wasmlet("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"wasmlet {__version__}"
    top = wasmlet("--help").stdout
    for command in COMMANDS:
        assert command in top
        helped = wasmlet(command, "--help")
        assert helped.returncode == 0 and "usage: wasmlet" in helped.stdout, (command, helped.stderr)
        assert len(helped.stdout.splitlines()) > 4, command  # a description and its options, not a bare usage
    assert "WASMLET_ADMIN_TOKEN" in wasmlet("deploy", "--help").stdout
    assert "WASMLET_ADMIN_URL" in wasmlet("ls", "--help").stdout
    assert "default: " in wasmlet("dev", "--help").stdout


@pytest.mark.parametrize("bind,expected", [("3000", ("127.0.0.1", 3000)), (":8080", ("127.0.0.1", 8080)),
                                           ("0.0.0.0", ("0.0.0.0", 3000)), ("[::1]:9", ("::1", 9)),
                                           ("localhost:1", ("localhost", 1))])
def test_bind_accepts_a_port_alone(bind: str, expected: tuple[str, int]) -> None:
    assert parse_bind(bind) == expected


@pytest.mark.parametrize("bind", ["x:y", "host:99999", "1.2.3.4:-1"])
def test_a_bad_bind_is_one_line(bind: str, hello_wasm: dict[str, Path]) -> None:
    one_line_error(wasmlet("dev", "--bind", bind, "-m", f"h:{hello_wasm['rust']}"), "--bind")


def test_more_slips_found_by_a_newcomer_are_one_line(tmp_path: Path, hello_wasm: dict[str, Path]) -> None:
    one_line_error(wasmlet("dev", "--port", "99999", "-m", f"h:{hello_wasm['rust']}"), "between 0 and 65535")
    one_line_error(wasmlet("dev", "--bind", "http://127.0.0.1:3000", "-m", f"h:{hello_wasm['rust']}"), "without a scheme")
    one_line_error(wasmlet("serve", "--backend", "trio", "--data-dir", str(tmp_path)), "needs the hypercorn server")
    one_line_error(wasmlet("dev", "--backend", "trio", "-m", f"h:{hello_wasm['rust']}"), "needs the hypercorn server")
    nowhere = f"127.0.0.1:{free_port()}"
    one_line_error(wasmlet("ls", "--admin", nowhere), "no admin API answers")  # no scheme: http:// assumed
    one_line_error(wasmlet("ls", "--admin", f"ftp://{nowhere}"), "starts with http://")
    one_line_error(wasmlet("ls", "--admin", f"http://{nowhere}", env={"WASMLET_ADMIN_TOKEN": "sec ret"}),
                   "control characters")
    one_line_error(wasmlet("dev", "nosuch"), "nosuch: no such source folder")
    one_line_error(wasmlet("inspect", "nosuch.wasm"), "nosuch.wasm: no such file")
    one_line_error(wasmlet("serve", "--config", "nosuch.toml"), "nosuch.toml: no such file")
    (tmp_path / "notes.wasm").write_text("not wasm")
    one_line_error(wasmlet("dev", "-m", f"n:{tmp_path / 'notes.wasm'}"), "notes.wasm")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        admin = taken.getsockname()[1]
        one_line_error(wasmlet("serve", "--port", str(free_port()), "--admin-bind", f"127.0.0.1:{admin}",
                               "--data-dir", str(tmp_path)), "pick another with --admin-bind")


def test_deploy_takes_the_manifest_beside_the_component(tmp_path: Path, hello_wasm: dict[str, Path]) -> None:
    port, admin = free_port(), free_port()
    shutil.copy(hello_wasm["rust"], tmp_path / "hello.wasm")
    (tmp_path / "hello.toml").write_text('[config]\ngreeting = "hi"\n')
    with running(["serve", "--port", str(port), "--admin-bind", f"127.0.0.1:{admin}", "--data-dir",
                  str(tmp_path / "data")], f"http://127.0.0.1:{port}/_wasmlet/health", tmp_path / "serve.log"):
        deployed = wasmlet("deploy", "hello", str(tmp_path / "hello.wasm"), "--admin", f"127.0.0.1:{admin}")
        assert deployed.returncode == 0 and f"manifest: {tmp_path / 'hello.toml'}" in deployed.stderr, deployed.stderr
        (tmp_path / "hello.toml").write_text('[config]\ngreeting = "hi"\n')
        again = wasmlet("deploy", "hello", str(tmp_path / "hello.wasm"), "--admin", f"127.0.0.1:{admin}")
        assert again.returncode == 0 and again.stdout.startswith("unchanged: hello v1"), again.stdout
        (tmp_path / "hello.toml").unlink()
        bare = wasmlet("deploy", "hello", str(tmp_path / "hello.wasm"), "--admin", f"127.0.0.1:{admin}")
        assert bare.returncode == 0 and "it is granted nothing" in bare.stderr and "deployed hello v2" in bare.stdout
        one_line_error(wasmlet("deploy", "Bad_Name", str(tmp_path / "hello.wasm"), "--admin", f"127.0.0.1:{admin}"),
                       "invalid function name")
        (tmp_path / "bad.toml").write_text("[limits]\ntimeout_ms = \"soon\"\n")
        one_line_error(wasmlet("deploy", "hello", str(tmp_path / "hello.wasm"), "--manifest", str(tmp_path / "bad.toml"),
                               "--admin", f"127.0.0.1:{admin}"), "bad.toml: limits.timeout_ms")


def test_port_in_use_is_one_line(hello_wasm: dict[str, Path]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        one_line_error(wasmlet("dev", "--port", str(port), "-m", f"h:{hello_wasm['rust']}"), "already in use")
        one_line_error(wasmlet("serve", "--bind", f"127.0.0.1:{port}", "--data-dir", "/tmp/wasmlet-unused"),
                       "already in use")


@pytest.mark.parametrize("config,fragment", [
    ("[server]\ngrace_seconds = \"soon\"\n", "grace_seconds must be a number"),
    ("[server]\nbind = 3000\n", "bind must be a string"),
    ("[server]\nserver = \"nginx\"\n", 'server must be "uvicorn" or "hypercorn"'),
    ("[server]\nworkers = 4\n", "unknown key(s) workers"),
    ("[admin]\ntoken = 5\n", "token must be a string"),
    ("[limits]\ntimeout_ms = 5\n", "function's manifest"),
    ("[server\n", "wasmlet.toml"),
    ("[kv.default]\ntype = \"memcached\"\n", "wasmlet.toml: kv.default"),
])
def test_bad_config_is_one_line(tmp_path: Path, config: str, fragment: str, hello_wasm: dict[str, Path]) -> None:
    (tmp_path / "wasmlet.toml").write_text(config)
    one_line_error(wasmlet("serve", "--config", str(tmp_path / "wasmlet.toml")), fragment)
    if "manifest" not in fragment:  # found in the working directory too
        one_line_error(wasmlet("dev", "-m", f"h:{hello_wasm['rust']}", cwd=tmp_path), fragment)


def test_admin_client_slips_are_one_line(tmp_path: Path, hello_wasm: dict[str, Path]) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    one_line_error(wasmlet("ls", "--admin", nowhere), "no admin API answers")
    one_line_error(wasmlet("deploy", "x", str(tmp_path / "missing.wasm"), "--admin", nowhere), "no such file")
    (tmp_path / "notes.txt").write_text("hello")
    one_line_error(wasmlet("deploy", "x", str(tmp_path / "notes.txt"), "--admin", nowhere), "not a WebAssembly component")
    (tmp_path / "core.wasm").write_bytes(b"\0asm\x01\0\0\0")
    one_line_error(wasmlet("deploy", "x", str(tmp_path / "core.wasm"), "--admin", nowhere), "core WebAssembly module")
    one_line_error(wasmlet("deploy", "x", str(tmp_path), "--admin", nowhere), "is a folder")
    one_line_error(wasmlet("inspect", str(tmp_path / "notes.txt")), "notes.txt", code=1)
    one_line_error(wasmlet("dev", "-m", f"h:{tmp_path / 'missing.wasm'}"), "no such file")
    one_line_error(wasmlet("dev", str(tmp_path)), "no Cargo.toml")
    unknown = wasmlet("serve", "--server", "nginx")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr and "Traceback" not in unknown.stderr


def test_a_python_syntax_error_shows_file_and_line_first(tmp_path: Path) -> None:
    assert wasmlet("new", "python", "broken", cwd=tmp_path).returncode == 0
    app = tmp_path / "broken" / "app.py"
    app.write_text(app.read_text() + "\n\ndef oops(:\n    pass\n")
    line = app.read_text().splitlines().index("def oops(:") + 1
    built = wasmlet("build", "broken", cwd=tmp_path)
    assert built.returncode == 1 and "Traceback" not in built.stderr.split("\n\n")[0]
    first = next(x for x in built.stderr.splitlines() if x.startswith("wasmlet"))
    assert first == f"wasmlet build: broken/app.py:{line}: SyntaxError: invalid syntax", built.stderr
    assert "Stack backtrace" not in built.stderr and "componentize_py::" not in built.stderr


def test_python_builds_give_the_same_bytes_for_the_same_source(tmp_path: Path) -> None:
    env = {"WASMLET_BUILD_CACHE": str(tmp_path / "cache")}
    assert wasmlet("new", "python", "same", cwd=tmp_path).returncode == 0
    first = wasmlet("build", "same", "-o", "a.wasm", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "building same" in first.stderr  # progress lines on stderr, the result on stdout
    second = wasmlet("build", "same", "-o", "b.wasm", cwd=tmp_path, env=env)
    assert "unchanged since the last build" in second.stderr
    assert (tmp_path / "a.wasm").read_bytes() == (tmp_path / "b.wasm").read_bytes()
    (tmp_path / "same" / "static" / "extra.txt").write_text("a new static file changes the component")
    assert wasmlet("build", "same", "-o", "c.wasm", cwd=tmp_path, env=env).returncode == 0
    assert (tmp_path / "c.wasm").read_bytes() != (tmp_path / "a.wasm").read_bytes()


def test_rust_builds_give_the_same_bytes_for_the_same_source(tmp_path: Path) -> None:
    env = {"CARGO_TARGET_DIR": str(ROOT / ".wasmlet" / "cargo-target")}
    hello = ROOT / "guest-rust" / "examples" / "hello"
    for out in ("a.wasm", "b.wasm"):
        built = wasmlet("build", str(hello), "-o", str(tmp_path / out), env=env)
        assert built.returncode == 0, built.stderr
    assert (tmp_path / "a.wasm").read_bytes() == (tmp_path / "b.wasm").read_bytes()


def test_dev_reads_wasmlet_toml_lists_functions_and_logs_json(tmp_path: Path, hostile_wasm: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "wasmlet.toml").write_text("[server]\nmax_headers = 50\n")
    shutil.copy(hostile_wasm, tmp_path / "fn.wasm")
    with running(["dev", "--port", str(port), "--json-logs", "-m", "fn:fn.wasm"], f"{base}/_wasmlet/health",
                 tmp_path / "dev.log", cwd=tmp_path) as proc:
        listing = httpx.get(f"{base}/").json()
        assert listing == {"functions": [{"name": "fn", "url": f"{base}/fn/latest/".replace("127.0.0.1", "127.0.0.1"),
                                          "status": "serving", "source": str(tmp_path / "fn.wasm"), "manifest": None}]}
        options = httpx.options(f"{base}/")
        assert options.status_code == 204 and "GET" in options.headers["allow"]
        resp = httpx.get(f"{base}/fn/latest/spin?n=1&log=1", headers={"x-request-id": "trace-me-1"})
        assert resp.status_code == 200
        too_many = httpx.get(f"{base}/fn/latest/hello", headers={f"x-h{i}": "1" for i in range(60)})
        assert too_many.status_code == 431  # [server] max_headers from ./wasmlet.toml
        assert eventually(lambda: "trace-me-1" in read_log(proc), timeout=10)
    lines = [line for line in read_log(proc).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON, the startup and the libraries' too
    assert any(r["message"] == "config: ./wasmlet.toml" for r in records)
    assert any(f"fn: {base}/fn/latest/" in r["message"] for r in records)  # each function's URL at start
    guest = [r for r in records if r["logger"] == "wasmlet.guest.fn" and r.get("request_id") == "trace-me-1"]
    assert guest and guest[0]["version"] == "dev" and guest[0]["function"] == "fn"
    access = [r for r in records if r["logger"] == "wasmlet.access" and r.get("request_id") == "trace-me-1"]
    assert access and access[0]["status"] == 200 and access[0]["target"] == "/fn/latest/spin?n=1&log=1"


def test_text_logs_carry_version_and_request_id(tmp_path: Path, hostile_wasm: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["dev", "--port", str(port), "-m", f"fn:{hostile_wasm}"], f"{base}/_wasmlet/health",
                 tmp_path / "dev.log") as proc:
        httpx.get(f"{base}/fn/latest/spin?n=1&log=1", headers={"x-request-id": "rid-text-1"})
        assert eventually(lambda: "rid-text-1" in read_log(proc), timeout=10)
    guest = [line for line in read_log(proc).splitlines() if "wasmlet.guest.fn" in line]
    assert guest and guest[0].endswith("[fn/dev rid=rid-text-1]"), guest
    assert read_log(proc).rstrip().endswith("wasmlet: stopped")  # the last line, after SIGTERM
    assert "\x1b[" not in read_log(proc)  # no colour when not on a terminal


def test_dev_reloads_a_manifest_and_reads_the_legacy_name(tmp_path: Path) -> None:
    src = tmp_path / "counter"
    assert wasmlet("new", "python", "counter", cwd=tmp_path).returncode == 0
    app = src / "app.py"
    app.write_text(app.read_text().replace("WitWorld = app.export()", '''
from wasmlet_guest import config


@app.get("/greeting")
def greeting() -> str:
    return config.get("greeting") or "(none)"


WitWorld = app.export()'''))
    (src / "wasmlet.toml").write_text('[config]\ngreeting = "old name"\n')
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["dev", "--port", str(port), str(src)], f"{base}/_wasmlet/health", tmp_path / "dev.log",
                 ready_timeout=240) as proc:
        assert httpx.get(f"{base}/counter/latest/greeting").text == "old name"
        assert "is now named function.toml" in read_log(proc)
        (src / "function.toml").write_text('[config]\ngreeting = "new name"\n')
        assert eventually(lambda: httpx.get(f"{base}/counter/latest/greeting").text == "new name", timeout=120)
        (src / "function.toml").write_text('[limits]\ntimeout_ms = "soon"\n')  # broken: the last good one stays
        assert eventually(lambda: "kept the previous counter" in read_log(proc), timeout=60)
        assert httpx.get(f"{base}/counter/latest/greeting").text == "new name"
        listed = httpx.get(f"{base}/").json()["functions"][0]
        assert listed["status"] == "serving" and "timeout_ms" in listed["problem"]


def test_dev_waits_for_a_fix_when_the_first_build_fails(tmp_path: Path) -> None:
    src = tmp_path / "later"
    assert wasmlet("new", "python", "later", cwd=tmp_path).returncode == 0
    app = src / "app.py"
    good = app.read_text()
    app.write_text(good + "\nthis is not python\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["dev", "--port", str(port), str(src)], f"{base}/_wasmlet/health", tmp_path / "dev.log",
                 ready_timeout=240) as proc:
        assert "fix it and save" in read_log(proc)
        status = httpx.get(f"{base}/").json()["functions"][0]["status"]
        assert status.startswith("the first build failed") and "app.py:" in status, status  # file:line first
        assert httpx.get(f"{base}/later/latest/hello/x").status_code == 404
        time.sleep(0.5)
        app.write_text(good)
        assert eventually(lambda: httpx.get(f"{base}/later/latest/hello/x").text == "Hello, x!", timeout=180)
        assert httpx.get(f"{base}/").json()["functions"][0]["status"] == "serving"


def test_serve_warns_when_the_admin_api_has_no_token(tmp_path: Path) -> None:
    port, admin = free_port(), free_port()
    with running(["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}",
                  "--data-dir", str(tmp_path / "data")], f"http://127.0.0.1:{port}/_wasmlet/health",
                 tmp_path / "serve.log", env={"WASMLET_ADMIN_TOKEN": ""}) as proc:
        assert "has no token" in read_log(proc)
        assert "config: embedded defaults" in read_log(proc)
    with running(["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}",
                  "--data-dir", str(tmp_path / "data")], f"http://127.0.0.1:{port}/_wasmlet/health",
                 tmp_path / "serve2.log", env={"WASMLET_ADMIN_TOKEN": "s3cret"}) as proc:
        assert "has no token" not in read_log(proc)


def test_instance_pool_from_wasmlet_toml(tmp_path: Path, hostile_wasm: Path) -> None:
    """`[server] instance_pool = true`: the pooled engine serves, and module state never survives a slot's reuse."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "wasmlet.toml").write_text("[server]\ninstance_pool = true\npool_keep_resident_mb = 16\n")
    with running(["dev", "--port", str(port), "-m", f"fn:{hostile_wasm}"], f"{base}/_wasmlet/health",
                 tmp_path / "dev.log", cwd=tmp_path):
        assert [httpx.get(f"{base}/fn/latest/count").text for _ in range(5)] == ["1"] * 5
        assert httpx.get(f"{base}/fn/latest/hello").text == "hello from hostile"
    (tmp_path / "wasmlet.toml").write_text("[server]\npool_keep_resident_mb = -1\n")
    one_line_error(wasmlet("dev", "-m", f"fn:{hostile_wasm}", cwd=tmp_path), "pool_keep_resident_mb must be 0 or more")


def test_serve_keeps_sqlite_stores_under_data_dir(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    """`--data-dir` holds the registry and the functions' SQLite kv stores and databases, not the working directory."""
    port, admin = free_port(), free_port()
    data, elsewhere = tmp_path / "data", tmp_path / "cwd"
    elsewhere.mkdir()
    shutil.copy(probe_wasm["rust"], tmp_path / "probe.wasm")
    (tmp_path / "probe.toml").write_text('[kv]\nstores = ["default"]\n')
    with running(["serve", "--port", str(port), "--admin-bind", f"127.0.0.1:{admin}", "--data-dir", str(data)],
                 f"http://127.0.0.1:{port}/_wasmlet/health", tmp_path / "serve.log", cwd=elsewhere):
        assert wasmlet("deploy", "probe", str(tmp_path / "probe.wasm"), "--admin", f"127.0.0.1:{admin}").returncode == 0
        assert httpx.get(f"http://127.0.0.1:{port}/probe/latest/kv?op=set&key=k&value=v").text == "ok"
    assert (data / "kv-default.sqlite3").is_file()
    assert not (elsewhere / ".wasmlet").exists()
