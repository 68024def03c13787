"""SQL rows cross packed into one JSON string (contract 0.2.0): every kind of cell arrives exact
in both SDKs — integers at the i64 edges, reals bit for bit (0.1, -0.0, 1e300, infinities, NaN),
text with quotes, escapes, control characters and emoji, blobs with every byte value — and a
0.1.0 guest still gets its one-value-per-cell rows through the adapter."""

from __future__ import annotations

import math
import random
import sqlite3
import struct
from pathlib import Path

import pytest

from wasmlet import BodyText, EventHttp, InvocationContext, Request, Runtime, body_bytes, body_from_bytes
from wasmlet.bindings import faas, faas_0_1_0
from wasmlet.bindings._abi import Err, Ok
from wasmlet.capabilities import bind_imports
from wasmlet.capabilities._capability import HostServices
from wasmlet.capabilities._packed import pack_rows, unpack_rows
from wasmlet.capabilities.backends import Backends
from wasmlet.contracts import CONTRACTS
from wasmlet.manifest import Manifest

TEXTS = ['a"b\\c/d', "line\nbreak\ttab\r", "\x00\x01\x1f\x7f", "ünïcödé ✓ 😀 𝄞", "", " "]
REALS = [0.1, -0.0, 1e300, -2.5e-308, 5e-324, math.pi, 1.0, -1.0, math.inf, -math.inf]
INTS = [0, -1, 2**63 - 1, -(2**63), 2**53 + 1]
BLOBS = [bytes(range(256)), b"", b"\xc3\x28", b"\xff" * 3]


def line(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, int):
        return f"int {v}"
    if isinstance(v, float):
        return f"real {struct.unpack('>Q', struct.pack('>d', v))[0]:016x}"
    if isinstance(v, str):
        return f"text {v.encode().hex()}"
    assert isinstance(v, bytes)
    return f"blob {v.hex()}"


def test_pack_and_unpack_are_exact() -> None:
    rows = [[None, *INTS, *REALS, *TEXTS, *BLOBS]]
    back = unpack_rows(pack_rows(rows))
    assert [line(v) for v in back[0]] == [line(v) for v in rows[0]]
    nan = unpack_rows(pack_rows([[math.nan]]))[0][0]
    assert math.isnan(nan)
    assert pack_rows([[1, 1.0, True]]) == "[[1,1.0,1]]"  # an integer and a real stay apart; bools are integers
    with pytest.raises(ValueError):
        unpack_rows('{"rows": 1}')


@pytest.fixture()
def filled(tmp_path: Path) -> Path:
    """A SQLite database under the `default` label with one row per kind of cell."""
    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / "sql-default.sqlite3")  # where the `default` label lives (backends.py)
    db.execute("CREATE TABLE cells (v)")
    values: list[object] = [None, *INTS, *[r for r in REALS if math.isfinite(r)], *TEXTS, *BLOBS]
    db.executemany("INSERT INTO cells VALUES (?)", [(v,) for v in values])
    db.commit()
    db.close()
    return data


@pytest.mark.parametrize("lang", ["rust", "python"])
def test_every_kind_of_cell_arrives_exact_in_each_sdk(runtime: Runtime, probe_wasm: dict[str, Path], lang: str,
                                                      filled: Path) -> None:
    manifest = Manifest.from_toml('[sql]\ndatabases = ["default"]\n')
    imports = bind_imports(manifest.grants, HostServices(backends=Backends(filled)))
    fn = runtime.load(probe_wasm[lang].read_bytes())
    statement = "SELECT v FROM cells ORDER BY rowid"
    event = EventHttp(Request("POST", "/sql-cells", "", [], BodyText(statement), "/p/latest"))
    resp = runtime.invoke(fn, event, ctx=InvocationContext("p"), imports=imports)
    assert resp.status == 200, body_bytes(resp.body)
    expected = sqlite3.connect(filled / "sql-default.sqlite3").execute(statement).fetchall()
    assert body_bytes(resp.body).decode().splitlines() == [line(v) for (v,) in expected]


@pytest.mark.parametrize("lang", ["rust", "python"])
def test_blob_parameters_cross_as_octets_and_come_back_exact(runtime: Runtime, probe_wasm: dict[str, Path], lang: str,
                                                             tmp_path: Path) -> None:
    """A blob parameter (guest → host) and the same blob as a cell (host → guest), every byte value
    and a random megabyte, through each SDK."""
    manifest = Manifest.from_toml('[sql]\ndatabases = ["default"]\n')
    imports = bind_imports(manifest.grants, HostServices(backends=Backends(tmp_path)))
    fn = runtime.load(probe_wasm[lang].read_bytes())
    for payload in (bytes(range(256)), b"\xff\x00" * 3, random.Random(7).randbytes(1 << 20)):
        event = EventHttp(Request("POST", "/sql-blob", "", [], body_from_bytes(payload), "/p/latest"))
        resp = runtime.invoke(fn, event, ctx=InvocationContext("p"), imports=imports)
        assert resp.status == 200, body_bytes(resp.body)[:200]
        assert body_bytes(resp.body) == payload


def test_a_blob_parameter_above_u00ff_is_refused_not_truncated(tmp_path: Path) -> None:
    """A guest that writes its own octets (not through an SDK) cannot smuggle a character above U+00FF
    into a blob: the call fails with a backend error naming it, and nothing reaches the database."""
    from wasmlet.capabilities.sql import SqlCalls

    calls = SqlCalls(("default",), Backends(tmp_path).sql)
    result = calls.query("default", "SELECT ?", [faas.ValueBlob("ok\u0100")])
    assert isinstance(result, Err) and "above U+00FF" in result.value.value
    assert calls.query("default", "SELECT length(?)", [faas.ValueBlob("\x00\xff")]) == Ok(faas.Rows(["length(?)"], "[[2]]"))


def test_a_0_1_0_guest_blob_parameter_becomes_octets() -> None:
    seen: list[object] = []

    class Newest:
        def execute(self, database: str, statement: str, params: list[object]) -> object:
            seen.extend(params)
            return Ok(1)

    legacy = CONTRACTS["0.1.0"].adapt_imports(faas.FunctionImports(None, None, None, Newest(), None, None, None))  # type: ignore[arg-type]
    assert legacy.sql.execute("db", "INSERT", [faas_0_1_0.ValueBlob(bytes(range(256)))]) == Ok(1)
    assert seen == [faas.ValueBlob(bytes(range(256)).decode("latin-1"))]


def test_a_0_1_0_guest_gets_one_value_per_cell_through_the_adapter() -> None:
    class Newest:
        def query(self, database: str, statement: str, params: list[object]) -> object:
            return Ok(faas.Rows(["a", "b"], pack_rows([[1, 2.5], ["x", b"\x00\xff"], [None, math.inf]])))

    legacy = CONTRACTS["0.1.0"].adapt_imports(faas.FunctionImports(None, None, None, Newest(), None, None, None))  # type: ignore[arg-type]
    result = legacy.sql.query("db", "SELECT", [])
    assert result == Ok(faas_0_1_0.Rows(["a", "b"], [
        [faas_0_1_0.ValueInteger(1), faas_0_1_0.ValueReal(2.5)],
        [faas_0_1_0.ValueText("x"), faas_0_1_0.ValueBlob(b"\x00\xff")],
        [faas_0_1_0.ValueNull(), faas_0_1_0.ValueReal(math.inf)]]))
