"""The JavaScript/TypeScript guest SDK under plain Node (guest-js/test/*.test.ts, run the way
`wasmlet test` runs a function's unit tests), and its build's one-line errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from guests import ROOT, unavailable

from wasmlet import _build_js
from wasmlet.build import BuildError, build_js, js_sdk_dir


@pytest.fixture(scope="module")
def node() -> str:
    try:
        return _build_js.find_node()
    except _build_js.JsBuildError as exc:
        unavailable(str(exc))
        raise


def test_sdk_unit_tests_pass_under_node(node: str, tmp_path: Path) -> None:
    cmd = _build_js.unit_test_command(ROOT / "guest-js", js_sdk_dir(), tmp_path, {})
    proc = subprocess.run(cmd, cwd=ROOT / "guest-js", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout and "# pass 0" not in proc.stdout


def test_a_type_error_in_a_handler_fails_the_build_with_its_location(node: str, tmp_path: Path) -> None:
    src = tmp_path / "typo"
    shutil.copytree(ROOT / "guest-js" / "examples" / "hello", src, ignore=shutil.ignore_patterns("node_modules"))
    app = src / "src" / "app.ts"
    app.write_text(app.read_text().replace("req.params.word!.toUpperCase()", "req.params.word!.toUpperCase(42)"))
    with pytest.raises(BuildError) as caught:
        build_js(src, tmp_path / "out.wasm", cache_dir=tmp_path / "cache")
    assert "src/app.ts(" in str(caught.value) and "TS2554" in str(caught.value)
    assert not (tmp_path / "out.wasm").exists()


def test_a_folder_without_an_app_module_says_where_it_looked(node: str, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "package.json").write_text('{"name": "empty", "type": "module"}')
    with pytest.raises(BuildError, match="no app module found"):
        build_js(tmp_path / "empty", tmp_path / "out.wasm", cache_dir=tmp_path / "cache")


def test_a_missing_node_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(_build_js.JsBuildError) as caught:
        _build_js.find_node()
    assert "Node.js 20 or newer was not found" in str(caught.value) and "\n" not in str(caught.value)
