"""The reference docs (docs/*.md) do not drift from the code: every limit, config key, default,
backend, admin route and SDK name they must describe is there, as the code has it."""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Any

import pytest

from wasmlet.admin import admin_app
from wasmlet.capabilities.backends import KV_TYPES, SQL_TYPES
from wasmlet.config import AdminConfig, Config, RegistryConfig, ServerConfig, TelemetryConfig
from wasmlet.manifest import _LIMIT_RANGES, LEGACY_MANIFEST_FILE, MANIFEST_FILE, Grants, Limits, Manifest
from wasmlet.registry import SqliteRegistry

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = ["manifest.md", "config.md", "admin-api.md", "sdk-python.md", "sdk-rust.md", "sdk-js.md",
             "troubleshooting.md"]


def read(name: str) -> str:
    return (DOCS / name).read_text()


def section(text: str, heading: str) -> str:
    """The body under the `## ...` heading that contains `heading`, up to the next `## `."""
    parts = re.split(r"^## ", text, flags=re.M)
    found = [p for p in parts[1:] if heading in p.splitlines()[0]]
    assert len(found) == 1, f"one `## ...{heading}...` section expected, found {len(found)}"
    return found[0]


def rows(text: str) -> dict[str, list[str]]:
    """Table rows whose first cell is one `key` in backticks: key -> the other cells."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"^\| `([A-Za-z_][A-Za-z0-9_]*)` \|(.*)\|\s*$", line)
        if m:
            out.setdefault(m.group(1), [c.strip() for c in m.group(2).split("|")])
    return out


def default(f: Field[Any]) -> Any:
    return f.default_factory() if f.default is MISSING and f.default_factory is not MISSING else f.default


def toml_literal(value: Any) -> str:
    """A default as it is written in a TOML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))
    raise TypeError(f"no TOML literal for {value!r}")


# ------------------------------------------------------------------ manifest.md


def test_every_limit_is_documented_with_its_default_and_range() -> None:
    limits = rows(section(read("manifest.md"), "`[limits]`"))
    names = [f.name for f in fields(Manifest) if f.name not in ("grants", "triggers")]
    assert {f.name for f in fields(Limits)} <= set(names)
    assert set(limits) == set(names), "documented limits that the code does not have, or the reverse"
    for f in fields(Manifest):
        if f.name in ("grants", "triggers"):
            continue
        doc_default, _unit, doc_range = limits[f.name][:3]
        assert doc_default == str(f.default), f"limits.{f.name}: docs say {doc_default}, code {f.default}"
        lo, hi = _LIMIT_RANGES[f.name]
        assert doc_range == f"{lo}..{hi}", f"limits.{f.name}: docs say {doc_range}, code {lo}..{hi}"


def test_every_grant_section_and_key_is_documented() -> None:
    text = read("manifest.md")
    for name, keys in Grants(env=("X",)).to_dict().items():
        documented = rows(section(text, f"`[{name}]`"))
        for key in keys:
            assert key in documented, f"[{name}] {key} is not in docs/manifest.md"
    assert MANIFEST_FILE in text and LEGACY_MANIFEST_FILE in text


# -------------------------------------------------------------------- config.md


@pytest.mark.parametrize(("heading", "cls"), [("`[server]`", ServerConfig), ("`[admin]`", AdminConfig),
                                              ("`[telemetry]`", TelemetryConfig), ("`[registry]`", RegistryConfig)])
def test_every_config_key_is_documented_with_its_default(heading: str, cls: type) -> None:
    documented = rows(section(read("config.md"), heading))
    code = {f.name: f for f in fields(cls)}
    assert set(documented) == set(code), f"{heading}: docs {sorted(documented)}, code {sorted(code)}"
    for name, f in code.items():
        cell = documented[name][0].strip("`")
        assert cell == toml_literal(f.default), f"{heading} {name}: docs say {cell}, code {toml_literal(f.default)}"


def test_every_top_level_config_key_is_documented() -> None:
    text = read("config.md")
    top = rows(section(text, "Top-level keys"))
    for f in fields(Config):
        value = default(f)
        if isinstance(value, (ServerConfig, AdminConfig, TelemetryConfig, RegistryConfig)):
            section(text, f"`[{f.name}]`")
        elif isinstance(value, dict):
            section(text, f"`[{f.name}.<label>]`")
        elif value is None:
            assert "unset" in top[f.name][0], f"{f.name}: the docs must say it is unset by default"
        else:
            assert top[f.name][0].strip("`") == toml_literal(value), f.name


def test_every_backend_type_and_key_is_documented() -> None:
    backends = section(read("config.md"), "`[kv.<label>]`")
    for t in (*KV_TYPES, *SQL_TYPES):
        assert f"`{t}`" in backends, f"backend type {t!r} is not in docs/config.md"
    source = (ROOT / "host" / "capabilities" / "backends.py").read_text()
    keys = set(re.findall(r"""table(?:\.get\(|\[)["'](\w+)["']""", source))
    assert keys >= {"type", "url", "path", "allow_superuser"}
    documented = set(rows(backends)) | set(rows(section(read("config.md"), "`[messaging.<label>]`")))
    assert keys <= documented, f"backend keys missing from docs/config.md: {keys - documented}"


def test_every_environment_variable_the_host_reads_is_documented() -> None:
    text = read("config.md")
    telemetry = (ROOT / "host" / "telemetry.py").read_text()
    names = set(re.findall(r"OTEL_[A-Z_]+", telemetry)) | {"WASMLET_ADMIN_TOKEN", "WASMLET_ADMIN_URL",
                                                                 "WASMLET_REGISTRY_URL"}
    for name in sorted(names):
        assert name in text, f"{name} is not in docs/config.md"


# ----------------------------------------------------------------- admin-api.md


def test_every_admin_route_is_documented(tmp_path: Path) -> None:
    registry = SqliteRegistry(tmp_path)
    try:
        app = admin_app(registry, None, "token")  # type: ignore[arg-type]  # listing routes runs nothing
        mounted = {f"{m} {r.path}" for r in app.routes for m in r.methods or () if m != "HEAD"}
    finally:
        registry.close()
    text = read("admin-api.md")
    routes = section(text, "Routes")
    documented = set(re.findall(r"^\| `((?:GET|POST|PUT|DELETE|PATCH) /[^`]*)` \|", routes, flags=re.M))
    assert documented == mounted
    for route in mounted:
        assert f"### `{route}`" in text, f"{route} has no section in docs/admin-api.md"


# ------------------------------------------------------------------------- SDKs


def test_every_public_python_sdk_name_is_documented() -> None:
    import wasmlet_guest

    text = read("sdk-python.md")
    for name in wasmlet_guest.__all__:
        assert f"| `{name}` |" in text, f"wasmlet_guest.{name} is not in docs/sdk-python.md's table"


def test_every_public_rust_sdk_name_is_documented() -> None:
    lib = (ROOT / "guest-rust" / "src" / "lib.rs").read_text()
    names = set()
    for group in re.findall(r"^pub use (?:\w+::)?\{?([^;]*?)\}?;", lib, flags=re.M):
        names |= {n.strip() for n in group.split(",") if n.strip()}
    names |= set(re.findall(r"^pub trait (\w+)", lib, flags=re.M))
    names |= {f"{m}!" for m in re.findall(r"^macro_rules! (\w+)", lib, flags=re.M)}
    names |= set(re.findall(r"^pub mod (\w+);", lib, flags=re.M)) - {"extract", "host", "http", "router"}
    assert {"Router", "Json", "HostError", "export!", "include_static!", "serde_json"} <= names
    text = read("sdk-rust.md")
    for name in sorted(names):
        assert re.search(rf"`{re.escape(name)}[`(:<]", text), f"wasmlet_guest::{name} is not in docs/sdk-rust.md"


# -------------------------------------------------------------------- all of them


def test_every_public_js_sdk_name_is_documented() -> None:
    index = (ROOT / "guest-js" / "src" / "index.ts").read_text()
    names = {n.strip().removeprefix("type ") for group in re.findall(r"export (?:type )?\{([^}]*)\}", index)
             for n in group.split(",") if n.strip()}
    assert {"App", "Request", "HostError", "sql"} <= names
    text = read("sdk-js.md")
    for name in sorted(names):
        assert f"`{name}`" in text, f"wasmlet-guest's {name} is not in docs/sdk-js.md"


def test_install_hints_are_quoted_as_the_build_prints_them() -> None:
    from wasmlet.build import INSTALL_PY, INSTALL_RUST

    text = read("troubleshooting.md")
    assert INSTALL_RUST in text and INSTALL_PY in text


@pytest.mark.parametrize("name", REFERENCE)
def test_relative_links_resolve(name: str) -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", read(name)):
        assert (DOCS / target).exists(), f"{name} links to {target}, which does not exist"
