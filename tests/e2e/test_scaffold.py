"""`wasmlet new` scaffolds build, pass their own tests and serve; `wasmlet dev DIR`
rebuilds on a source change and survives a broken build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from guests import CARGO_TARGET, unavailable
from servers import WASMLET, eventually, free_port, read_log, running

from wasmlet import BodyText, EventHttp, Request, Runtime
from wasmlet.build import BuildError, build_python, build_rust, run_function_tests


def wasmlet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(WASMLET + list(args), cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("language", ["rust", "python"])
def test_new_function_builds_passes_its_test_and_serves(tmp_path: Path, runtime: Runtime, language: str) -> None:
    created = wasmlet("new", language, "demo", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    src = tmp_path / "demo"
    try:
        tested = run_function_tests(src)
    except BuildError as exc:
        unavailable(str(exc))
    assert tested.returncode == 0, tested.stdout[-2000:] + tested.stderr[-2000:]
    assert "3 passed" in tested.stdout
    out = tmp_path / "demo.wasm"
    if language == "rust":
        build_rust(src, out, target_dir=CARGO_TARGET)
    else:
        build_python(src, out)
    fn = runtime.load_file(out)
    resp = runtime.invoke(fn, EventHttp(Request("GET", "/hello/world", "", [], BodyText(""), "/demo/latest")))
    assert resp.body == BodyText("Hello, world!")
    again = wasmlet("new", language, "demo", cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_dev_rebuilds_a_source_directory_and_keeps_serving_through_a_broken_build(tmp_path: Path) -> None:
    assert wasmlet("new", "rust", "live", cwd=tmp_path).returncode == 0
    lib = tmp_path / "live" / "src" / "lib.rs"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["dev", "--bind", f"127.0.0.1:{port}", "live"], f"{base}/_wasmlet/health",
                 tmp_path / "dev.log", cwd=tmp_path, ready_timeout=300) as proc:  # a first cargo build
        assert httpx.get(f"{base}/live/latest/hello/you").text == "Hello, you!"
        lib.write_text(lib.read_text().replace('"Hello, {}!"', '"Howdy, {}!"'))
        assert eventually(lambda: httpx.get(f"{base}/live/latest/hello/you").text == "Howdy, you!", timeout=120)
        lib.write_text(lib.read_text().replace("fn hello(", "fn hello( this is not rust"))
        assert eventually(lambda: "build of live failed" in read_log(proc), timeout=120)
        assert "error" in read_log(proc)  # the compiler's own message is shown
        assert httpx.get(f"{base}/live/latest/hello/you").text == "Howdy, you!"
        assert proc.poll() is None


@pytest.mark.parametrize("bad", ["Hello", "héllo", "my fn", "a/b", "1abc", "-x", "x" * 64, ""])
def test_one_function_name_rule_everywhere(tmp_path: Path, bad: str) -> None:
    """`new` used to accept `Hello` and `héllo`, `dev -m` accepted `my fn`; deploy refused them."""
    from wasmlet.dev import DevFunction
    from wasmlet.names import check_function_name
    from wasmlet.registry import RegistryError, check_name
    from wasmlet.scaffold import scaffold

    with pytest.raises(ValueError, match="invalid function name"):
        check_function_name(bad)
    with pytest.raises(ValueError, match="invalid function name"):
        scaffold("python", bad, tmp_path)
    (tmp_path / "f.wasm").write_bytes(b"\0asm")
    with pytest.raises(ValueError, match="invalid function name|expects NAME"):
        DevFunction.parse(f"{bad}:{tmp_path / 'f.wasm'}", tmp_path)
    with pytest.raises(RegistryError, match="invalid function name"):
        check_name("function", bad)
    for good in ("hello", "orders-v2", "a_b", "x" * 63):
        assert check_function_name(good) == good
