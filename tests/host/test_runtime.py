"""The runtime core: fresh sandboxed invocations, typed traps, limits, the compile cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wasmlet import (
    BodyBytes,
    BodyOctets,
    BodyText,
    Engine,
    EventHttp,
    GuestTrap,
    InvocationContext,
    Limits,
    LoadError,
    OutOfMemory,
    Request,
    Response,
    Runtime,
    Timeout,
    body_bytes,
    body_from_bytes,
)
from wasmlet.runtime import OverBudget

LANGS = ["rust", "python"]


def call(runtime: Runtime, wasm: Path, path: str, body: bytes = b"", limits: Limits | None = None,
         ctx: InvocationContext | None = None) -> Response:
    fn = runtime.load_file(wasm)
    req = Request("POST", path, "a=1", [("x-test", "1"), ("x-test", "2")], body_from_bytes(body), "/probe/dev")
    return runtime.invoke(fn, EventHttp(req), limits=limits, ctx=ctx or InvocationContext("probe"))


@pytest.mark.parametrize("lang", LANGS)
def test_hello_and_request_fields(runtime: Runtime, probe_wasm: dict[str, Path], lang: str) -> None:
    resp = call(runtime, probe_wasm[lang], "/hello")
    assert resp.status == 200
    assert resp.body == BodyText(f"hello from {lang}")
    info = call(runtime, probe_wasm[lang], "/info")
    assert info.body == BodyText("POST /info ?a=1 mount=/probe/dev")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (("ü" * 500_000).encode(), BodyText),  # 1 MB of text
        (bytes(range(256)) * 4096, BodyOctets),  # 1 MB binary: one code point per byte
        (b"a" * (1 << 20) + b"\xff", BodyOctets),  # valid UTF-8 except its last byte
    ],
    ids=["text", "binary", "almost-utf8"],
)
def test_megabyte_echo_is_byte_exact(runtime: Runtime, probe_wasm: dict[str, Path], lang: str,
                                     payload: bytes, kind: type) -> None:
    resp = call(runtime, probe_wasm[lang], "/echo", payload)
    assert body_bytes(resp.body) == payload
    assert isinstance(resp.body, kind)
    assert resp.headers == [("x-test", "1"), ("x-test", "2")]


@pytest.mark.parametrize("lang", LANGS)
def test_infinite_loop_is_stopped_and_the_function_still_serves(
    runtime: Runtime, probe_wasm: dict[str, Path], lang: str
) -> None:
    call(runtime, probe_wasm[lang], "/hello")  # compiled before anything is timed
    with pytest.raises(Timeout, match="interrupted"):  # the epoch deadline stopped it, nothing else did
        call(runtime, probe_wasm[lang], "/loop", limits=Limits(timeout_ms=300))
    assert call(runtime, probe_wasm[lang], "/hello").status == 200


@pytest.mark.parametrize("lang", LANGS)
def test_memory_limit(runtime: Runtime, probe_wasm: dict[str, Path], lang: str) -> None:
    """The guest allocates until refused: with 64 MB it must be refused near 64 MB, far below the
    4 GiB a 32-bit guest would reach with no limit (the process's RSS shows which happened)."""
    import threading

    call(runtime, probe_wasm[lang], "/hello")
    before, peak, done = _rss_mb(), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], _rss_mb())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with pytest.raises(OutOfMemory):
            call(runtime, probe_wasm[lang], "/alloc", limits=Limits(memory_mb=64))
    finally:
        done.set()
        sampler.join()
    assert peak[0] - before < 64 + 60, f"RSS grew {peak[0] - before} MB under a 64 MB limit"
    assert call(runtime, probe_wasm[lang], "/hello").status == 200


def _rss_mb() -> int:
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) // 1024


def test_rust_panic_is_a_guest_trap_with_its_message(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    with pytest.raises(GuestTrap) as info:
        call(runtime, probe_wasm["rust"], "/panic")
    assert "deliberate panic for testing" in info.value.output_tail
    assert "unreachable" in info.value.message


def test_python_exception_is_a_guest_trap_with_its_message(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    with pytest.raises(GuestTrap) as info:
        call(runtime, probe_wasm["python"], "/panic")
    assert "RuntimeError: deliberate exception for testing" in info.value.output_tail


def test_python_guest_has_an_empty_wasi_context(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    files = call(runtime, probe_wasm["python"], "/files")
    assert files.status == 403 and "root:" not in body_bytes(files.body).decode()
    env = call(runtime, probe_wasm["python"], "/env")
    assert env.body == BodyText("{}")


def test_log_hostcall_reaches_the_host_log(runtime: Runtime, probe_wasm: dict[str, Path],
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="wasmlet.guest")
    for lang in LANGS:
        caplog.clear()
        ctx = InvocationContext("probe", version="dev", request_id=f"req-{lang}")
        call(runtime, probe_wasm[lang], "/log", ctx=ctx)
        records = [r for r in caplog.records if r.getMessage() == "hello from the probe"]
        assert len(records) == 1 and getattr(records[0], "request_id") == f"req-{lang}"


def test_python_guest_second_load_is_a_compile_cache_hit(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    with Engine(cache_dir=tmp_path) as first:
        assert Runtime(first).load_file(probe_wasm["python"]).cache_hit is False
        assert first.cache_misses == 1
    with Engine(cache_dir=tmp_path) as second:
        fn = Runtime(second).load_file(probe_wasm["python"])
        assert fn.cache_hit is True and second.cache_hits == 1 and second.cache_misses == 0
        resp = Runtime(second).invoke(fn, EventHttp(Request("GET", "/hello", "", [], BodyText(""), "/p/1")))
        assert resp.body == BodyText("hello from python")


def test_corrupt_cache_artifact_is_rebuilt(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    with Engine(cache_dir=tmp_path) as eng:
        Runtime(eng).load_file(probe_wasm["rust"])
        for artifact in tmp_path.glob("*.cwasm"):
            artifact.write_bytes(b"garbage")
    with Engine(cache_dir=tmp_path) as eng:
        fn = Runtime(eng).load_file(probe_wasm["rust"])
        assert fn.cache_hit is False
        assert Runtime(eng).invoke(fn, EventHttp(Request("GET", "/hello", "", [], BodyText(""), ""))).status == 200


def test_load_rejects_garbage_and_the_wrong_world(runtime: Runtime, kitchen_wasm: dict[str, Path]) -> None:
    with pytest.raises(LoadError, match="not a valid component"):
        runtime.load(b"\x00asm garbage")
    with pytest.raises(LoadError, match="wasmlet does not provide|does not export `handle`"):
        runtime.load_file(kitchen_wasm["rust"])


def test_every_tenth_trap_leaves_the_rest_unharmed(runtime: Runtime, probe_wasm: dict[str, Path]) -> None:
    fn = runtime.load_file(probe_wasm["rust"])
    ok = 0
    for i in range(200):
        path = "/panic" if i % 10 == 0 else "/hello"
        try:
            resp = runtime.invoke(fn, EventHttp(Request("GET", path, "", [], BodyText(""), "")),
                                  ctx=InvocationContext("probe"))
            ok += resp.status == 200
        except GuestTrap:
            assert path == "/panic"
    assert ok == 180


def test_pooling_allocator_engine_serves_and_interrupts(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    from wasmlet import EngineSettings

    with Engine(EngineSettings(pooling_instances=8), cache_dir=tmp_path) as eng:
        rt = Runtime(eng)
        fn = rt.load_file(probe_wasm["rust"])
        hello = EventHttp(Request("GET", "/hello", "", [], BodyText(""), ""))
        assert rt.invoke(fn, hello).body == BodyText("hello from rust")
        with pytest.raises(Timeout):
            rt.invoke(fn, EventHttp(Request("GET", "/loop", "", [], BodyText(""), "")), limits=Limits(timeout_ms=100))
        assert rt.invoke(fn, hello).status == 200


def test_load_rejects_handle_of_the_wrong_type_and_foreign_imports(runtime: Runtime, tmp_path: Path) -> None:
    import subprocess

    from wasmlet_bindgen._model import wasm_tools_binary

    def dummy(wit: str, world: str) -> bytes:
        (tmp_path / "w.wit").write_text(wit)
        core, comp = tmp_path / "core.wasm", tmp_path / "comp.wasm"
        subprocess.run([wasm_tools_binary(), "component", "embed", "--dummy", str(tmp_path / "w.wit"),
                        "--world", world, "-o", str(core)], check=True)
        subprocess.run([wasm_tools_binary(), "component", "new", str(core), "-o", str(comp)], check=True)
        return comp.read_bytes()

    wrong = dummy("package t:t;\nworld w { export handle: func(x: u32) -> u32; }\n", "w")
    with pytest.raises(LoadError, match="wrong type"):
        runtime.load(wrong)
    foreign = dummy("package t:t;\ninterface secret { peek: func() -> string; }\n"
                    "world w { import secret; export handle: func(x: u32) -> u32; }\n", "w")
    with pytest.raises(LoadError, match="does not provide: t:t/secret"):
        runtime.load(foreign)


def test_stored_component_with_a_warm_cache_is_neither_read_nor_hashed(tmp_path: Path,
                                                                       probe_wasm: dict[str, Path]) -> None:
    import hashlib

    wasm = probe_wasm["python"].read_bytes()
    sha = hashlib.sha256(wasm).hexdigest()
    fetched: list[int] = []

    def fetch() -> bytes:
        fetched.append(1)
        return wasm

    with Engine(cache_dir=tmp_path) as eng:
        first = Runtime(eng).load_stored(sha, fetch)
        assert not first.cache_hit and fetched == [1]
    with Engine(cache_dir=tmp_path) as eng:
        rt = Runtime(eng)
        warm = rt.load_stored(sha, fetch)
        assert warm.cache_hit and fetched == [1]  # served from the compile cache alone
        assert rt.invoke(warm, EventHttp(Request("GET", "/hello", "", [], BodyText(""), ""))).status == 200


def test_an_attempt_past_its_budget_leaves_no_trace(runtime: Runtime, probe_wasm: dict[str, Path],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="wasmlet.guest")
    fn = runtime.load(probe_wasm["python"].read_bytes())
    ctx = InvocationContext("probe")
    ctx.output.append("said before")
    event = EventHttp(Request("GET", "/spin", "ms=500&log=1", [], BodyBytes(b""), "/probe/dev"))
    with pytest.raises(OverBudget):
        runtime.invoke(fn, event, ctx=ctx, budget_ms=20)
    assert list(ctx.output) == ["said before"]
    assert not [r for r in caplog.records if "spinning" in r.getMessage()]
    # within its budget, an attempt is an ordinary invocation: its log lines are written
    quick = EventHttp(Request("GET", "/spin", "ms=1&log=1", [], BodyBytes(b""), "/probe/dev"))
    assert runtime.invoke(fn, quick, ctx=ctx, budget_ms=5_000).body == BodyText("spun 1 ms")
    assert [r.getMessage() for r in caplog.records if "spinning" in r.getMessage()] == ["spinning 1 ms"]
    assert ctx.held is None


_COMPILE_AND_REPORT_RSS = """
import re, sys
from pathlib import Path
from wasmlet import Engine, Runtime
def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1)) // 1024
with Engine(cache_dir=Path(sys.argv[1])) as engine:
    runtime, wasm = Runtime(engine), Path(sys.argv[2]).read_bytes()
    before = rss()
    runtime.load(wasm)
    print(rss() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_compiling_gives_the_compilers_scratch_memory_back(tmp_path: Path, probe_wasm: dict[str, Path]) -> None:
    # a fresh process, a cold cache: compiling the 18 MB Python component used to leave ~350 MB resident
    out = subprocess.run([sys.executable, "-c", _COMPILE_AND_REPORT_RSS, str(tmp_path), str(probe_wasm["python"])],
                         capture_output=True, text=True, check=True, timeout=300)
    kept = int(out.stdout)  # what compiling left resident, relative to the same process before it
    assert kept < 120, f"compiling left {kept} MB resident (the compiler's scratch was ~250 MB)"
