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
from typing import Any

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


def _plain(v: Any) -> bool:
    """Written by json.dumps as the contract wants without a conversion (the common case)."""
    kind = v.__class__
    return v is None or kind is str or kind is int or (kind is float and math.isfinite(v))


def pack_rows(rows: Sequence[Sequence[Any]]) -> str:
    """The rows as the packed JSON text; a row of plain values (the common case) is written as it is."""
    prepared = [row if all(_plain(v) for v in row) else [_native(v) for v in row] for row in rows]
    return json.dumps(prepared, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


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
