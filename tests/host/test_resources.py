"""Host-defined resources through the generated Python host bindings, driven by a guest on each side
of the contract: a componentize-py guest (another toolchain's canonical-ABI code) and a Rust guest on
bindgen's own glue. Constructors, methods, static functions, own and borrowed handles alone and
inside lists, options, results and records, drops, ownership moving to the host, forged handles,
and every handle released with the invocation."""

from __future__ import annotations

from pathlib import Path

import pytest
import resources_bindings as r
import wasmtime
from guests import build_guest
from wasmtime.component import Component, Linker

from wasmlet import Engine
from wasmlet.bindings import _handles as handles
from wasmlet.bindings._abi import GuestError

ROOT = Path(__file__).resolve().parents[2]
KITCHEN = ROOT / "tests" / "kitchen" / "resources"


class Counter:
    """The host object behind one `counter` handle."""

    def __init__(self, host: Counters, value: int) -> None:
        self.host, self.value = host, value
        host.made.append(self)

    def close(self) -> None:
        self.host.closed.append(self.value)


class Counters:
    """The host side of `counters`; records what it made, closed and was given."""

    def __init__(self) -> None:
        self.made: list[Counter] = []
        self.closed: list[int] = []
        self.taken: list[Counter] = []

    def counter_new(self, start: int) -> Counter:
        return Counter(self, start)

    def counter_add(self, self_: Counter, n: int) -> int:
        self_.value += n
        return self_.value

    def counter_value(self, self_: Counter) -> int:
        return self_.value

    def counter_merge(self, a: Counter, b: Counter) -> Counter:
        return Counter(self, a.value + b.value)

    def make(self, n: int) -> list[Counter]:
        return [Counter(self, i) for i in range(1, n + 1)]

    def maybe(self, give: bool) -> Counter | None:
        return Counter(self, 99) if give else None

    def checked(self, start: int) -> r.abi.Result[Counter, str]:
        return r.abi.Err("negative start") if start < 0 else r.abi.Ok(Counter(self, start))

    def make_pair(self) -> r.Pair:
        return r.Pair(Counter(self, 1), Counter(self, 2))

    def total(self, cs: list[Counter]) -> int:
        return sum(c.value for c in cs)

    def take(self, c: Counter) -> int:
        self.taken.append(c)
        return c.value

    def live(self) -> int:
        return len(handles.current())


@pytest.fixture(scope="module", params=["python", "rust"])
def guest_wasm(request: pytest.FixtureRequest) -> Path:
    lang = request.param
    return build_guest(f"resources-{lang}", KITCHEN / lang, lang, KITCHEN / "wit", "guest")


@pytest.fixture(scope="module")
def component(engine: Engine, guest_wasm: Path) -> Component:
    return Component(engine.wasm, guest_wasm.read_bytes())  # compiled once per module: a 19 MB Python guest


class Rig:
    def __init__(self, engine: Engine, component: Component) -> None:
        self.engine = engine
        self.counters = Counters()
        self.linker = Linker(engine.wasm)
        self.linker.add_wasip2()
        imports = r.GuestImports(counters=self.counters)
        r.add_guest_to_linker(self.linker, lambda: imports)
        self.component = component
        self.exports = r.GuestExports(component)

    def run(self, scenario: str) -> tuple[str, handles.HandleTable]:
        """One invocation: a fresh store and instance, its own handle table."""
        store = wasmtime.Store(self.engine.wasm)
        store.set_epoch_deadline(10_000)
        store.set_wasi(wasmtime.WasiConfig())
        instance = self.linker.instantiate(store, self.component)
        with handles.handle_scope(store) as table:
            out = self.exports.run(store, instance, scenario)
        return out, table


@pytest.fixture
def rig(engine: Engine, component: Component) -> Rig:
    return Rig(engine, component)


def test_constructors_and_methods(rig: Rig) -> None:
    out, table = rig.run("basic")
    assert out == "8 8 10 2"  # a.add(3), a.value(), b.value(), two live
    assert len(table) == 0 and sorted(rig.counters.closed) == [8, 10]  # released with the invocation


def test_a_static_function_taking_two_borrowed_handles(rig: Rig) -> None:
    assert rig.run("merge")[0] == "15"


def test_a_list_of_borrowed_handles(rig: Rig) -> None:
    assert rig.run("total")[0] == "10"


def test_a_dropped_handle_releases_its_object_at_once(rig: Rig) -> None:
    out, _ = rig.run("drops")
    assert out == "live=1 kept=1"  # seven made, six dropped by the guest before it asked
    assert rig.counters.closed[:6] == [0, 1, 2, 3, 4, 2]  # the drops, in order
    assert sorted(rig.counters.closed) == [0, 1, 1, 2, 2, 3, 4]  # and the rest with the invocation


def test_handles_inside_lists_options_results_and_records(rig: Rig, guest_wasm: Path) -> None:
    out, table = rig.run("nested")
    live = 6 if "rust" in guest_wasm.name else 8  # Rust drops the `maybe` and `checked` temporaries at once
    assert out == f"made=[1, 2, 3, 4] some=99 none=None ok=7 err=negative start pair=1,2 live={live}"
    assert len(table) == 0 and len(rig.counters.closed) == len(rig.counters.made) == 8


def test_an_owned_handle_passed_to_the_host_moves_to_it(rig: Rig) -> None:
    out, _ = rig.run("take")
    assert out == "took=42 live=0"
    assert [c.value for c in rig.counters.taken] == [42]
    assert rig.counters.closed == []  # the host owns it now: not released behind its back


def test_a_handle_used_after_it_moved_or_forged_traps_and_everything_is_still_released(rig: Rig,
                                                                                      guest_wasm: Path) -> None:
    scenario = "forged" if "rust" in guest_wasm.name else "use-after-take"  # Rust's glue moves by value
    with pytest.raises(GuestError):
        rig.run(scenario)
    out, table = rig.run("drops")  # the next invocation starts clean
    assert out == "live=1 kept=1" and len(table) == 0
    assert all(c.value in rig.counters.closed or c in rig.counters.taken for c in rig.counters.made)


def test_a_guest_cannot_pile_up_host_objects(rig: Rig) -> None:
    """Each handle costs host memory no guest limit counts: an invocation holds at most MAX_HANDLES."""
    with pytest.raises(GuestError) as failed:
        rig.run("flood")
    assert isinstance(failed.value.host_exception, handles.HandleError)
    assert f"too many live resource handles ({handles.MAX_HANDLES})" in str(failed.value.host_exception)
    assert len(rig.counters.made) == handles.MAX_HANDLES + 1
    assert len(rig.counters.closed) == len(rig.counters.made)  # every one released, the refused one too
    assert rig.run("basic")[0] == "8 8 10 2"  # and the next invocation is unaffected


def test_handles_of_one_invocation_mean_nothing_in_another(rig: Rig) -> None:
    """Reps restart per invocation and are looked up only in the invocation's own table."""
    _, first = rig.run("basic")
    _, second = rig.run("basic")
    assert first is not second and len(first) == len(second) == 0
    with pytest.raises(handles.HandleError):
        handles.current()  # outside any invocation there is no table to reach into
    table = handles.HandleTable(wasmtime.Store(rig.engine.wasm))
    rep = table.insert(r._RESOURCE_COUNTER, object())
    with pytest.raises(handles.HandleError):
        table.get(handles.resource_id("other:pkg/iface#counter"), rep)  # another resource type
    with pytest.raises(handles.HandleError):
        table.get(r._RESOURCE_COUNTER, rep + 1)


def test_a_plugin_with_host_resources_keeps_its_handles_for_its_instance(guest_wasm: Path, engine: Engine) -> None:
    """`wasmlet.load_plugin` serves the same world: one handle table per plugin instance, released with it."""
    from wasmlet import load_plugin

    counters = Counters()
    plugin = load_plugin(guest_wasm, r, imports={"counters": counters}, wasi=True, engine=engine)
    assert plugin.call("run", "basic") == "8 8 10 2"
    assert sorted(counters.closed) == [8, 10]
    with plugin.instance() as inst:
        assert inst.call("run", "take") == "took=42 live=0"
        assert inst.call("run", "drops") == "live=1 kept=1"  # the same instance: its table carries on
    assert [c.value for c in counters.taken] == [42]
