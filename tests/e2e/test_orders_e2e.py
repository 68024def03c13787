"""The orders microservice, per language × database, against a real `wasmlet dev`.

The same component runs on SQLite, PostgreSQL or MariaDB: only the host's
runtime config and the function's `database` config value change.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import free_port, running

LANGS = ["rust", "python", "js"]
BACKENDS = ["sqlite", "postgres", "mariadb"]
LABEL = {"sqlite": "default", "postgres": "pg", "mariadb": "maria"}

ORDERS = [
    {"order_id": 1, "product_id": 12, "quantity": 2, "amount": 56.0, "shipping": 15.0, "tax": 2.0,
     "shipping_address": "Mataderos 2312"},
    {"order_id": 2, "product_id": 15, "quantity": 3, "amount": 256.0, "shipping": 30.0, "tax": 16.0,
     "shipping_address": "1234 NW Bobcat"},
    {"order_id": 3, "product_id": 11, "quantity": 5, "amount": 536.0, "shipping": 50.0, "tax": 24.0,
     "shipping_address": "20 Havelock"},
    {"order_id": 4, "product_id": 8, "quantity": 8, "amount": 126.0, "shipping": 12.0, "tax": 8.0,
     "shipping_address": "35 Tottenham Court Road"},
    {"order_id": 5, "product_id": 24, "quantity": 1, "amount": 46.21, "shipping": 10.5, "tax": 2.75,
     "shipping_address": "Sørlandsgata 4 — ünïcode"},
]


SERVICE_FIXTURE = {"postgres": "pg_url", "mariadb": "maria_url"}


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, orders_wasm: dict[str, Path],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, set[str]]]:
    """One dev server with every language x database whose service is here (SQLite always is)."""
    urls: dict[str, str] = {}
    for backend, fixture in SERVICE_FIXTURE.items():
        try:
            urls[backend] = request.getfixturevalue(fixture)
        except pytest.skip.Exception:  # absent on this machine (in CI the fixture fails instead)
            pass
    root = tmp_path_factory.mktemp("orders")
    config = 'data_dir = "data"\n'
    if "postgres" in urls:
        config += f'[sql.pg]\ntype = "postgres"\nurl = "{urls["postgres"]}"\nallow_superuser = true\n'
    if "mariadb" in urls:
        config += f'[sql.maria]\ntype = "mysql"\nurl = "{urls["mariadb"]}"\nallow_superuser = true\n'
    (root / "wasmlet.toml").write_text(config)  # the test services' roles are superusers
    available = {"sqlite", *urls}
    args = ["dev", "--config", str(root / "wasmlet.toml")]
    for lang in LANGS:
        for backend in sorted(available):
            name = f"orders-{lang}-{backend}"
            shutil.copy(orders_wasm[lang], root / f"{name}.wasm")
            label = LABEL[backend]
            (root / f"{name}.toml").write_text(f'[config]\ndatabase = "{label}"\n[sql]\ndatabases = ["{label}"]\n')
            args += ["-m", f"{name}:{root / name}.wasm"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(args + ["--bind", f"127.0.0.1:{port}"], f"{base}/_wasmlet/health", root / "dev.log", cwd=root):
        yield base, available


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("lang", LANGS)
def test_orders(request: pytest.FixtureRequest, server: tuple[str, set[str]], lang: str, backend: str) -> None:
    base, available = server
    if backend not in available:
        request.getfixturevalue(SERVICE_FIXTURE[backend])  # skips with the service's reason
    with httpx.Client(base_url=f"{base}/orders-{lang}-{backend}/latest", timeout=60) as c:
        assert c.get("/init").json() == {"status": "initialized"}
        assert c.get("/orders").json() == []
        assert c.post("/create_orders", json=ORDERS).json() == {"created": 5}
        assert c.get("/orders").json() == ORDERS
        changed = {**ORDERS[1], "quantity": 7, "amount": 599.5, "shipping_address": "changed"}
        assert c.post("/update_order", json=changed).json() == {"updated": 1}
        assert c.get("/delete_order", params={"id": 4}).json() == {"deleted": 1}
        expected = [ORDERS[0], changed, ORDERS[2], ORDERS[4]]
        listing = c.get("/orders")
        assert listing.headers["content-type"] == "application/json"
        assert listing.json() == expected
        assert c.get("/delete_order", params={"id": "x"}).status_code == 400
        assert c.post("/update_order", content=b"{not json").status_code == 400
