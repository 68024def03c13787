"""A componentize-py guest that uses host-defined resources (world `guest` of tests/kitchen/resources)."""

import wit_world
from componentize_py_types import Err
from wit_world.imports import counters


class WitWorld(wit_world.WitWorld):
    def run(self, scenario: str) -> str:
        return SCENARIOS[scenario]()


def basic() -> str:
    a = counters.Counter(5)
    b = counters.Counter(10)
    out = [a.add(3), a.value(), b.value(), counters.live()]
    return " ".join(str(x) for x in out)


def merge() -> str:
    a = counters.Counter(5)
    b = counters.Counter(10)
    return str(counters.Counter.merge(a, b).value())  # two borrowed handles in one call


def total() -> str:
    return str(counters.total(counters.make(4)))  # a list of borrowed handles


def drops() -> str:
    kept = counters.Counter(1)
    for i in range(5):
        with counters.Counter(i):
            pass  # dropped on leaving the block
    gone = counters.Counter(2)
    gone.__exit__(None, None, None)
    return f"live={counters.live()} kept={kept.value()}"


def nested() -> str:
    made = counters.make(4)
    some = counters.maybe(True)
    none = counters.maybe(False)
    ok = counters.checked(7)
    try:
        counters.checked(-1)
        err = "no error"
    except Err as e:
        err = str(e.value)
    pair = counters.make_pair()
    return (f"made={[c.value() for c in made]} some={some.value() if some else None} none={none} "
            f"ok={ok.value()} err={err} pair={pair.left.value()},{pair.right.value()} live={counters.live()}")


def take() -> str:
    c = counters.Counter(41)
    c.add(1)
    got = counters.take(c)
    return f"took={got} live={counters.live()}"


def use_after_take() -> str:
    c = counters.Counter(1)
    counters.take(c)
    return str(c.value())  # the handle moved to the host: this traps


def flood() -> str:
    kept = [counters.Counter(i) for i in range(20_000)]  # the host stops this
    return str(len(kept))


SCENARIOS = {"basic": basic, "merge": merge, "total": total, "drops": drops, "nested": nested, "take": take,
             "use-after-take": use_after_take, "flood": flood}
