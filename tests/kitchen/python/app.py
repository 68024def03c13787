"""A componentize-py test guest that round-trips every WIT type (world `kitchen`)."""

import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host_funcs, shapes


class WitWorld(wit_world.WitWorld):
    def double(self, x: int) -> int:
        return (x * 2) & 0xFFFF_FFFF


class Roundtrip(exports.Roundtrip):
    def echo(self, e: shapes.Everything) -> shapes.Everything:
        return e

    def echo_shapes(self, s: list[shapes.Shape]) -> list[shapes.Shape]:
        return s

    def via_host(self, e: shapes.Everything) -> shapes.Everything:
        return host_funcs.echo(e)

    def host_checks(self) -> list[str]:
        host_funcs.ping()
        out = [f"add={host_funcs.add(40, 2)}"]
        out.append(f"sum={host_funcs.sum_many(*range(1, 18))}")
        out.append(f"ok={_ok_text(host_funcs.maybe_fail(False))}")  # whatever the host really returned
        try:
            host_funcs.maybe_fail(True)
        except Err as err:
            out.append(f"err=Err({err.value!r})")
        out.append(f"half={host_funcs.half(5.0):g}")
        return out

    def sum_many(self, *args: int) -> int:
        return sum(args) & 0xFFFF_FFFF_FFFF_FFFF

    def echo_bytes(self, b: bytes) -> bytes:
        return b


def _ok_text(value: object) -> str:
    """The Rust side's `Ok(())` for a result<_, E> that succeeded (componentize-py returns None;
    anything else means the host answered something else)."""
    return "Ok(())" if value is None else f"unexpected {value!r}"
