"""Embedding (docs/embedding.md): the plugin walk-through in docs/examples/plugin runs as written —
bindings generated without drift, a Rust and a Python guest built, the host code's typed
results — and a misbehaving plugin gets typed errors within its limits."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from guests import build_guest

import wasmlet
from wasmlet import Engine, Err, GuestTrap, HostCallError, Limits, LoadError, Ok, OutOfMemory, Timeout, load_plugin
from wasmlet.bindings._abi import BindingError
from wasmlet_bindgen import WitError, load_dir
from wasmlet_bindgen._model import wasm_tools_binary
from wasmlet_bindgen.cli import main as bindgen

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "plugin"
WIT = EXAMPLE / "wit"
BINDGEN_ARGS = ["wit", "--python", "plugin_bindings.py", "--rust", "rust/src/bindings.rs", "--rust-abi", "wasmlet_guest::abi"]
"""What docs/embedding.md tells the reader to run in docs/examples/plugin."""


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> Iterator[tuple[ModuleType, ModuleType]]:
    """The walk-through's generated bindings and host code, imported as the reader would run them."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        yield _load("plugin_bindings", EXAMPLE / "plugin_bindings.py"), _load("plugin_host_example", EXAMPLE / "host.py")
    finally:
        sys.path.remove(str(EXAMPLE))


@pytest.fixture(scope="module")
def plugin_wasm() -> dict[str, Path]:
    """The walk-through's guests, built once per source content (one build at a time)."""
    glue = hashlib.sha256((EXAMPLE / "rust" / "src" / "bindings.rs").read_bytes()).hexdigest()[:8]
    return {
        "rust": build_guest("plugin-rust", EXAMPLE / "rust", "rust", WIT, "plugin"),
        "python": build_guest("plugin-python", EXAMPLE / "python", "python", WIT, "plugin"),
        # the misbehaving guest shares rust/src/bindings.rs (#[path]): its digest is in the name
        "hostile": build_guest(f"plugin-hostile-{glue}", EXAMPLE / "hostile", "rust", WIT, "plugin"),
    }


class Recorder:
    """A `host` implementation that keeps what the plugin logs, or raises when told to."""

    def __init__(self, fail: bool = False) -> None:
        self.lines: list[str] = []
        self.fail = fail

    def log(self, msg: str) -> None:
        if self.fail:
            raise ValueError(f"refusing to log {msg!r}")
        self.lines.append(msg)


# ------------------------------------------------------------------------ the walk-through

def test_committed_bindings_have_no_drift() -> None:
    assert bindgen([str(WIT), "--python", str(EXAMPLE / "plugin_bindings.py"), "--rust",
                    str(EXAMPLE / "rust" / "src" / "bindings.rs"), "--rust-abi", "wasmlet_guest::abi", "--check"]) == 0
    proc = subprocess.run([str(Path(sys.executable).parent / "wasmlet"), "bindgen", *BINDGEN_ARGS, "--check"],
                          cwd=EXAMPLE, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generating_afresh_gives_the_committed_files(tmp_path: Path) -> None:
    (tmp_path / "rust" / "src").mkdir(parents=True)
    (tmp_path / "wit").symlink_to(WIT)
    proc = subprocess.run([str(Path(sys.executable).parent / "wasmlet"), "bindgen", *BINDGEN_ARGS],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "plugin_bindings.py").read_text() == (EXAMPLE / "plugin_bindings.py").read_text()
    assert (tmp_path / "rust/src/bindings.rs").read_text() == (EXAMPLE / "rust/src/bindings.rs").read_text()


@pytest.mark.parametrize("lang", ["rust", "python"])
def test_the_host_code_gets_typed_results(example: tuple[ModuleType, ModuleType], plugin_wasm: dict[str, Path],
                                          engine: Engine, lang: str) -> None:
    pb, host = example
    app = host.AppHost()
    plugin = wasmlet.load_plugin(plugin_wasm[lang], pb.PluginExports, imports={"host": app}, wasi=lang == "python",
                                 limits=host.LIMITS, engine=engine)
    assert plugin.call(pb.PluginExports.transform, "héllo") == Ok("HÉLLO")
    assert plugin.call("transform", "  ") == Err("nothing to transform")
    assert app.lines == ["transforming 6 bytes", "transforming 2 bytes"]
    assert host.transform_all(plugin, ["a", ""]) == ["A", "error: nothing to transform"]
    assert plugin.export_names() == ["transform"]


def test_the_host_script_runs_as_documented(plugin_wasm: dict[str, Path]) -> None:
    proc = subprocess.run([sys.executable, "host.py", str(plugin_wasm["rust"]), "hello", " "], cwd=EXAMPLE,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["HELLO", "error: nothing to transform"]
    assert "[plugin] transforming 5 bytes" in proc.stderr


def test_a_python_guest_needs_wasi_and_room_to_start(example: tuple[ModuleType, ModuleType],
                                                     plugin_wasm: dict[str, Path], engine: Engine) -> None:
    pb, _ = example
    with pytest.raises(LoadError, match=r"imports WASI \(wasi:.*load it with wasi=True"):
        load_plugin(plugin_wasm["python"], pb.PluginExports, imports={"host": Recorder()}, engine=engine)
    with pytest.raises(LoadError, match="does not start: memory limit exceeded .*exceeds memory limits"):
        load_plugin(plugin_wasm["python"], pb.PluginExports, imports={"host": Recorder()}, wasi=True, engine=engine,
                    limits=Limits(memory_mb=4))


# ------------------------------------------------------------------------- a hostile plugin

@pytest.fixture(scope="module")
def hostile(example: tuple[ModuleType, ModuleType], plugin_wasm: dict[str, Path], engine: Engine) -> Any:
    pb, _ = example
    return load_plugin(plugin_wasm["hostile"], pb, imports={"host": Recorder(fail=True)}, engine=engine, name="hostile",
                       limits=Limits(timeout_ms=300, memory_mb=16))


def test_an_endless_loop_times_out_within_the_limit(hostile: Any) -> None:
    start = time.monotonic()
    with pytest.raises(Timeout, match="ran past 300 ms"):
        hostile.call("transform", "spin")
    assert time.monotonic() - start < 0.3 + 1.0
    assert hostile.call("transform", "fine") == Ok("fine")


def test_growing_past_the_memory_limit_is_out_of_memory(hostile: Any) -> None:
    with pytest.raises(OutOfMemory, match=r"memory limit exceeded \(16 MB\)"):
        hostile.call("transform", "grow")
    assert hostile.call("transform", "fine") == Ok("fine")


def test_a_trap_is_a_guest_trap_and_the_next_call_works(hostile: Any) -> None:
    with pytest.raises(GuestTrap, match=r"unreachable.* in transform \(a panic\)"):
        hostile.call("transform", "panic")
    assert hostile.call("transform", "fine") == Ok("fine")


def test_an_instance_is_discarded_after_a_failure(hostile: Any) -> None:
    with hostile.instance() as inst:
        assert inst.call("transform", "a") == Ok("a")
        assert inst.call("transform", "b") == Ok("b")  # one instance, several calls
        with pytest.raises(GuestTrap):
            inst.call("transform", "panic")
        with pytest.raises(wasmlet.InvocationError, match="discarded after an earlier failure"):
            inst.call("transform", "c")


def test_a_raising_host_import_is_a_clear_error(hostile: Any) -> None:
    with pytest.raises(HostCallError) as info:
        hostile.call("transform", "log")
    assert str(info.value) == "hostile: host import `host.log` raised ValueError: refusing to log 'about to return'"
    assert isinstance(info.value.__cause__, ValueError)
    assert hostile.call("transform", "fine") == Ok("fine")


def test_wrong_typed_arguments_are_a_type_error_before_the_guest_runs(example: tuple[ModuleType, ModuleType],
                                                                      hostile: Any) -> None:
    pb, _ = example
    with hostile.instance() as inst:
        with pytest.raises(TypeError, match="input: expected str, got int 5") as info:
            inst.call(pb.PluginExports.transform, 5)
        assert isinstance(info.value, BindingError)
        assert inst.call("transform", "still fine") == Ok("still fine")  # the instance was never entered
    with pytest.raises(LookupError, match="no export 'transfrom'"):
        hostile.call("transfrom", "x")


def test_imports_are_checked_when_loading(example: tuple[ModuleType, ModuleType], plugin_wasm: dict[str, Path],
                                          engine: Engine) -> None:
    pb, _ = example
    path = plugin_wasm["rust"]
    with pytest.raises(TypeError, match=r"no implementation for interface `host` \(protocol HostHost: log\)"):
        load_plugin(path, pb.PluginExports, engine=engine)
    with pytest.raises(TypeError, match=r"imports\['host'\]: object lacks log"):
        load_plugin(path, pb.PluginExports, imports={"host": object()}, engine=engine)
    with pytest.raises(TypeError, match="imports no interface 'hots'"):
        load_plugin(path, pb.PluginExports, imports={"host": Recorder(), "hots": Recorder()}, engine=engine)
    typed = load_plugin(path, pb.PluginExports, imports=pb.PluginImports(host=Recorder()), engine=engine)
    assert typed.call(pb.PluginExports.transform, "x") == Ok("X")


def test_a_component_of_another_world_or_no_component_is_a_load_error(plugin_wasm: dict[str, Path],
                                                                      engine: Engine) -> None:
    import kitchen_bindings as k

    with pytest.raises(LoadError, match="does not export 'double'.*world Minimal"):
        load_plugin(plugin_wasm["rust"], k.MinimalExports, engine=engine)
    with pytest.raises(LoadError, match="not a WebAssembly binary"):
        load_plugin(b"hello", k.MinimalExports, engine=engine)
    with pytest.raises(TypeError, match="has several worlds"):
        load_plugin(plugin_wasm["rust"], k, engine=engine)


# ------------------------------------------------------ bindgen on WIT written by others

@pytest.fixture(scope="module")
def wasi_wit(plugin_wasm: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The WASI 0.2 packages the installed componentize-py builds against, read back out of the
    Python plugin it built (wasm-tools writes every package of the component's WIT)."""
    out = tmp_path_factory.mktemp("wasi-wit")
    subprocess.run([wasm_tools_binary(), "component", "wit", str(plugin_wasm["python"]), "--out-dir", str(out)],
                   check=True, capture_output=True)
    return out / "deps"


def _version(deps: Path, name: str) -> str:
    head = (deps / f"{name}.wit").read_text().split(";", 1)[0]
    return head.split("@", 1)[1]


def test_bindgen_generates_for_a_world_of_real_wasi_interfaces(wasi_wit: Path, tmp_path: Path) -> None:
    v = _version(wasi_wit, "cli")
    pkg = tmp_path / "wit"
    pkg.mkdir()
    (pkg / "deps").symlink_to(wasi_wit)
    (pkg / "user.wit").write_text(f"package test:wasi-user;\n\nworld user {{\n  import wasi:random/random@{v};\n"
                                  f"  import wasi:cli/environment@{v};\n  import wasi:clocks/wall-clock@{v};\n"
                                  "  export roll: func() -> u64;\n}\n")
    assert bindgen([str(pkg), "--python", str(tmp_path / "wasi_user.py"), "--rust", str(tmp_path / "user.rs")]) == 0
    mod = _load("wasi_user_bindings", tmp_path / "wasi_user.py")
    assert set(mod.UserImports.__dataclass_fields__) == {"random", "wall_clock", "environment"}
    assert hasattr(mod.RandomHost, "get_random_bytes") and hasattr(mod.EnvironmentHost, "get_environment")
    assert [f for f in mod.Datetime.__dataclass_fields__] == ["seconds", "nanoseconds"]
    rust = (tmp_path / "user.rs").read_text()
    assert f'#[link(wasm_import_module = "wasi:random/random@{v}")]' in rust and "pub struct Datetime" in rust


def test_bindgen_names_the_wasi_resource_it_cannot_generate(wasi_wit: Path, tmp_path: Path) -> None:
    v = _version(wasi_wit, "cli")
    pkg = tmp_path / "wit"
    pkg.mkdir()
    (pkg / "deps").symlink_to(wasi_wit)
    (pkg / "app.wit").write_text(f"package test:wasi-app;\n\nworld app {{\n  import wasi:cli/stdout@{v};\n}}\n")
    with pytest.raises(WitError) as info:
        load_dir(pkg, world="app")
    err = info.value
    assert err.file == f"{pkg}/deps/io.wit" and err.line is not None
    assert "resources are not supported" in err.message
    declared = (wasi_wit / "io.wit").read_text().splitlines()[err.line - 1]
    assert "resource" in declared and err.message.split("`")[1] in declared


def test_wasmlet_build_needs_a_world_with_a_wit_package() -> None:
    proc = subprocess.run([str(Path(sys.executable).parent / "wasmlet"), "build", "rust", "--wit", "wit"], cwd=EXAMPLE,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "--wit needs --world" in proc.stderr
