"""The wasi:http provider in process: standard components through `Runtime`, with no HTTP server, for
what the end-to-end tests cannot see — the buffered body cap, the world check at load, a module
call's request, handles released with the invocation — and hostile component shapes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from guests import _tool
from wasi_http import build_python_echo, build_tiny

from wasmlet import Runtime
from wasmlet.bindings import _handles as handles
from wasmlet.bindings import faas
from wasmlet.bodies import body_bytes
from wasmlet.capabilities import InvocationContext
from wasmlet.errors import GuestTrap, InvalidResponse, LoadError, OutOfMemory, Timeout
from wasmlet.manifest import Limits
from wasmlet.runtime import PROXY_WORLD
from wasmlet.wasi_http import provides


def _request(path: str, query: str = "", method: str = "GET", body: bytes = b"") -> faas.Request:
    return faas.Request(method, path, query, [("host", "example.test"), ("x-a", "1")],
                        faas.BodyText(body.decode()), "/fn/dev")


def _invoke(runtime: Runtime, wasm: Path, path: str, query: str = "", limits: Limits | None = None,
            event: faas.Event | None = None) -> tuple[faas.Response, InvocationContext]:
    fn = runtime.load_file(wasm)
    ctx = InvocationContext(function="fn")
    response = runtime.invoke(fn, event or faas.EventHttp(_request(path, query)), ctx=ctx,
                              limits=limits or Limits(timeout_ms=3000, memory_mb=64))
    return response, ctx


def test_world_is_recognised_and_the_note_is_kept(runtime: Runtime) -> None:
    fn = runtime.load_file(build_tiny())
    assert fn.world == PROXY_WORLD and fn.uses_wasi
    assert runtime.world_of(fn.sha256) == PROXY_WORLD
    again = runtime.load_file(build_tiny())  # from the compile cache and the note
    assert again.world == PROXY_WORLD and again.cache_hit


def test_every_minor_version_of_wasi_0_2_resolves() -> None:
    for name in ["wasi:io/streams@0.2.0", "wasi:http/types@0.2.9", "wasi:cli/stdout@0.2.10",
                 "wasi:sockets/tcp@0.2.12", "wasi:random/insecure-seed@0.2.3"]:
        assert provides(name)
    for name in ["wasi:http/types@0.3.0", "wasi:keyvalue/store@0.2.0", "wasmlet:faas/log@0.3.0", "wasi:io/streams"]:
        assert not provides(name)


def test_a_module_call_reaches_it_as_its_request(runtime: Runtime) -> None:
    call = faas.EventCall(faas.ModuleCall("caller", _request("/echo", "q=1", "POST", b"from a function")))
    response, _ = _invoke(runtime, build_python_echo(), "", event=call)
    assert response.status == 200 and body_bytes(response.body) == b"from a function"


def test_events_other_than_requests_are_refused(runtime: Runtime) -> None:
    message = faas.EventMessage(faas.Message("orders", "subject", faas.BodyText("x"), [], 1, "m1"))
    with pytest.raises(Exception, match="HTTP requests only"):
        _invoke(runtime, build_tiny(), "", event=message)


def test_without_a_stream_the_body_is_capped_at_the_memory_limit(runtime: Runtime) -> None:
    with pytest.raises(InvalidResponse, match="larger than 67108864 bytes"):
        _invoke(runtime, build_python_echo(), "/flood", "mb=100")


def test_header_data_the_host_holds_is_capped_at_the_memory_limit(runtime: Runtime) -> None:
    limits = Limits(timeout_ms=30000, memory_mb=64)
    response, _ = _invoke(runtime, build_python_echo(), "/fields-flood", "n=10&kb=60", limits)
    assert response.status == 200
    with pytest.raises(OutOfMemory, match="header fields"):  # 2000 clones of 60 KiB: past 64 MB
        _invoke(runtime, build_python_echo(), "/fields-flood", "n=2000&kb=60", limits)
    with pytest.raises(GuestTrap, match="header fields larger than 65536 bytes"):  # one fields holds 64 KiB
        _invoke(runtime, build_python_echo(), "/fields-flood", "n=1&kb=100", limits)


def test_insecure_randomness_never_comes_from_the_hosts_generator(runtime: Runtime) -> None:
    """Python's `random` is one generator per process (request ids come from it) and its state can be
    rebuilt from its outputs: a guest must never see them."""
    import random

    random.seed(1234)
    expected = [random.getrandbits(64) for _ in range(4)]
    random.seed(1234)
    response, _ = _invoke(runtime, build_python_echo(), "/insecure", "n=4")
    values = json.loads(body_bytes(response.body))
    assert len(values) == 4 and values != expected
    assert [random.getrandbits(64) for _ in range(4)] == expected  # and it drew nothing from it


def test_exit_once_the_response_is_whole_keeps_the_response(runtime: Runtime) -> None:
    response, _ = _invoke(runtime, build_python_echo(), "/exit-after")
    assert response.status == 200 and body_bytes(response.body) == b"whole\n"


def test_nothing_is_written_past_the_end_of_a_body(runtime: Runtime) -> None:
    response, ctx = _invoke(runtime, build_python_echo(), "/after-finish")
    assert body_bytes(response.body) == b"before\n"
    assert "the host refused a write past the end" in list(ctx.output)


def test_a_header_name_ending_in_a_newline_is_invalid(runtime: Runtime) -> None:
    response, _ = _invoke(runtime, build_python_echo(), "/bad-name")
    assert response.status == 400 and body_bytes(response.body) == b"refused: HeaderError_InvalidSyntax\n"


def test_random_bytes_are_bounded_per_call(runtime: Runtime) -> None:
    """A `list<u8>` costs the host ~70 bytes a byte on its way in: a call may ask for at most 1 MiB."""
    response, _ = _invoke(runtime, build_python_echo(), "/random", f"n={1 << 20}", Limits(timeout_ms=10000))
    assert body_bytes(response.body) == str(1 << 20).encode()
    with pytest.raises(GuestTrap, match="random bytes asked for in one call"):
        _invoke(runtime, build_python_echo(), "/random", f"n={(1 << 20) + 1}")


def test_poll_over_several_pollables(runtime: Runtime) -> None:
    """Several borrowed handles in one host call (wasmtime 50.0.1 trapped on it; 51 takes it)."""
    started = time.monotonic()
    response, _ = _invoke(runtime, build_python_echo(), "/poll-two")
    assert json.loads(body_bytes(response.body)) == [1]  # the sooner timer only
    assert time.monotonic() - started < 1.5


def test_waits_and_exits_end_the_invocation(runtime: Runtime) -> None:
    with pytest.raises(Timeout):
        _invoke(runtime, build_python_echo(), "/sleep", "ms=60000", Limits(timeout_ms=500))
    with pytest.raises(GuestTrap, match="exited"):
        _invoke(runtime, build_python_echo(), "/exit")
    response, _ = _invoke(runtime, build_python_echo(), "/")
    assert response.status == 200


def test_stdout_goes_to_the_function_log(runtime: Runtime) -> None:
    with pytest.raises(GuestTrap) as info:
        _invoke(runtime, build_python_echo(), "/exit")
    assert "exiting now" in info.value.output_tail


def test_no_handle_outlives_its_invocation(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    tables: list[handles.HandleTable] = []
    real = handles.HandleTable.close

    def spy(self: handles.HandleTable) -> None:
        tables.append(self)
        real(self)

    monkeypatch.setattr(handles.HandleTable, "close", spy)
    for path in ["/", "/echo", "/headers"]:
        _invoke(runtime, build_python_echo(), path)
    assert len(tables) == 3 and all(len(t) == 0 for t in tables)


def _hand_made(tmp: Path, extra_import: str = "", params: str = '(param "request" (own $req)) '
               '(param "response-out" (own $out))', core: str = "(param i32 i32)") -> Path:
    """A hand-written proxy component whose handler does nothing, with an extra import or another type."""
    wat = f"""(component
      (import "wasi:http/types@0.2.0" (instance $types
        (export "incoming-request" (type (sub resource)))
        (export "response-outparam" (type (sub resource)))))
      (alias export $types "incoming-request" (type $req))
      (alias export $types "response-outparam" (type $out))
      {extra_import}
      (core module $m (memory (export "memory") 1) (func (export "handle") {core}))
      (core instance $i (instantiate $m))
      (func $h {params} (canon lift (core func $i "handle") (memory (core memory $i "memory"))))
      (instance $inst (export "handle" (func $h)))
      (export "wasi:http/incoming-handler@0.2.0" (instance $inst)))"""
    src, out = tmp / "c.wat", tmp / "c.wasm"
    src.write_text(wat)
    subprocess.run([_tool("wasm-tools"), "parse", str(src), "-o", str(out)], check=True)
    return out


def test_hand_made_components_of_the_wrong_shape(runtime: Runtime, tmp_path: Path) -> None:
    foreign = _hand_made(tmp_path, '(import "wasi:keyvalue/store@0.2.0" (instance (export "get" (func))))')
    with pytest.raises(LoadError, match="does not provide: wasi:keyvalue/store@0.2.0"):
        runtime.load_file(foreign)
    wrong = _hand_made(tmp_path, params='(param "request" u32)', core="(param i32)")
    with pytest.raises(LoadError, match="wrong type"):
        runtime.load_file(wrong)
    silent = _hand_made(tmp_path)  # answers nothing: a failure of the component, not of the host
    with pytest.raises(GuestTrap, match="without setting a response"):
        _invoke(runtime, silent, "/")
