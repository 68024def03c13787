"""SQL rows packed into one JSON string (`sql.rows.packed`, contract 0.2.0): one buffer across the
boundary instead of one canonical-ABI value per cell.

A value is `null`, an integer, a real (Python's `repr` always has a `.` or an exponent, and
round-trips exactly), a JSON string for text, `{"blob": s}` with one code point per byte, or
`{"real": "inf" | "-inf" | "nan"}` for what JSON cannot write.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
from collections.abc import Sequence
from itertools import chain
from typing import Any

from ._errors import Refused

_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _native(v: Any) -> Any:
    """A driver's value as what the packed form writes (dates and decimals become text and reals)."""
    if v is None or isinstance(v, (str, int)):
        return int(v) if isinstance(v, bool) else v
    if isinstance(v, float):
        return v if math.isfinite(v) else {"real": "nan" if v != v else "inf" if v > 0 else "-inf"}
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"blob": bytes(v).decode("latin-1")}
    if isinstance(v, decimal.Decimal):
        if v == v.to_integral_value() and v.as_tuple().exponent == 0:
            return int(v)
        return _native(float(v))
    if isinstance(v, (datetime.date, datetime.time, datetime.datetime)):
        return v.isoformat()
    return str(v)


_PLAIN = frozenset((type(None), str, int, float))
"""Cell types json.dumps writes as the contract wants (bool is not one: it must arrive as 0/1)."""
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")).encode


def _pack(rows: Sequence[Sequence[Any]]) -> str:
    """Rows as packed JSON: in one C pass when every cell is plain (the common case), else cell by cell."""
    if set(map(type, chain.from_iterable(rows))) <= _PLAIN:
        try:
            return _encode(rows)
        except ValueError:  # a non-finite real
            pass
    return _encode([[_native(v) for v in row] for row in rows])


def pack_rows(rows: Sequence[Sequence[Any]]) -> str:
    """The rows as the packed JSON text."""
    return _pack(rows)


class RowPacker:
    """Packs a result a chunk at a time as it arrives, counting rows and the packed text's size,
    and refuses the first chunk past either limit (the rest is never read)."""

    __slots__ = ("max_rows", "max_bytes", "rows", "bytes", "_parts")

    def __init__(self, max_rows: int, max_bytes: int) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.rows = 0
        self.bytes = 0
        self._parts: list[str] = []

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        """Packs `rows`; raises `Refused` once over the rows or bytes limit."""
        if not rows:
            return
        self.rows += len(rows)
        if self.rows > self.max_rows:
            raise Refused(f"query result over the limit of {self.max_rows} rows")
        text = _pack(rows)
        self.bytes += len(text) if text.isascii() else len(text.encode())
        if self.bytes > self.max_bytes:
            raise Refused(f"query result over the limit of {self.max_bytes} bytes")
        self._parts.append(text[1:-1])

    def text(self) -> str:
        """Everything added, as one packed JSON array."""
        return "[" + ",".join(self._parts) + "]"


def _unpacked(v: Any) -> Any:
    if isinstance(v, dict):
        if "blob" in v:
            return str(v["blob"]).encode("latin-1")
        return _NON_FINITE[str(v["real"])]
    return v


def unpack_rows(packed: str) -> list[list[Any]]:
    """The rows back as Python values (None, int, float, str, bytes)."""
    rows = json.loads(packed)
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ValueError("packed rows are not an array of arrays")
    return [[_unpacked(v) for v in row] for row in rows]
