"""The orders example in every SDK language consumes `orders.created` from NATS JetStream and stores
the order in SQL: the same order published once is stored by each language's function (each a
subscriber of its own, each with its own database), and a malformed order is dead-lettered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import free_port, running

LANGS = ["rust", "python", "js"]
TOKEN = "orders-events"
ORDER = {"order_id": 7, "product_id": 3, "quantity": 2, "amount": 19.5, "shipping": 4.0, "tax": 1.5,
         "shipping_address": "7 Queue Street"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def served(nats_url: str, orders_wasm: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("orders-events")
    stream = f"WASMLET_ORDERS_{secrets.token_hex(4)}"
    config = (f'[messaging.events]\ntype = "nats"\nurl = "{nats_url}"\nstream = "{stream}"\n'
              'subjects = ["orders.created"]\n'
              + "".join(f'[sql.db_{lang}]\ntype = "sqlite"\npath = "orders-{lang}.sqlite3"\n' for lang in LANGS))
    (tmp / "wasmlet.toml").write_text(config)
    port, admin = free_port(), free_port()
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--admin-bind", f"127.0.0.1:{admin}", "--data-dir",
            str(tmp / "data"), "--config", str(tmp / "wasmlet.toml")]
    try:
        with running(args, f"http://127.0.0.1:{port}/_wasmlet/health", tmp / "serve.log",
                     env={"WASMLET_ADMIN_TOKEN": TOKEN}):
            for lang in LANGS:
                manifest = (f'[config]\ndatabase = "db_{lang}"\n[sql]\ndatabases = ["db_{lang}"]\n'
                            '[[triggers.message]]\nsource = "events"\nsubject = "orders.created"\n'
                            f'queue = "orders-{lang}"\nmax_attempts = 2\nbackoff = "100ms"\n'
                            f'dead_letter = "{stream.lower()}.dead"\n')
                resp = httpx.post(f"http://127.0.0.1:{admin}/v1/functions/orders-{lang}/versions",
                                  data={"manifest": manifest}, headers={"authorization": f"Bearer {TOKEN}"},
                                  files={"component": ("c.wasm", orders_wasm[lang].read_bytes(), "application/wasm")},
                                  timeout=300)
                assert resp.status_code == 201, resp.text
                assert httpx.get(f"http://127.0.0.1:{port}/orders-{lang}/latest/init", timeout=60).json() == \
                    {"status": "initialized"}
            yield {"base": f"http://127.0.0.1:{port}", "stream": stream}
    finally:
        async def cleanup() -> None:
            import nats

            nc = await nats.connect(nats_url)
            with contextlib.suppress(Exception):
                await nc.jetstream().delete_stream(stream)
            await nc.close()

        asyncio.run(cleanup())


@pytest.mark.anyio
async def test_each_language_stores_a_published_order(anyio_backend: str, served: dict[str, Any], nats_url: str) -> None:
    import nats

    nc = await nats.connect(nats_url)
    dead: list[Any] = []
    try:
        async def take(msg: Any) -> None:
            dead.append(msg)

        await nc.subscribe(f"{served['stream'].lower()}.dead", cb=take)
        await asyncio.sleep(2.5)  # the runner looks at the registry every second
        await nc.jetstream().publish("orders.created", json.dumps(ORDER).encode())
        await nc.jetstream().publish("orders.created", b"{not an order")
        async with httpx.AsyncClient(base_url=served["base"], timeout=30) as client:
            for lang in LANGS:
                for _ in range(200):
                    orders = (await client.get(f"/orders-{lang}/latest/orders")).json()
                    if orders:
                        break
                    await asyncio.sleep(0.1)
                assert orders == [ORDER], lang
        for _ in range(200):
            if len(dead) >= len(LANGS):
                break
            await asyncio.sleep(0.1)
        assert sorted(m.headers["wasmlet-function"] for m in dead) == sorted(f"orders-{lang}" for lang in LANGS)
        assert all(m.data == b"{not an order" and m.headers["wasmlet-reason"].startswith("400") for m in dead)
    finally:
        await nc.close()
