"""`wasmlet new rust|python|ts|js NAME`: a function that builds, serves and has passing unit and integration tests."""

from __future__ import annotations

from pathlib import Path

from .build import rust_sdk_version
from .names import check_function_name

_RUST_CARGO = """[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

# wasmlet build/test/dev point wasmlet-guest at the SDK the installed wasmlet ships
# (`cargo --config patch.crates-io.wasmlet-guest.path=...`), so no path is written here.
[dependencies]
wasmlet-guest = "{sdk_version}"
serde = {{ version = "1", features = ["derive"] }}

[build-dependencies]
wasmlet-guest = "{sdk_version}"

[profile.release]
opt-level = "s"
strip = true
codegen-units = 1
lto = true
panic = "abort"
"""

_RUST_LIB = """//! {name}: a wasmlet function.

use serde::{{Deserialize, Serialize}};
use wasmlet_guest::{{Json, Path, Router, StaticDir}};

static STATIC: StaticDir = wasmlet_guest::include_static!();

#[derive(Serialize, Deserialize)]
struct Greeting {{
    name: String,
}}

fn hello(Path(name): Path<String>) -> String {{
    format!("Hello, {{}}!", name)
}}

fn greet(Json(g): Json<Greeting>) -> Json<Greeting> {{
    Json(g)
}}

pub fn app() -> Router {{
    Router::new()
        .get("/hello/:name", hello)
        .post("/greet", greet)
        .static_files("/", STATIC)
}}

wasmlet_guest::export!(app);

#[cfg(test)]
mod tests {{
    use super::*;
    use wasmlet_guest::Request;

    #[test]
    fn says_hello() {{
        assert_eq!(app().handle(Request::new("GET", "/hello/world")).body_text(), "Hello, world!");
    }}

    #[test]
    fn serves_the_index_page() {{
        let resp = app().handle(Request::new("GET", "/"));
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("text/html; charset=utf-8"));
    }}

    #[test]
    fn malformed_json_is_a_400() {{
        assert_eq!(app().handle(Request::new("POST", "/greet").with_body("{{")).status, 400);
    }}
}}
"""

_PY_APP = '''"""{name}: a wasmlet function."""

from dataclasses import dataclass

from wasmlet_guest import App, Json

app = App()
app.static("/", "static/")


@dataclass
class Greeting:
    name: str


@app.get("/hello/{{name}}")
def hello(name: str) -> str:
    return f"Hello, {{name}}!"


@app.post("/greet")
def greet(greeting: Json[Greeting]) -> Greeting:
    return greeting


WitWorld = app.export()
'''

_PY_TEST = '''"""{name}'s tests: the app runs under plain CPython."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import app  # noqa: E402
from wasmlet_guest import Request  # noqa: E402


def test_says_hello() -> None:
    assert app.handle(Request("GET", "/hello/world")).body == b"Hello, world!"


def test_serves_the_index_page() -> None:
    resp = app.handle(Request("GET", "/"))
    assert resp.status == 200 and resp.header("content-type") == "text/html; charset=utf-8"


def test_malformed_json_is_a_400() -> None:
    assert app.handle(Request("POST", "/greet", body=b"{{")).status == 400
'''

_INTEGRATION_TEST = '''"""{name}'s integration tests: the built component served in process by wasmlet.testing
(same runtime, limits and manifest checks as `wasmlet serve`). `wasmlet test` runs them after the
unit tests; the first run builds the component, later runs reuse it until a source file changes."""

from pathlib import Path

from wasmlet.testing.pytest_plugin import FunctionFactory

FUNCTION = Path(__file__).resolve().parent.parent
"""This function's source folder (the harness builds it; its manifest is function.toml, if any)."""


def test_says_hello(wasmlet_function: FunctionFactory) -> None:
    fn = wasmlet_function(FUNCTION)
    resp = fn.client.get("/hello/world")
    assert resp.status_code == 200 and resp.text == "Hello, world!"


def test_greet_echoes_json(wasmlet_function: FunctionFactory) -> None:
    fn = wasmlet_function(FUNCTION)
    assert fn.client.post("/greet", json={{"name": "Ada"}}).json() == {{"name": "Ada"}}
    assert fn.client.post("/greet", content=b"{{").status_code == 400


def test_serves_the_index_page(wasmlet_function: FunctionFactory) -> None:
    fn = wasmlet_function(FUNCTION)
    resp = fn.client.get("/")
    assert resp.status_code == 200 and "<h1>{name}</h1>" in resp.text
    assert not [line for line in fn.logs if line.level == "error"]
'''

_JS_PACKAGE = """{{
  "name": "{name}",
  "private": true,
  "type": "module",
  "main": "src/app.{ext}"
}}
"""

_TS_APP = """// {name}: a wasmlet function.

import {{ App }} from "wasmlet-guest";

interface Greeting {{
  name: string;
}}

/** A greeting from parsed JSON, or an error saying what is wrong (the router answers 400). */
function greeting(value: unknown): Greeting {{
  const v = value as {{ name?: unknown }} | null;
  if (typeof v !== "object" || v === null || typeof v.name !== "string") throw new Error('expected {{"name": string}}');
  return {{ name: v.name }};
}}

const app = new App();
app.static("/", "static/");

app.get("/hello/:name", (req) => `Hello, ${{req.params.name}}!`);

app.post("/greet", (req) => req.json(greeting));

export default app;
"""

_JS_APP = """// {name}: a wasmlet function.

import {{ App }} from "wasmlet-guest";

const app = new App();
app.static("/", "static/");

app.get("/hello/:name", (req) => `Hello, ${{req.params.name}}!`);

app.post("/greet", (req) =>
  req.json((v) => {{
    if (typeof v?.name !== "string") throw new Error('expected {{"name": string}}');
    return {{ name: v.name }};
  }}),
);

export default app;
"""

_JS_TEST = """// {name}'s unit tests: the app runs under plain Node (`wasmlet test` bundles and runs them).

import assert from "node:assert/strict";
import {{ test }} from "node:test";
import {{ Request }} from "wasmlet-guest";
import app from "../src/app.{ext}";

test("says hello", () => {{
  assert.equal(app.handle(new Request({{ path: "/hello/world" }})).text(), "Hello, world!");
}});

test("serves the index page", () => {{
  const resp = app.handle(new Request({{ path: "/" }}));
  assert.equal(resp.status, 200);
  assert.equal(resp.header("content-type"), "text/html; charset=utf-8");
}});

test("malformed JSON is a 400", () => {{
  assert.equal(app.handle(new Request({{ method: "POST", path: "/greet", body: "{{" }})).status, 400);
}});
"""

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title></head>
<body><h1>{name}</h1><p>Served by wasmlet. Try <a href="./hello/world">./hello/world</a>.</p></body></html>
"""


LANGUAGES = ("rust", "python", "ts", "js")
"""What `wasmlet new` scaffolds: Rust, Python, TypeScript or JavaScript."""


def scaffold(language: str, name: str, parent: Path) -> Path:
    """Writes a new function folder and returns it."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    check_function_name(name)
    root = parent / name
    if root.exists():
        raise ValueError(f"{root} already exists")
    (root / "static").mkdir(parents=True)
    (root / "static" / "index.html").write_text(_INDEX.format(name=name))
    if language == "rust":
        (root / "src").mkdir()
        (root / "Cargo.toml").write_text(_RUST_CARGO.format(name=name, sdk_version=rust_sdk_version()))
        (root / "build.rs").write_text('fn main() {\n    wasmlet_guest::build::embed_dir("static");\n}\n')
        (root / "src" / "lib.rs").write_text(_RUST_LIB.format(name=name))
        (root / ".gitignore").write_text("target/\n*.wasm\nCargo.lock\n.wasmlet/\n__pycache__/\n")
    elif language in ("js", "ts"):
        ext = language
        (root / "src").mkdir()
        (root / "test").mkdir()
        (root / "package.json").write_text(_JS_PACKAGE.format(name=name, ext=ext))
        (root / "src" / f"app.{ext}").write_text((_TS_APP if ext == "ts" else _JS_APP).format(name=name))
        (root / "test" / f"app.test.{ext}").write_text(_JS_TEST.format(name=name, ext=ext))
        (root / ".gitignore").write_text("node_modules/\n*.wasm\n.wasmlet/\n__pycache__/\n")
    else:
        (root / "tests").mkdir()
        (root / "app.py").write_text(_PY_APP.format(name=name))
        (root / "tests" / "test_app.py").write_text(_PY_TEST.format(name=name))
        (root / ".gitignore").write_text("__pycache__/\n*.wasm\n.wasmlet/\n")
    (root / "integration").mkdir()  # not tests/: cargo and the unit pytest run leave it to `wasmlet test`'s second phase
    (root / "integration" / "test_integration.py").write_text(_INTEGRATION_TEST.format(name=name))
    return root
