"""The Rust SDK's and the Rust hello example's own unit tests (`cargo test`, natively)."""

from __future__ import annotations

from pathlib import Path

import pytest
from guests import ROOT, unavailable

from wasmlet.build import BuildError, run_function_tests


@pytest.mark.parametrize("crate", ["guest-rust", "guest-rust/examples/hello"])
def test_cargo_test_passes(crate: str) -> None:
    try:
        proc = run_function_tests(ROOT / crate)
    except BuildError as exc:
        unavailable(str(exc))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "test result: ok" in proc.stdout
    assert " 0 passed" not in proc.stdout.split("test result: ok")[1].split("\n")[0]


def test_python_hello_unit(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("hello_app", ROOT / "guest-python/examples/hello/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from wasmlet_guest import Request

    app = module.app
    assert app.handle(Request("GET", "/api/capitalize/hello-world")).body == b"HELLO-WORLD"
    assert b"./subdir/page2.html" in app.handle(Request("GET", "/")).body
