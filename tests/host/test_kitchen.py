"""Every WIT type round-trips through the generated bindings and glue, both ways,
through a Rust guest, a componentize-py guest and a componentize-js guest."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime.component import Component, Instance, Linker

import kitchen_bindings as k
from wasmlet import Engine
from wasmlet.bindings import _abi as abi

LANGS = ["rust", "python", "js"]


class HostFuncs:
    """The host side of `host-funcs`, counting the calls it receives."""

    def __init__(self) -> None:
        self.calls = 0

    def echo(self, e: k.Everything) -> k.Everything:
        self.calls += 1
        return e

    def add(self, a: int, b: int) -> int:
        return a + b

    def sum_many(self, *args: int) -> int:
        return sum(args)

    def ping(self) -> None:
        return None

    def maybe_fail(self, fail: bool) -> abi.Result[None, str]:
        return abi.Err("asked to fail") if fail else abi.Ok(None)

    def half(self, x: float) -> float:
        return x / 2


class Kitchen:
    """A compiled kitchen guest; each call gets a fresh store and instance."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.host = HostFuncs()
        self.linker = Linker(engine.wasm)
        self.linker.add_wasip2()
        imports = k.KitchenImports(host_funcs=self.host)
        k.add_kitchen_to_linker(self.linker, lambda: imports)
        self.component = Component(engine.wasm, path.read_bytes())
        self.exports = k.KitchenExports(self.component)

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        store = wasmtime.Store(self.engine.wasm)
        store.set_epoch_deadline(10_000)
        store.set_wasi(wasmtime.WasiConfig())
        instance: Instance = self.linker.instantiate(store, self.component)
        return fn(self.exports, store, instance, *args)


@pytest.fixture(scope="module", params=LANGS)
def kitchen(request: pytest.FixtureRequest, engine: Engine, kitchen_wasm: dict[str, Path]) -> Kitchen:
    return Kitchen(engine, kitchen_wasm[request.param])


def everything(**changes: Any) -> k.Everything:
    base = k.Everything(
        flag=True, a_u8=255, a_u16=65535, a_u32=2**32 - 1, a_u64=2**64 - 1,
        a_s8=-128, a_s16=-32768, a_s32=-(2**31), a_s64=-(2**63),
        a_f32=1.5, a_f64=-2.25, ch="é", text="héllo 🌍", data=bytes(range(256)),
        numbers=[1, -2, 2**31 - 1], ids=[2**64 - 1, 0], pair=(7, "x", 3.5),
        maybe="m", nested=abi.Some(None), outcome=abi.Err("bad"), unit_ok=abi.Ok(None),
        unit_err=abi.Err(None), bare=abi.Ok(None), colour=k.Color.GREEN,
        perms=k.Perms.READ | k.Perms.EXEC,
        shapes=[k.ShapeCircle(1.0), k.ShapeRect((k.Point(1, 2), k.Point(-3, 4))),
                k.ShapeLabelled("lbl"), k.ShapeEmpty()],
        where=k.Point(5, -6),
    )
    return dataclasses.replace(base, **changes)


def echo(kitchen: Kitchen, value: k.Everything) -> k.Everything:
    result: k.Everything = kitchen(lambda ex, s, i, v: ex.roundtrip_echo(s, i, v), value)
    return result


VARIANTS = [
    everything(),
    everything(flag=False, a_u8=0, a_u16=0, a_u32=0, a_u64=0, a_s8=127, a_s16=32767, a_s32=2**31 - 1,
               a_s64=2**63 - 1, ch="\U0010ffff", text="", data=b"", numbers=[], ids=[], maybe=None,
               nested=None, outcome=abi.Ok(7), unit_ok=abi.Err("no"), unit_err=abi.Ok("yes"),
               bare=abi.Err(None), colour=k.Color.BLUE, perms=k.Perms(0), shapes=[]),
    everything(nested=abi.Some(42), perms=k.Perms.READ | k.Perms.WRITE | k.Perms.EXEC, a_f64=math.inf,
               text="\x00nul inside", ch="\x00"),
]


@pytest.mark.parametrize("value", VARIANTS, ids=["max", "min", "misc"])
def test_guest_export_round_trip(kitchen: Kitchen, value: k.Everything) -> None:
    assert echo(kitchen, value) == value


def test_host_import_round_trip(kitchen: Kitchen) -> None:
    for value in VARIANTS:
        before = kitchen.host.calls
        assert kitchen(lambda ex, s, i, v: ex.roundtrip_via_host(s, i, v), value) == value
        assert kitchen.host.calls == before + 1


def test_host_functions_of_every_shape(kitchen: Kitchen) -> None:
    checks = kitchen(lambda ex, s, i: ex.roundtrip_host_checks(s, i))
    assert checks[:2] == ["add=42", "sum=153"]
    assert checks[2] == "ok=Ok(())"
    assert checks[3].replace("'", '"') == 'err=Err("asked to fail")'
    assert checks[4] == "half=2.5"


def test_world_level_export_and_spilled_params(kitchen: Kitchen) -> None:
    assert kitchen(lambda ex, s, i: ex.double(s, i, 21)) == 42
    assert kitchen(lambda ex, s, i: ex.roundtrip_sum_many(s, i, *range(1, 18))) == 153


def test_nan_and_f32_rounding(kitchen: Kitchen) -> None:
    out = echo(kitchen, everything(a_f32=0.1, a_f64=math.nan))
    assert out.a_f32 == pytest.approx(0.1, rel=1e-7) and out.a_f32 != 0.1  # f32 precision, not f64
    assert math.isnan(out.a_f64)


def test_list_of_variants(kitchen: Kitchen) -> None:
    shapes = [k.ShapeLabelled(str(i)) if i % 2 else k.ShapeCircle(float(i)) for i in range(200)]
    assert kitchen(lambda ex, s, i: ex.roundtrip_echo_shapes(s, i, shapes)) == shapes


def test_bytes_fast_path_megabyte(kitchen: Kitchen) -> None:
    data = bytes(range(256)) * 4096
    assert kitchen(lambda ex, s, i: ex.roundtrip_echo_bytes(s, i, data)) == data
    assert kitchen(lambda ex, s, i: ex.roundtrip_echo_bytes(s, i, bytearray(b"xy"))) == b"xy"


@pytest.mark.parametrize(
    ("changes", "path", "fragment"),
    [
        ({"a_u8": 256}, "e.a-u8", "256 is out of range for u8"),
        ({"a_u64": -1}, "e.a-u64", "out of range for u64"),
        ({"a_s8": -129}, "e.a-s8", "out of range for s8"),
        ({"a_u32": True}, "e.a-u32", "expected u32"),
        ({"ch": "ab"}, "e.ch", "expected char"),
        ({"ch": "\ud800"}, "e.ch", "surrogate"),
        ({"text": "bad \udc80"}, "e.text", "not valid Unicode"),
        ({"numbers": [1, 2**31]}, "e.numbers[1]", "out of range for s32"),
        ({"pair": (1, "x")}, "e.pair", "3-tuple"),
        ({"where": k.Point(2**31, 0)}, "e.where.x", "out of range for s32"),
        ({"shapes": [k.ShapeEmpty(), k.ShapeRect((k.Point(0, 0), k.Point(0, -(2**40))))]},
         "e.shapes[1].rect[1].y", "out of range"),
        ({"outcome": abi.Ok(70000)}, "e.outcome.ok", "out of range for u16"),
        ({"maybe": 5}, "e.maybe.some", "expected str"),
        ({"colour": "red"}, "e.colour", "expected Color, got str"),
    ],
)
def test_invalid_values_name_the_field_and_make_no_call(
    kitchen: Kitchen, changes: dict[str, Any], path: str, fragment: str
) -> None:
    before = kitchen.host.calls
    with pytest.raises(abi.BindingError) as info:
        kitchen(lambda ex, s, i, v: ex.roundtrip_via_host(s, i, v), everything(**changes))
    assert info.value.path == path
    assert fragment in info.value.message
    assert kitchen.host.calls == before  # the guest never ran, so the host was never called
