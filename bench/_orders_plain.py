"""The orders baseline without wasm: `GET /orders` as a plain ASGI app doing the same query with
sqlite3 and answering the same JSON, served by the same uvicorn (bench/orders.py)."""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any

COLUMNS = "order_id, product_id, quantity, amount, shipping, tax, shipping_address"
_db = sqlite3.connect(os.environ["ORDERS_DB"], check_same_thread=False)  # one connection per worker process
_HEAD = {"type": "http.response.start", "status": 200}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    rows = _db.execute(f"SELECT {COLUMNS} FROM orders ORDER BY order_id").fetchall()
    body = json.dumps([{"order_id": r[0], "product_id": r[1], "quantity": r[2], "amount": float(r[3]),
                        "shipping": float(r[4]), "tax": float(r[5]), "shipping_address": r[6]} for r in rows]).encode()
    await send({**_HEAD, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
