"""Fixtures every test group shares: guests built from source, engines, services, an upstream server.

Helpers live in `tests/support/` (on `sys.path`, so tests and benchmarks import
`guests`, `servers`, `stallproxy` directly); see tests/README.md for the groups.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "tests" / "kitchen"))

from guests import build_guest, build_wat, unavailable  # noqa: E402
from pgdb import new_pg_database  # noqa: E402
from servers import free_port, running  # noqa: E402

from wasmlet import Engine, Runtime  # noqa: E402

PG_URL = os.environ.get("WASMLET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MARIA_URL = os.environ.get("WASMLET_TEST_MARIADB", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("WASMLET_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def kitchen_wasm() -> dict[str, Path]:
    wit = ROOT / "tests" / "kitchen" / "wit"
    return {
        "rust": build_guest("kitchen-rust", ROOT / "tests" / "kitchen" / "rust", "rust", wit, "kitchen"),
        "python": build_guest("kitchen-python", ROOT / "tests" / "kitchen" / "python", "python", wit, "kitchen"),
        "js": build_guest("kitchen-js", ROOT / "tests" / "kitchen" / "js", "js", wit, "kitchen"),
    }


@pytest.fixture(scope="session")
def probe_wasm() -> dict[str, Path]:
    wit = ROOT / "wit"
    return {
        "rust": build_guest("probe-rust", ROOT / "tests" / "guests" / "probe-rust", "rust", wit, "function"),
        "python": build_guest("probe-python", ROOT / "tests" / "guests" / "probe-python", "python", wit, "function"),
    }


@pytest.fixture(scope="session")
def hostile_wasm() -> Path:
    """A Rust guest that answers `/respond` with exactly the status, headers and body the query names."""
    return build_guest("hostile-rust", ROOT / "tests" / "guests" / "hostile-rust", "rust", ROOT / "wit", "function")


@pytest.fixture(scope="session")
def wat_wasm() -> dict[str, Path]:
    """Hostile hand-written components: `bombs` (table, memory, spin), `memories` (twenty memories)
    and `sleeper` (blocks 20 s inside WASI, out of the epoch deadline's reach)."""
    return {name: build_wat(name) for name in ("bombs", "memories", "sleeper")}


@pytest.fixture(scope="session")
def hello_wasm() -> dict[str, Path]:
    wit = ROOT / "wit"
    return {
        "rust": build_guest("hello-rust", ROOT / "guest-rust" / "examples" / "hello", "rust", wit, "function"),
        "python": build_guest("hello-python", ROOT / "guest-python" / "examples" / "hello", "python", wit, "function"),
        "js": build_guest("hello-js", ROOT / "guest-js" / "examples" / "hello", "js", wit, "function"),
    }


@pytest.fixture(scope="session")
def orders_wasm() -> dict[str, Path]:
    wit = ROOT / "wit"
    return {
        "rust": build_guest("orders-rust", ROOT / "guest-rust" / "examples" / "orders", "rust", wit, "function"),
        "python": build_guest("orders-python", ROOT / "guest-python" / "examples" / "orders", "python", wit,
                              "function"),
        "js": build_guest("orders-js", ROOT / "guest-js" / "examples" / "orders", "js", wit, "function"),
    }


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with Engine(cache_dir=tmp_path_factory.mktemp("compile-cache")) as eng:
        yield eng


@pytest.fixture(scope="session")
def runtime(engine: Engine) -> Runtime:
    return Runtime(engine)


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real upstream HTTP server (`support/upstream.py`) on a free loopback port."""
    port = free_port()
    log = tmp_path_factory.mktemp("upstream") / "log"
    args = ["-m", "uvicorn", "upstream:app", "--port", str(port), "--log-level", "warning"]
    with running(args, f"http://127.0.0.1:{port}/_wasmlet/health", log, cwd=ROOT / "tests" / "support",
                 command=[sys.executable]):
        yield port


def reachable(name: str, url: str, probe: Callable[[str], object]) -> str:
    """`url` when the service answers `probe`; otherwise skipped (failed in CI) with the reason."""
    try:
        probe(url)
    except Exception as exc:
        unavailable(f"{name} at {url} is not reachable ({exc})")
    return url


@pytest.fixture(scope="session")
def pg_url() -> str:
    import psycopg

    return reachable("PostgreSQL", PG_URL, lambda url: psycopg.connect(url, connect_timeout=3).close())


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    """A database for one test."""
    with new_pg_database(pg_url) as url:
        yield url


@pytest.fixture(scope="module")
def pg_module_database(pg_url: str) -> Iterator[str]:
    """A database the tests of one module share."""
    with new_pg_database(pg_url) as url:
        yield url


@pytest.fixture(scope="session")
def maria_url() -> str:
    from wasmlet.capabilities.sql import MysqlSql

    return reachable("MariaDB", MARIA_URL, lambda url: MysqlSql(url, allow_superuser=True).query("SELECT 1", []))


NATS_URL = os.environ.get("WASMLET_TEST_NATS", "nats://127.0.0.1:4222")


def _probe_nats(url: str) -> None:
    """Connects and asks JetStream for the account (fails when JetStream is off)."""
    import asyncio

    import nats

    async def check() -> None:
        nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=0, allow_reconnect=False)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()

    asyncio.run(check())


@pytest.fixture(scope="session")
def nats_url() -> str:
    return reachable("NATS JetStream", NATS_URL, _probe_nats)


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    return reachable("Redis", REDIS_URL, lambda url: redis.Redis.from_url(url, socket_connect_timeout=3).ping())
