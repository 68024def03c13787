"""bindgen: the committed generated code matches wit/, and the generator's
canonical-ABI layout agrees with the spec's worked rules."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wasmlet_bindgen import load_dir
from wasmlet_bindgen._layout import Layout
from wasmlet_bindgen._model import ListT, Named, OptionT, Prim, ResultT, TupleT
from wasmlet_bindgen.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_committed_bindings_match_the_wit() -> None:
    assert main(["--root", str(ROOT), "--check"]) == 0


def test_check_fails_and_shows_a_diff_after_a_wit_edit(tmp_path: Path) -> None:
    for rel in ["pyproject.toml", "wit", "host/bindings", "host/wasi_http/wit", "guest-rust/src", "tests/kitchen"]:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, tmp_path / rel, ignore=shutil.ignore_patterns("target", "__pycache__"))
        else:
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, tmp_path / rel)
    wit = tmp_path / "wit" / "faas.wit"
    wit.write_text(wit.read_text().replace("    mount: string,\n", "    mount: string,\n    /// New.\n    trace-id: string,\n"))
    proc = subprocess.run([sys.executable, "-m", "wasmlet_bindgen", "--root", str(tmp_path), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "+    trace_id: str" in proc.stdout  # the Python dataclass
    assert "+    pub trace_id: String," in proc.stdout  # the Rust struct
    assert "differ from the WIT" in proc.stderr
    # regenerating makes the check pass again
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--root", str(tmp_path), "--check"]) == 0


@pytest.fixture(scope="module")
def layout() -> Layout:
    return Layout(load_dir(ROOT / "tests" / "kitchen" / "wit"))


def test_layout_of_primitives_and_containers(layout: Layout) -> None:
    assert (layout.size(Prim("string")), layout.align(Prim("string"))) == (8, 4)
    assert layout.flat(Prim("string")) == ["i32", "i32"]
    t = TupleT((Prim("u8"), Prim("u64"), Prim("u16")))
    assert (layout.size(t), layout.align(t)) == (24, 8)
    assert layout.offsets(list(t.elems)) == [0, 8, 16]
    opt = OptionT(Prim("u64"))
    assert (layout.size(opt), layout.align(opt), layout.payload_offset(opt)) == (16, 8, 8)
    res = ResultT(Prim("f32"), Prim("u64"))
    assert layout.flat(res) == ["i32", "i64"]  # f32 joined with i64 widens to i64
    assert layout.flat(ResultT(Prim("f32"), Prim("u32"))) == ["i32", "i32"]
    assert layout.flat(ResultT(None, None)) == ["i32"]
    assert layout.size(ListT(Prim("u8"))) == 8


def test_layout_of_named_kitchen_types(layout: Layout) -> None:
    pkg = layout.pkg
    by_name = {td.name: Named(td.id) for td in pkg.typedefs.values() if td.interface == "shapes"}
    assert layout.size(by_name["color"]) == 1
    assert layout.size(by_name["perms"]) == 1 and layout.flat(by_name["perms"]) == ["i32"]
    shape = by_name["shape"]
    # circle(f64) | rect(tuple<point, point>) | labelled(string) | empty
    assert layout.flat(shape) == ["i32", "i64", "i32", "i32", "i32"]
    assert (layout.size(shape), layout.align(shape)) == (24, 8)


def test_export_type_descriptions_match_real_components(engine: object, kitchen_wasm: dict[str, Path],
                                                        probe_wasm: dict[str, Path]) -> None:
    from wasmtime.component import Component

    import kitchen_bindings as k
    from wasmlet.bindings._abi import export_type
    from wasmlet.bindings.faas import FunctionExports

    wasm_engine = engine.wasm  # type: ignore[attr-defined]
    for path in kitchen_wasm.values():
        component = Component(wasm_engine, path.read_bytes())
        assert export_type(component, wasm_engine, "double") == k.KitchenExports.TYPES["double"]
        assert export_type(component, wasm_engine, "handle") is None
    for path in probe_wasm.values():
        component = Component(wasm_engine, path.read_bytes())
        assert export_type(component, wasm_engine, "handle") == FunctionExports.TYPES["handle"]
