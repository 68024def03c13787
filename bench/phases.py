"""Where an invocation's time goes, by phase, and what one hostcall of each kind costs.

Phases (median of N fresh stores, the examples' hello — router, logging middleware, one log
line — in both languages): store setup, instantiation, the first `handle` call, a second call on
the same instance (what the first costs beyond the handler's own work), and tearing the store
down, each with its minor page faults. Hostcalls: a probe guest makes n calls of one kind in one
invocation; (time(n) - time(0)) / n is one call's cost, the guest's SDK and the host both counted.
Run alone (`.venv/bin/python bench/phases.py`); prints Markdown tables and the CPU.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime
from _common import ROOT, build_guest, cpu_model

from wasmlet import BodyText, Engine, EngineSettings, EventHttp, InvocationContext, Manifest, Request, Runtime  # noqa: E402
from wasmlet.capabilities import bind_imports  # noqa: E402
from wasmlet.capabilities._capability import HostServices  # noqa: E402
from wasmlet.capabilities.backends import Backends  # noqa: E402
from wasmlet.runtime import MAX_INSTANCES, MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES, MiB  # noqa: E402

PHASES = ("store", "instantiate", "first call", "second call", "close")



def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def split(rt: Runtime, fn: Any, event: Any, imports: Callable[[InvocationContext], Any], n: int) -> dict[str, tuple[float, float]]:
    """Median seconds and minor faults per phase over n fresh stores."""
    engine = rt.engine
    samples: dict[str, list[tuple[float, int]]] = {p: [] for p in PHASES}
    for i in range(n + 3):
        marks = [(time.perf_counter(), faults())]
        store = wasmtime.Store(engine.wasm)
        store.set_epoch_deadline(engine.ticks(60_000))
        store.set_limits(memory_size=128 * MiB, table_elements=MAX_TABLE_ELEMENTS, instances=MAX_INSTANCES,
                         tables=MAX_TABLES, memories=MAX_MEMORIES)
        if fn.uses_wasi:
            store.set_wasi(wasmtime.WasiConfig())
        ctx = InvocationContext("bench")
        rt._tls.stack = [imports(ctx)]
        marks.append((time.perf_counter(), faults()))
        instance = rt.linker.instantiate(store, fn.component)
        marks.append((time.perf_counter(), faults()))
        fn.exports.handle(store, instance, event)
        marks.append((time.perf_counter(), faults()))
        fn.exports.handle(store, instance, event)
        marks.append((time.perf_counter(), faults()))
        store.close()
        marks.append((time.perf_counter(), faults()))
        if i >= 3:  # warm-up rounds dropped
            for p, (a, b) in zip(PHASES, zip(marks, marks[1:])):
                samples[p].append((b[0] - a[0], b[1] - a[1]))
    return {p: (statistics.median(s[0] for s in v), statistics.median(s[1] for s in v)) for p, v in samples.items()}


def timed(run: Callable[[], Any], n: int) -> float:
    run()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pooling", type=int, default=0, help="pooling allocator slots (0: on-demand, the default)")
    parser.add_argument("--keep-resident-mb", type=int, default=0, help="with --pooling: memory kept resident per slot")
    args = parser.parse_args()
    settings = EngineSettings(pooling_instances=args.pooling, pooling_keep_resident_mb=args.keep_resident_mb)
    hello = {
        "rust": build_guest("hello-rust", ROOT / "guest-rust/examples/hello", "rust", ROOT / "wit", "function"),
        "python": build_guest("hello-python", ROOT / "guest-python/examples/hello", "python", ROOT / "wit", "function"),
    }
    probe = {
        "rust": build_guest("probe-rust", ROOT / "tests/guests/probe-rust", "rust", ROOT / "wit", "function"),
        "python": build_guest("probe-python", ROOT / "tests/guests/probe-python", "python", ROOT / "wit", "function"),
    }
    print(f"CPU: {cpu_model()}; engine: {settings}\n")
    with Engine(settings, cache_dir=ROOT / ".wasmlet" / "bench-cache") as engine, \
            tempfile.TemporaryDirectory(prefix="wasmlet-bench-") as data:
        rt = Runtime(engine)
        print("| examples' hello | " + " | ".join(PHASES) + " | whole `Runtime.invoke` |")
        print("|---|" + "---:|" * (len(PHASES) + 1))
        for lang in ("rust", "python"):
            fn = rt.load_file(hello[lang])
            event = EventHttp(Request("GET", "/api/capitalize/hello-world", "", [], BodyText(""), "/hello/latest"))
            n = 300 if lang == "rust" else 60
            none = bind_imports(Manifest().grants, HostServices())
            phases = split(rt, fn, event, none, n)
            whole = timed(lambda fn=fn, event=event, none=none: rt.invoke(  # type: ignore[misc]
                fn, event, ctx=InvocationContext("bench"), imports=none), n)
            print(f"| {lang} | " + " | ".join(f"{fmt(t)} ({f:.0f} faults)" for t, f in phases.values())
                  + f" | {fmt(whole)} |")

        manifest = Manifest.from_toml('[config]\nkey = "value"\n[kv]\nstores = ["default"]\n'
                                      '[sql]\ndatabases = ["default"]\n')
        imports = bind_imports(manifest.grants, HostServices(backends=Backends(Path(data))))
        print("\n| one hostcall (guest SDK + host, SQLite backends) | " + " | ".join(("rust", "python")) + " |")
        print("|---|---:|---:|")
        costs: dict[str, dict[str, float]] = {}
        for lang in ("rust", "python"):
            fn = rt.load_file(probe[lang])

            def run(kind: str, count: int, fn: Any = fn) -> Callable[[], Any]:
                ev = EventHttp(Request("GET", "/repeat", f"kind={kind}&n={count}", [], BodyText(""), "/p/latest"))
                return lambda: rt.invoke(fn, ev, ctx=InvocationContext("bench"), imports=imports, limits=manifest.limits)

            for kind in ("log", "config", "kv", "sql"):
                calls = 200
                base, loaded = timed(run(kind, 0), 20), timed(run(kind, calls), 20)
                costs.setdefault(kind, {})[lang] = (loaded - base) / calls
        for kind, by_lang in costs.items():
            label = {"log": "log (debug, written nowhere)", "config": "config.get", "kv": "kv.get (SQLite, missing key)",
                     "sql": "sql.query (SQLite, one row of two columns)"}[kind]
            print(f"| {label} | {fmt(by_lang['rust'])} | {fmt(by_lang['python'])} |")


if __name__ == "__main__":
    main()
