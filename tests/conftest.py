"""Shared fixtures: guests built from source (cached by content hash), engines, runtimes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmlet import Engine, Runtime
from wasmlet.build import BuildError, build_python, build_rust

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / ".wasmlet" / "test-build"
CARGO_TARGET = ROOT / ".wasmlet" / "cargo-target"
REQUIRE = os.environ.get("WASMLET_TEST_REQUIRE_ALL") == "1" or os.environ.get("CI") == "true"

sys.path.insert(0, str(ROOT / "tests" / "kitchen"))


def unavailable(reason: str) -> None:
    """Skips with a clear reason on a user's machine; fails in CI, where everything must be present."""
    if REQUIRE:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for base in paths:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()
                                                       and "target" not in p.parts and "__pycache__" not in p.parts)
        for p in files:
            h.update(str(p.relative_to(ROOT)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def build_guest(name: str, src: Path, language: str, wit: Path, world: str) -> Path:
    """Builds a guest once per source content; later runs reuse the component."""
    deps = [src, wit] + ([ROOT / "guest-rust" / "src", ROOT / "guest-rust" / "Cargo.toml"]
                         if language == "rust" else [ROOT / "guest-python" / "wasmlet_guest", ROOT / "host" / "build.py"])
    out = BUILD_DIR / f"{name}-{_digest(*deps)}.wasm"
    if out.exists():
        return out
    try:
        if language == "rust":
            build_rust(src, out, world=world, wit=wit, target_dir=CARGO_TARGET)
        else:
            build_python(src, out, world=world, wit=wit)
    except BuildError as exc:
        if "not found" in str(exc) or "no Rust toolchain" in str(exc):
            unavailable(str(exc))
        raise
    return out


@pytest.fixture(scope="session")
def kitchen_wasm() -> dict[str, Path]:
    wit = ROOT / "tests" / "kitchen" / "wit"
    return {
        "rust": build_guest("kitchen-rust", ROOT / "tests" / "kitchen" / "rust", "rust", wit, "kitchen"),
        "python": build_guest("kitchen-python", ROOT / "tests" / "kitchen" / "python", "python", wit, "kitchen"),
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
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with Engine(cache_dir=tmp_path_factory.mktemp("compile-cache")) as eng:
        yield eng


@pytest.fixture(scope="session")
def runtime(engine: Engine) -> Runtime:
    return Runtime(engine)


@pytest.fixture(scope="session")
def hello_wasm() -> dict[str, Path]:
    wit = ROOT / "wit"
    return {
        "rust": build_guest("hello-rust", ROOT / "guest-rust" / "examples" / "hello", "rust", wit, "function"),
        "python": build_guest("hello-python", ROOT / "guest-python" / "examples" / "hello", "python", wit, "function"),
    }


PG_URL = os.environ.get("WASMLET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MARIA_URL = os.environ.get("WASMLET_TEST_MARIADB", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("WASMLET_TEST_REDIS", "redis://127.0.0.1:6379/0")


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


@pytest.fixture(scope="session")
def maria_url() -> str:
    from wasmlet.capabilities.sql import MysqlSql

    return reachable("MariaDB", MARIA_URL, lambda url: MysqlSql(url, allow_superuser=True).query("SELECT 1", []))


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    return reachable("Redis", REDIS_URL, lambda url: redis.Redis.from_url(url, socket_connect_timeout=3).ping())


@pytest.fixture(scope="session")
def orders_wasm() -> dict[str, Path]:
    wit = ROOT / "wit"
    return {
        "rust": build_guest("orders-rust", ROOT / "guest-rust" / "examples" / "orders", "rust", wit, "function"),
        "python": build_guest("orders-python", ROOT / "guest-python" / "examples" / "orders", "python", wit,
                              "function"),
    }


def build_wat(name: str) -> Path:
    """A hand-written component from `tests/guests/wat/NAME.wat` (no SDK, no language runtime), for
    world `function`, or for its own world in `NAME-world.wit` (with the WASI parts in `wasi-wit/`)."""
    import shutil
    import tempfile

    from wasmlet.build import _tool

    wat = ROOT / "tests" / "guests" / "wat"
    src, own_world = wat / f"{name}.wat", wat / f"{name}-world.wit"
    out = BUILD_DIR / f"wat-{name}-{_digest(src, ROOT / 'wit', wat / 'wasi-wit')}.wasm"
    if not out.exists():
        wasm_tools = _tool("wasm-tools")
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        core, embedded = out.with_suffix(".core"), out.with_suffix(".embedded")
        subprocess.run([wasm_tools, "parse", str(src), "-o", str(core)], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            wit, world = ROOT / "wit", "function"
            if own_world.exists():  # its world includes ours and adds WASI imports
                wit, world = Path(tmp), "sleeper"
                shutil.copy(own_world, wit / "world.wit")
                (wit / "deps").mkdir()
                shutil.copytree(ROOT / "wit", wit / "deps" / "wasmlet-faas")
                for dep in (wat / "wasi-wit").glob("*.wit"):
                    (wit / "deps" / dep.stem).mkdir()
                    shutil.copy(dep, wit / "deps" / dep.stem / dep.name)
            subprocess.run([wasm_tools, "component", "embed", str(wit), "--world", world, str(core),
                            "-o", str(embedded)], check=True)
        subprocess.run([wasm_tools, "component", "new", str(embedded), "-o", str(out)], check=True)
        core.unlink()
        embedded.unlink()
    return out


@pytest.fixture(scope="session")
def wat_wasm() -> dict[str, Path]:
    """Hostile hand-written components: `bombs` (table, memory, spin), `memories` (twenty memories)
    and `sleeper` (blocks 20 s inside WASI, out of the epoch deadline's reach)."""
    return {name: build_wat(name) for name in ("bombs", "memories", "sleeper")}
