"""wasmlet works outside the checkout: the wheel, installed (not editable) in a fresh venv, can
scaffold, test, build and bindgen functions in both languages (the SDKs ship inside it)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from guests import ROOT, unavailable

FUNCTION_WIT = """package acme:greeter@0.1.0;

interface host {
  log: func(message: string);
}

world greeter {
  import host;
  export greet: func(name: string) -> result<string, string>;
}
"""


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh venv with the wheel built from this checkout (dependencies from the package index or pip's cache)."""
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    try:
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(base / "dist")], base, env)
        venv = base / "venv"
        run([sys.executable, "-m", "venv", str(venv)], base, env)
        (wheel,) = (base / "dist").glob("wasmlet-*.whl")
        run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", f"{wheel}[test]"], base, env)
    except AssertionError as exc:
        if "Could not find a version" in str(exc) or "No matching distribution" in str(exc):
            unavailable(f"the package index is not reachable: {str(exc)[-300:]}")
        raise
    env = dict(env, PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               WASMLET_BUILD_CACHE=str(base / "build-cache"), CARGO_TARGET_DIR=str(base / "cargo-target"))
    yield venv, env


def test_the_wheel_carries_the_sdks_and_the_contract(installed: tuple[Path, dict[str, str]]) -> None:
    venv, env = installed
    (wheel,) = Path(venv.parent / "dist").glob("wasmlet-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"wasmlet/_wit/faas.wit", "wasmlet/_rust_sdk/Cargo.toml", "wasmlet/_rust_sdk/src/lib.rs",
            "wasmlet_guest/__init__.py", "wasmlet/testing/__init__.py", "wasmlet/_js_sdk/package.json",
            "wasmlet/_js_sdk/package-lock.json", "wasmlet/_js_sdk/src/index.ts", "wasmlet/_js_sdk/src/faas.d.ts",
            "wasmlet/_js_sdk/tools/build.mjs", "wasmlet/_js_sdk/tools/test.mjs"} <= names
    assert not [n for n in names if n.startswith(("wasmlet/_rust_sdk/examples", "wasmlet/_js_sdk/examples",
                                                  "wasmlet/_js_sdk/node_modules", "tests/"))]
    where = run([str(venv / "bin" / "python"), "-c", "import wasmlet.build as b; print(b.wit_dir()); "
                 "print(b.rust_sdk_dir()); print(b.python_sdk_dir()); print(b.js_sdk_dir())"],
                venv, env).stdout.split()
    assert all(str(venv) in w and str(ROOT) not in w for w in where), where


@pytest.mark.parametrize("language", ["python", "rust"])
def test_scaffold_test_build_outside_the_checkout(installed: tuple[Path, dict[str, str]], tmp_path: Path,
                                                  language: str) -> None:
    venv, env = installed
    wasmlet = str(venv / "bin" / "wasmlet")
    run([wasmlet, "new", language, "greeter"], tmp_path, env)
    written = "\n".join(p.read_text() for p in (tmp_path / "greeter").rglob("*") if p.is_file())
    assert str(ROOT) not in written and str(venv) not in written  # no absolute paths into a checkout or venv
    tested = run([wasmlet, "test", "greeter"], tmp_path, env)
    assert "passed" in tested.stdout + tested.stderr
    built = run([wasmlet, "build", "greeter", "-o", "greeter.wasm"], tmp_path, env)
    assert (tmp_path / "greeter.wasm").read_bytes()[:4] == b"\0asm", built.stderr
    inspected = run([wasmlet, "inspect", "greeter.wasm"], tmp_path, env).stdout
    assert "export" in inspected and "wasmlet:faas" in inspected


def test_bindgen_outside_the_checkout(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    venv, env = installed
    (tmp_path / "wit").mkdir()
    (tmp_path / "wit" / "greeter.wit").write_text(FUNCTION_WIT)
    wasmlet = str(venv / "bin" / "wasmlet")
    run([wasmlet, "bindgen", "wit", "--python", "greeter_bindings.py", "--rust", "bindings.rs"], tmp_path, env)
    assert "def greet" in (tmp_path / "greeter_bindings.py").read_text()
    run([wasmlet, "bindgen", "wit", "--python", "greeter_bindings.py", "--rust", "bindings.rs", "--check"],
        tmp_path, env)
    run([str(venv / "bin" / "python"), "-c", "import greeter_bindings"], tmp_path, env)
