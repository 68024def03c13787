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
from wasmlet.build import BuildError, run_function_tests


def wasmlet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(WASMLET + list(args), cwd=cwd, capture_output=True, text=True, timeout=600)


UNIT_PASSED = {"rust": "3 passed", "python": "3 passed", "ts": "# pass 3", "js": "# pass 3"}
"""What each language's unit test runner prints when the scaffold's three tests pass."""


@pytest.mark.parametrize("language", ["rust", "python", "ts", "js"])
def test_new_function_builds_passes_its_tests_and_serves(tmp_path: Path, runtime: Runtime, language: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests natively, then the scaffolded integration tests through wasmlet.testing (which builds
    the component); the component it built serves."""
    monkeypatch.setenv("CARGO_TARGET_DIR", str(CARGO_TARGET))  # inherited by cargo test and the harness's build
    created = wasmlet("new", language, "demo", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    src = tmp_path / "demo"
    assert (src / "integration" / "test_integration.py").is_file()
    try:
        tested = run_function_tests(src)
    except BuildError as exc:
        unavailable(str(exc))
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    unit, integration = tested.phases
    assert (unit.phase, unit.outcome, integration.phase, integration.outcome) == \
        ("unit", "passed", "integration", "passed")
    assert UNIT_PASSED[language] in unit.stdout and "3 passed" in integration.stdout
    [out] = (src / ".wasmlet" / "harness-build").glob("demo-*.wasm")  # built by the harness, once
    fn = runtime.load_file(out)
    resp = runtime.invoke(fn, EventHttp(Request("GET", "/hello/world", "", [], BodyText(""), "/demo/latest")))
    assert resp.body == BodyText("Hello, world!")
    again = wasmlet("new", language, "demo", cwd=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_wasmlet_test_reports_both_phases_and_fails_on_a_failing_integration_test(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGO_TARGET_DIR", str(CARGO_TARGET))
    assert wasmlet("new", "rust", "both", cwd=tmp_path).returncode == 0
    passing = wasmlet("test", "both", cwd=tmp_path)
    if passing.returncode != 0 and "toolchain" in passing.stderr:
        unavailable(passing.stderr)
    assert passing.returncode == 0, passing.stdout[-3000:] + passing.stderr[-3000:]
    assert "== wasmlet test: unit tests: cargo test" in passing.stdout
    assert passing.stdout.index("test result: ok. 3 passed") < passing.stdout.index("== wasmlet test: integration")
    assert passing.stdout.rstrip().endswith("unit tests passed, integration tests passed")
    test = tmp_path / "both" / "integration" / "test_integration.py"
    test.write_text(test.read_text().replace('"Hello, world!"', '"Goodbye!"'))
    failing = wasmlet("test", "both", cwd=tmp_path)
    assert failing.returncode == 1
    assert "1 failed, 2 passed" in failing.stdout
    assert failing.stdout.rstrip().endswith("unit tests passed, integration tests failed (exit 1)")
    assert len(list((tmp_path / "both" / ".wasmlet" / "harness-build").glob("both-*.wasm"))) == 1, \
        "editing an integration test rebuilt the component"


EDITS = {
    "rust": ("src/lib.rs", '"Hello, {}!"', '"Howdy, {}!"', "fn hello(", "fn hello( this is not rust"),
    "ts": ("src/app.ts", "`Hello, ${req.params.name}!`", "`Howdy, ${req.params.name}!`",
           "(req) => `Howdy", "(req: number) => `Howdy"),
}
"""Per language: the file to edit, a change of the greeting, and an edit that breaks the build."""


@pytest.mark.parametrize("language", list(EDITS))
def test_dev_rebuilds_a_source_directory_and_keeps_serving_through_a_broken_build(tmp_path: Path,
                                                                                 language: str) -> None:
    assert wasmlet("new", language, "live", cwd=tmp_path).returncode == 0
    rel, old, new, good, bad = EDITS[language]
    source = tmp_path / "live" / rel
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["dev", "--bind", f"127.0.0.1:{port}", "live"], f"{base}/_wasmlet/health",
                 tmp_path / "dev.log", cwd=tmp_path, ready_timeout=300) as proc:  # a first build
        assert httpx.get(f"{base}/live/latest/hello/you").text == "Hello, you!"
        source.write_text(source.read_text().replace(old, new))
        assert eventually(lambda: httpx.get(f"{base}/live/latest/hello/you").text == "Howdy, you!", timeout=120)
        source.write_text(source.read_text().replace(good, bad))
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
    with pytest.raises(ValueError, match="invalid function name|no such source folder"):
        DevFunction.parse(f"{bad}:{tmp_path / 'f.wasm'}", tmp_path)
    with pytest.raises(RegistryError, match="invalid function name"):
        check_name("function", bad)
    for good in ("hello", "orders-v2", "a_b", "x" * 63):
        assert check_function_name(good) == good
