"""The wasmtime-py pin: private API only behind `wasmlet._wasmtime`, which refuses any other
release with a one-line message; the host never imports the generator at run time (no wasm)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import wasmtime

from wasmlet import _wasmtime
from wasmlet._wasmtime import PINNED, WasmtimeVersionError, check_version

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = ("wasmlet needs wasmtime-py 51.0.0 (its private C-API bindings are used); "
           "found {}: pip install wasmtime==51.0.0")


@pytest.mark.parametrize("found", ["51.0.1", "51.1.0", "52.0.0", "50.0.1", "5.0.0", "unknown"])
def test_another_release_is_refused_with_one_clear_line(found: str) -> None:
    with pytest.raises(WasmtimeVersionError) as info:
        check_version(found)
    assert str(info.value) == MESSAGE.format(found)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ImportError)


@pytest.mark.parametrize("found", ["51.0.0", "51.0.0.post1", "51.0.0+local"])
def test_the_pinned_release_passes(found: str) -> None:
    check_version(found)


def test_the_pin_is_pyprojects_and_the_installed_release() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"wasmtime=={PINNED}" in deps
    assert _wasmtime.WASMTIME_VERSION.startswith(PINNED)


def _load_copy() -> None:
    """Executes a fresh, unregistered copy of `wasmlet._wasmtime`, as importing it would."""
    spec = importlib.util.spec_from_file_location("wasmlet_wasmtime_copy", _wasmtime.__file__)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_importing_under_another_installed_release_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "wasmtime").mkdir()
    (tmp_path / "wasmtime-49.0.0.dist-info").mkdir()
    monkeypatch.setattr(wasmtime, "__file__", str(tmp_path / "wasmtime" / "__init__.py"))
    with pytest.raises(ImportError) as info:  # the copy's own WasmtimeVersionError class
        _load_copy()
    assert type(info.value).__name__ == "WasmtimeVersionError"
    assert str(info.value) == MESSAGE.format("49.0.0")
    monkeypatch.undo()
    _load_copy()  # the installed (pinned) release imports cleanly


PRIVATE = re.compile(r"wasmtime\._(?!_)|from wasmtime import _|\._context\(|\._func\b|\._from_ptr\b|\._ptr\b")


def test_private_wasmtime_api_is_used_only_in_one_module() -> None:
    users = sorted(
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in [*(ROOT / "host").rglob("*.py"), *(ROOT / "bindgen").rglob("*.py")]
        if path != ROOT / "host" / "_wasmtime.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line)
    )
    assert users == []


def test_the_host_never_imports_the_generator() -> None:
    code = ("import importlib, pkgutil, sys, wasmlet\n"
            "for m in pkgutil.walk_packages(wasmlet.__path__, 'wasmlet.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(sorted(m for m in sys.modules if m.startswith('wasmlet_bindgen')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_old_import_name_is_the_same_runtime() -> None:
    from wasmlet.bindings import _abi
    from wasmlet_bindgen import abi

    assert abi.call is _abi.call is _wasmtime.call
    assert abi.Result is _abi.Result and abi.BindingError is _abi.BindingError
    assert set(abi.__all__) <= set(vars(abi))
