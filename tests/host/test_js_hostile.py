"""A JavaScript guest gets the same limits as the others: a spinning handler is stopped at its
deadline (504), a memory hog at its memory cap, an uncaught throw is a 500 with the request id, a
status HTTP cannot carry is a 502, nothing survives between events, ungranted capabilities are
`denied` — and the host keeps serving after each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from guests import ROOT, build_guest

from wasmlet import Runtime
from wasmlet.manifest import Manifest
from wasmlet.testing import FunctionHarness


@pytest.fixture(scope="module")
def probe(runtime: Runtime) -> Iterator[FunctionHarness]:
    wasm = build_guest("probe-js", ROOT / "tests" / "guests" / "probe-js", "js", ROOT / "wit", "function")
    manifest = Manifest.from_toml('[limits]\ntimeout_ms = 1500\nmemory_mb = 64\n[kv]\nstores = ["default"]\n')
    with FunctionHarness(wasm, name="probe-js", manifest=manifest, runtime=runtime) as fn:
        yield fn


def assert_serving(fn: FunctionHarness) -> None:
    resp = fn.client.get("/hello")
    assert resp.status_code == 200 and resp.text == "hello from js"


def test_a_spinning_handler_is_stopped_at_its_deadline(probe: FunctionHarness) -> None:
    resp = probe.client.get("/loop", timeout=30)
    assert resp.status_code == 504 and resp.json()["request_id"] == resp.headers["x-request-id"]
    assert_serving(probe)


def test_a_memory_hog_stops_at_its_cap(probe: FunctionHarness) -> None:
    """SpiderMonkey says "out of memory" on stderr and aborts when the cap refuses its next page: the
    host reports it as such (500), three times in a row, and serves on."""
    for _ in range(3):
        resp = probe.client.get("/alloc", timeout=30)
        assert resp.status_code == 500 and resp.json()["error"] == "probe-js ran out of memory (64 MB)", resp.text
        assert_serving(probe)


def test_an_uncaught_throw_is_a_500_with_the_request_id(probe: FunctionHarness) -> None:
    resp = probe.client.get("/throw")
    assert resp.status_code == 500 and resp.json()["request_id"] == resp.headers["x-request-id"]
    assert_serving(probe)


def test_a_status_http_cannot_carry_is_a_502(probe: FunctionHarness) -> None:
    resp = probe.client.get("/bad-status")
    assert resp.status_code == 502 and "status" in resp.json()["error"]


def test_nothing_survives_between_events(probe: FunctionHarness) -> None:
    assert [probe.client.get("/remembers").text for _ in range(3)] == ["1", "1", "1"]


def test_ungranted_capabilities_are_denied(probe: FunctionHarness) -> None:
    lines = probe.client.get("/ungranted").text.splitlines()
    assert lines[0] == "denied: key-value store 'other' is not granted"
    assert lines[1].startswith("denied: ") and "other" in lines[1]
    assert lines[2] == "ok undefined" or lines[2].startswith("denied")
