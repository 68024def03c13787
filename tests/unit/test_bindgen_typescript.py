"""`wasmlet bindgen --typescript`: TypeScript declarations for a guest built with componentize-js.

The committed .d.ts files match the WIT; they type-check (tsc, strict) with code that builds every
kind of value, calls imported functions and implements `Exports`; and every type and imported
function in them is assignable both ways with what jco itself declares for the same world."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from guests import unavailable

from wasmlet_bindgen import load_dir
from wasmlet_bindgen._typescript import generate_typescript
from wasmlet_bindgen.cli import main, render, targets_from

ROOT = Path(__file__).resolve().parents[2]
FAAS_DTS = ROOT / "guest-js" / "src" / "faas.d.ts"
KITCHEN_DTS = ROOT / "tests" / "kitchen" / "js" / "kitchen.d.ts"
NODE_BINS = [ROOT / "guest-js" / "node_modules" / ".bin", Path("/tmp/jsx/node_modules/.bin")]
TSC_FLAGS = ["--strict", "--exactOptionalPropertyTypes", "--noUncheckedIndexedAccess", "--noEmit", "--target", "es2022",
             "--module", "nodenext", "--moduleResolution", "nodenext", "--lib", "es2022", "--types", ""]

EDGE = """\
package example:edge@0.3.0;

/// Odd names and nested optionals.
interface things {
  type byte = u8;
  type maybe-text = option<string>;
  type outcome = result<u32, string>;
  record holder {
    bytes: list<byte>,
    floats: list<f32>,
    bools: list<bool>,
    triple: option<option<option<u8>>>,
    aliased: maybe-text,
    opt-of-alias: option<maybe-text>,
    results: list<result<u8>>,
    class: string,
    get-HTTP-url: string,
  }
  variant choice { default(option<string>), %new, nested(option<option<u8>>), HTTP-ish }
  enum mode { read-only, %default }
  flags access { read-it, HTTP-two }
  delete: func(class: string, new: u8) -> result<option<string>, choice>;
  lookup: func(key: option<u8>, deep: option<option<u8>>) -> option<option<u8>>;
  nested: func() -> result<result<u8, string>, string>;
  checked: func() -> outcome;
  unit: func() -> result;
}

interface plugin {
  use things.{holder, access};
  record config { verbose: bool, access: access }
  run: func(h: holder, c: config) -> result<string, string>;
}

world edge {
  import things;
  export plugin;
  use things.{mode};
  record settings { mode: mode, levels: list<u16> }
  export start: func(s: settings) -> result<_, string>;
}
"""

KITCHEN_USE = """\
import type { Color, Everything, Perms, Point, Shape } from "wasmlet:kitchen/shapes@0.1.0";
import type * as HostFuncs from "wasmlet:kitchen/host-funcs@0.1.0";
import type { Everything as HostEverything } from "wasmlet:kitchen/host-funcs@0.1.0";
import type { Exports } from "wasmlet:kitchen/kitchen@0.1.0";
import type { Exports as MinimalExports } from "wasmlet:kitchen/minimal@0.1.0";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;

const where: Point = { x: 1, y: -2 };
const shapes: Shape[] = [
  { tag: "circle", val: 1.5 },
  { tag: "rect", val: [where, { x: 3, y: 4 }] },
  { tag: "labelled", val: "a label" },
  { tag: "empty" },
];
const colour: Color = "green";
const perms: Perms = { read: true, exec: false };
export const everything: Everything = {
  flag: true, aU8: 255, aU16: 65535, aU32: 1, aU64: 2n ** 64n - 1n, aS8: -128, aS16: -1, aS32: -1, aS64: -(2n ** 63n),
  aF32: 1.5, aF64: 2.5, ch: "x", text: "text", data: new Uint8Array([1, 2, 3]), numbers: new Int32Array([-1, 2]),
  ids: new BigUint64Array([1n]), pair: [1, "two", 3.5], maybe: "some",
  nested: { tag: "some", val: undefined }, outcome: { tag: "err", val: "bad" }, unitOk: { tag: "ok", val: undefined },
  unitErr: { tag: "ok", val: "fine" }, bare: { tag: "err", val: undefined }, colour, perms, shapes, where,
};
export const sparse: HostEverything = { ...everything, maybe: undefined, nested: { tag: "none" } };
const { maybe, ...noMaybe } = everything;
export const withoutMaybe: Everything = noMaybe;
// @ts-expect-error a u64 is a bigint
export const badU64: Everything = { ...everything, aU64: 1 };
// @ts-expect-error no such case
export const badShape: Shape = { tag: "square", val: 1 };
// @ts-expect-error a case without a type has no `val`
export const badEmpty: Shape = { tag: "empty", val: 1 };
// @ts-expect-error no such enum case
export const badColour: Color = "purple";

export const echoType: Equal<typeof HostFuncs.echo, (e: Everything) => Everything> = true;
export const sumType: Equal<ReturnType<typeof HostFuncs.sumMany>, bigint> = true;
export const failType: Equal<typeof HostFuncs.maybeFail, (fail: boolean) => void> = true;
export function callHost(host: typeof HostFuncs): number {
  host.ping();
  const echoed: Everything = host.echo(everything);
  return host.add(echoed.aU32, 2) + host.half(0.5) + Number(host.sumMany(1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n,
    11n, 12n, 13n, 14n, 15n, 16n, 17n));
}

export const guest: Exports = {
  roundtrip: {
    echo: (e) => e,
    echoShapes: (s) => s,
    viaHost: (e) => ({ ...e, shapes: e.shapes.filter((s) => s.tag !== "empty") }),
    hostChecks: () => ["ok"],
    sumMany: (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q) => a + b + c + d + e + f + g + h + i + j + k + l + m
      + n + o + p + q,
    echoBytes: (b) => b.slice(),
  },
  double: (x) => x * 2,
};
export const minimal: MinimalExports = { double: (x) => x * 2 };
"""

CONTRACT = re.search(r"package wasmlet:faas@([\d.]+);", (ROOT / "wit" / "faas.wit").read_text())[1]  # type: ignore[index]
"""The contract version the generated faas.d.ts declares."""

FAAS_USE = """\
import type { Body, Event, Request, Response } from "wasmlet:faas/types@{CONTRACT}";
import type * as Config from "wasmlet:faas/config@{CONTRACT}";
import type * as Kv from "wasmlet:faas/kv@{CONTRACT}";
import type * as Log from "wasmlet:faas/log@{CONTRACT}";
import type * as Modules from "wasmlet:faas/modules@{CONTRACT}";
import type * as Outbound from "wasmlet:faas/outbound-http@{CONTRACT}";
import type * as Sql from "wasmlet:faas/sql@{CONTRACT}";
import type { Exports, Event as WorldEvent } from "wasmlet:faas/function@{CONTRACT}";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;

export const bodies: Body[] = [
  { tag: "text", val: "hi" }, { tag: "bytes", val: new Uint8Array([104, 105]) }, { tag: "octets", val: "\\u00ff" },
];
export const values: Sql.Value[] = [
  { tag: "null" }, { tag: "integer", val: 1n }, { tag: "real", val: 1.5 }, { tag: "text", val: "t" },
  { tag: "blob", val: "\\u0000" },
];
export const kvError: Kv.Error = { tag: "backend", val: "down" };
export const callError: Modules.Error = { tag: "not-found", val: "nope" };
export const level: Log.Level = "warn";
export const sameEvent: Equal<Event, WorldEvent> = true;
export const getType: Equal<typeof Kv.get, (store: string, key: string) => Body | undefined> = true;
export const deleteType: Equal<typeof Kv.delete, (store: string, key: string) => void> = true;
export const configType: Equal<ReturnType<typeof Config.get>, string | undefined> = true;
export const executeType: Equal<ReturnType<typeof Sql.execute>, bigint> = true;

export function useHost(kv: typeof Kv, sql: typeof Sql, http: typeof Outbound, log: typeof Log["log"]): number {
  kv.set("default", "k", bodies[0]!);
  kv.delete("default", "k");
  log("info", kv.keys("default", "").join(","));
  const rows: Sql.Rows = sql.query("pg", "select ?", values);
  const resp: Response = http.send({ method: "GET", url: "https://example.com/", headers: [], body: bodies[0]! });
  return rows.columns.length + resp.status;
}

function handle(event: Event): Response {
  if (event.tag === "message" || event.tag === "schedule") {
    return { status: 200, headers: [], body: { tag: "text", val: event.tag } };
  }
  const request: Request = event.tag === "http" ? event.val : event.val.request;
  return { status: 200, headers: [["content-type", "text/plain"]], body: { tag: "text", val: request.path } };
}
export const guest: Exports = { handle };
""".replace("{CONTRACT}", CONTRACT)

SHADOW = """\
package example:shadow;

interface arrays {
  type array = list<string>;
  variant uint8 { array(list<u8>), none }
  record holder { names: array, all: list<array>, raw: uint8, bytes: list<u8> }
  get: func() -> holder;
}

world shadow {
  import arrays;
  use arrays.{holder, array};
  export put: func(h: holder) -> list<array>;
}
"""

SHADOW_USE = """\
import type { Array as Names, Holder, Uint8 } from "example:shadow/arrays";
import type { Exports } from "example:shadow/shadow";

const raw: Uint8 = { tag: "array", val: new Uint8Array([1]) };
export const holder: Holder = { names: ["a"], all: [["b"]], raw, bytes: new Uint8Array(2) };
export const names: Names = holder.names;
export const guest: Exports = { put: (h) => h.all };
"""


def node_tool(name: str) -> Path | None:
    """A Node tool from guest-js's node_modules, then /tmp/jsx's, then PATH."""
    for folder in NODE_BINS:
        if (folder / name).exists():
            return folder / name
    found = shutil.which(name)
    return Path(found) if found else None


@pytest.fixture(scope="module")
def tsc() -> Path:
    found = node_tool("tsc")
    if found is None:
        unavailable("no TypeScript compiler (tsc): npm install in guest-js/, or put tsc on PATH")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def jco() -> Path:
    found = node_tool("jco")
    if found is None or shutil.which("node") is None:
        unavailable("no jco (and node) to compare with: npm install in guest-js/, or put jco on PATH")
    assert found is not None
    return found


def type_check(tsc: Path, *files: Path) -> None:
    """tsc --strict over `files`; fails with tsc's messages."""
    proc = subprocess.run([str(tsc), *TSC_FLAGS, *map(str, files)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def using(path: Path, declarations: list[Path], body: str) -> Path:
    """A TypeScript module that references `declarations` and holds `body`."""
    path.write_text("".join(f'/// <reference path="{d}" />\n' for d in declarations) + body)
    return path


def write_package(tmp_path: Path, text: str) -> Path:
    wit = tmp_path / "wit"
    wit.mkdir()
    (wit / "a.wit").write_text(text)
    return wit


# ------------------------------------------------------------------------------ generated files

def test_committed_declarations_match_the_wit() -> None:
    targets = {ROOT / t.typescript: t for t in targets_from(ROOT) if t.typescript}
    assert set(targets) == {FAAS_DTS, KITCHEN_DTS}
    for path, target in targets.items():
        assert render(ROOT, target)[path] == path.read_text(), f"{path} is stale: run `wasmlet bindgen`"


def test_typescript_option_writes_checks_and_names_its_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wit = write_package(tmp_path, EDGE)
    out = tmp_path / "js" / "edge.d.ts"
    assert main([str(wit), "--typescript", str(out), "--check"]) == 1 and not out.exists()
    assert main([str(wit), "--typescript", str(out)]) == 0
    assert main([str(wit), "--typescript", str(out), "--check"]) == 0
    text = out.read_text()
    assert text.startswith("// TypeScript declarations for `example:edge@0.3.0`, generated by wasmlet bindgen from ../wit/.\n"
                           "// Do not edit: change the WIT and run `wasmlet bindgen ../wit --world edge --typescript edge.d.ts`.")
    assert text == generate_typescript(load_dir(wit, world="edge"), "../wit/",
                                       "wasmlet bindgen ../wit --world edge --typescript edge.d.ts")
    (wit / "a.wit").write_text(EDGE.replace("verbose: bool,", "verbose: bool, retries: u64,"))
    capsys.readouterr()
    assert main([str(wit), "--typescript", str(out), "--check"]) == 1
    assert "+    retries: bigint;" in capsys.readouterr().out


def test_the_edge_cases_come_out_as_jco_shapes(tmp_path: Path) -> None:
    text = generate_typescript(load_dir(write_package(tmp_path, EDGE), world="edge"), "wit/")
    for line in [
        "bytes: Uint8Array;", "floats: Float32Array;", "bools: Array<boolean>;",
        'triple?: { tag: "none" } | { tag: "some"; val: number | undefined } | undefined;',
        "aliased?: MaybeText;", 'optOfAlias: { tag: "none" } | { tag: "some"; val: MaybeText };',
        'results: Array<{ tag: "ok"; val: number } | { tag: "err"; val: void }>;',
        "class: string;", "getHttpUrl: string;", 'tag: "HTTP-ish";', "export interface ChoiceHttpIsh {",
        'export type Mode = "read-only" | "default";', "readIt?: boolean;", "httpTwo?: boolean;",
        "export { _delete as delete };", "function _delete(class_: string, new_: number): string | undefined;",
        'export function lookup(key: number | undefined, deep: { tag: "none" } | { tag: "some"; val: number | undefined }):',
        'export function nested(): { tag: "ok"; val: number } | { tag: "err"; val: string };',
        "export function checked(): number;", "export function unit(): void;",
        'import type { Mode, Holder } from "example:edge/things@0.3.0";', "export type { Mode };",
        "run(h: Holder, c: Config): string;", "start(s: Settings): void;",
    ]:
        assert line in text, line


# ------------------------------------------------------------------------------ tsc

def test_declarations_type_check_with_code_using_them(tsc: Path, tmp_path: Path) -> None:
    kitchen = using(tmp_path / "kitchen.mts", [KITCHEN_DTS], KITCHEN_USE)
    faas = using(tmp_path / "faas.mts", [FAAS_DTS], FAAS_USE)
    type_check(tsc, kitchen, faas)


def test_a_type_named_like_a_global_does_not_hide_it(tsc: Path, tmp_path: Path) -> None:
    out = tmp_path / "shadow.d.ts"
    assert main([str(write_package(tmp_path, SHADOW)), "--typescript", str(out)]) == 0
    assert "names: Array;" in out.read_text() and "all: globalThis.Array<Array>;" in out.read_text()
    type_check(tsc, using(tmp_path / "shadow.mts", [out], SHADOW_USE))


# ------------------------------------------------------------------------------ jco

PRELOAD = """\
// jco's newer preview2-shim opens no directory by default, so `jco guest-types` cannot read a WIT
// folder ("No such file or directory (os error 44)"); open "/" for it, as the older shim did.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
try {
  const transpile = createRequire(createRequire(JCO).resolve("@bytecodealliance/jco-transpile"));
  const fs = await import(pathToFileURL(transpile.resolve("@bytecodealliance/preview2-shim/filesystem")).href);
  if (typeof fs._getPreopens === "function" && fs._getPreopens().length === 0) fs._addPreopen("/", "/");
} catch {}
"""


def jco_guest_types(jco: Path, wit: Path, world: str, out: Path) -> list[Path]:
    """jco's own guest declarations for `world`, its module names prefixed with `jco/` so that they
    can sit beside ours in one program."""
    script = jco.resolve()
    preload = out.parent / f"{out.name}-preopen.mjs"
    preload.write_text(PRELOAD.replace("JCO", json.dumps(str(script))))
    proc = subprocess.run(["node", "--import", preload.as_uri(), str(script), "guest-types", str(wit), "--world-name", world,
                           "-o", str(out)], capture_output=True, text=True, timeout=300, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = sorted(out.rglob("*.d.ts"))
    for f in files:
        f.write_text(re.sub(r"'([a-z][a-z0-9-]*:[a-z])", r"'jco/\1", f.read_text()))
    return files


def mutual_checks(ours: str, jco_files: list[Path]) -> list[str]:
    """TypeScript asserting that each type (and each imported function) jco declares is assignable
    both ways with ours of the same module and name, and that our `Exports` is the world module's."""
    functions = {m[1] for m in re.finditer(r'declare module "([^"]+)" \{(?:(?!\n\}).)*?\n  export (?:function|\{)', ours, re.S)}
    lines = ["type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;"]
    for n, f in enumerate(jco_files):
        for module, body in re.findall(r"declare module '([^']+)' \{(.*?)\n\}", f.read_text(), re.S):
            ours_module = module.removeprefix("jco/")
            lines += [f'import type * as J{n} from "{module}";', f'import type * as O{n} from "{ours_module}";']
            for name in re.findall(r"export (?:interface|type) (\w+)", body):
                if name not in ("Option", "Result"):
                    lines.append(f"export const t{n}{name}: Mutual<O{n}.{name}, J{n}.{name}> = true;")
            if "export interface Exports" in ours.split(f'declare module "{ours_module}" {{', 1)[1].split("\n}", 1)[0]:
                lines.append(f"export const exports{n}: Mutual<O{n}.Exports, Pick<typeof J{n}, keyof O{n}.Exports>> = true;")
            elif ours_module in functions:
                for name in re.findall(r"export function (\w+)|export \{ _\w+ as (\w+) \}", body):
                    name = "".join(name)
                    lines.append(f"export const f{n}{name}: Mutual<typeof O{n}.{name}, typeof J{n}.{name}> = true;")
    return lines


@pytest.mark.parametrize("case", ["kitchen", "faas", "edge"])
def test_types_are_assignable_both_ways_with_jcos(jco: Path, tsc: Path, tmp_path: Path, case: str) -> None:
    if case == "kitchen":
        wit, world, ours = ROOT / "tests" / "kitchen" / "wit", "kitchen", KITCHEN_DTS
    elif case == "faas":
        wit, world, ours = ROOT / "wit", "function", FAAS_DTS
    else:
        wit, world, ours = write_package(tmp_path, EDGE), "edge", tmp_path / "edge.d.ts"
        ours.write_text(generate_typescript(load_dir(wit, world="edge"), "wit/"))
    jco_files = jco_guest_types(jco, wit, world, tmp_path / "jco")
    checks = mutual_checks(ours.read_text(), jco_files)
    if case == "kitchen":
        n = next(i for i, f in enumerate(jco_files) if f.name.endswith("shapes.d.ts"))
        for name in ("Everything", "Shape", "Color", "Perms"):
            assert f"export const t{n}{name}: Mutual<O{n}.{name}, J{n}.{name}> = true;" in checks
    assert sum("Mutual<O" in c for c in checks) >= 10
    check = using(tmp_path / "mutual.mts", [ours, *jco_files], "\n".join(checks) + "\n")
    proc = subprocess.run([str(tsc), *[f for f in TSC_FLAGS if f != "--exactOptionalPropertyTypes"], str(check)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr + "\n" + check.read_text()


# ------------------------------------------------------------------------------ refused

def test_a_resource_is_refused_at_its_declaration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wit = write_package(tmp_path, "package example:res;\ninterface store {\n  resource blob {\n"
                                  "    read: func(n: u32) -> list<u8>;\n  }\n  open: func() -> blob;\n}\n"
                                  "world w { import store; export run: func(); }\n")
    out = tmp_path / "g.d.ts"
    assert main([str(wit), "--typescript", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wasmlet bindgen: {wit}/a.wit:3:12: resource `blob`: resources are not supported")
    assert "(world `w` needs it through its import of example:res/store)" in err
    assert not out.exists()


def test_two_names_that_collide_in_typescript_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wit = write_package(tmp_path, "package example:clash;\ninterface shapes {\n  variant shape { circle(f64), dot }\n"
                                  "  record shape-circle { r: f64 }\n  area: func(s: shape, c: shape-circle) -> f64;\n}\n"
                                  "world w { import shapes; }\n")
    assert main([str(wit), "--typescript", str(tmp_path / "g.d.ts")]) == 2
    assert ("interface example:clash/shapes: `shape.circle` and `shape-circle` both become `ShapeCircle` in TypeScript"
            in capsys.readouterr().err)
