"""WIT -> TypeScript declarations (.d.ts) for a guest written in JavaScript or TypeScript and built
with componentize-js, which gives WIT values the JavaScript shapes of jco's bindings.

The file is one global script of ambient modules: one per interface the worlds import (and per
exported interface that declares types), named as components name them
(`namespace:package/interface@version`), and one per world holding `Exports`, what the guest's
entry module must export. Value shapes (jco's):

- `u64`/`s64` are `bigint`, the other numbers `number`, `char` a one-character string;
- a list of a numeric primitive is the matching typed array (`list<u8>` is a `Uint8Array`);
- `option<T>` is `T | undefined` (and an optional property in a record), except that an option
  of something that may itself be `undefined` is the tagged `{ tag: "none" } | { tag: "some"; val }`;
- a function returning `result<T, E>` returns `T` and throws for `err`; any other `result` is
  `{ tag: "ok"; val: T } | { tag: "err"; val: E }`, `val: void` for a case without a type;
- variants are unions of `{ tag: "case-name"; val: T }` interfaces, enums unions of their names,
  flags an interface of optional booleans.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ._model import Function, Interface, ListT, Named, OptionT, Package, Prim, ResultT, TupleT, Type, TypeDef, WitError, World
from ._names import is_use, use_target

_TS_PRIM = {
    "bool": "boolean", "u8": "number", "u16": "number", "u32": "number", "s8": "number", "s16": "number",
    "s32": "number", "f32": "number", "f64": "number", "u64": "bigint", "s64": "bigint",
    "char": "string", "string": "string",
}
_TYPED_ARRAYS = {
    "u8": "Uint8Array", "s8": "Int8Array", "u16": "Uint16Array", "s16": "Int16Array",
    "u32": "Uint32Array", "s32": "Int32Array", "u64": "BigUint64Array", "s64": "BigInt64Array",
    "f32": "Float32Array", "f64": "Float64Array",
}
_GLOBALS = frozenset({"Array", *_TYPED_ARRAYS.values()})
"""The global types the declarations name; a module declaring a type of the same name reaches
them as `globalThis.X`."""

_RESERVED = frozenset({
    "arguments", "await", "break", "case", "catch", "class", "const", "continue", "debugger", "default",
    "delete", "do", "else", "enum", "eval", "export", "extends", "false", "finally", "for", "function", "if",
    "implements", "import", "in", "instanceof", "interface", "let", "new", "null", "package", "private",
    "protected", "public", "return", "static", "super", "switch", "this", "throw", "true", "try", "typeof",
    "var", "void", "while", "with", "yield",
})
"""Words that cannot name a function or a parameter in (strict-mode) module code."""

_HEADER_NOTE = """\
// For a guest in JavaScript or TypeScript built with componentize-js (jco's value shapes): reference
// this file with a triple-slash `reference path` directive, import an interface's functions from its
// module name, and make the entry module's exports implement the world module's `Exports`. A function
// returning `result<T, E>` returns T, and its `err` is thrown."""


def ts_pascal(name: str) -> str:
    """`outgoing-request` -> `OutgoingRequest`, `get-HTTP-url` -> `GetHttpUrl` (as jco names types)."""
    return "".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def ts_camel(name: str) -> str:
    """`a-u8` -> `aU8`, `get-HTTP-url` -> `getHttpUrl` (as jco names functions and fields)."""
    pascal = ts_pascal(name)
    first = name.split("-")[0]
    return first.lower() + pascal[len(first):]


def param_name(name: str) -> str:
    """A parameter's identifier: camelCase, with `_` appended to a reserved word (`class_`)."""
    ident = ts_camel(name)
    return ident + "_" if ident in _RESERVED else ident


def jsdoc(lines: list[str], indent: str) -> list[str]:
    """`lines` as a JSDoc comment (none when there is nothing to say)."""
    text = [ln.replace("*/", "*\\/") for ln in lines]
    while text and not text[-1].strip():
        text.pop()
    if not text:
        return []
    if len(text) == 1:
        return [f"{indent}/** {text[0]} */"]
    return [f"{indent}/**"] + [f"{indent} * {ln}".rstrip() for ln in text] + [f"{indent} */"]


def unique(names: Iterable[tuple[str, str]], where: str) -> None:
    """Refuses two WIT names that become the same TypeScript name in one scope."""
    seen: dict[str, str] = {}
    for wit_name, ts_name in names:
        if ts_name in seen:
            raise WitError(f"{where}: `{seen[ts_name]}` and `{wit_name}` both become `{ts_name}` in TypeScript")
        seen[ts_name] = wit_name


@dataclass
class Scope:
    """The names one `declare module` block gives to the named types it mentions."""

    module: str
    names: dict[int, str] = field(default_factory=dict)
    imports: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """For a world's module: by module, the (exported name, local name) pairs it imports."""
    declared: set[str] = field(default_factory=set)
    """Every type name the module declares or imports (variant cases' interfaces too)."""

    def global_type(self, name: str) -> str:
        """A global type (`Array`, `Uint8Array`, ...), through `globalThis` if this module shadows it."""
        return f"globalThis.{name}" if name in self.declared or name in self.names.values() else name


class TypeScriptEmitter:
    """Emits one .d.ts file for the worlds of a WIT package."""

    def __init__(self, pkg: Package, source: str, how: str) -> None:
        self.pkg = pkg
        self.source = source
        self.how = how
        self.owner: dict[int, Interface] = {}
        for iface in self._interfaces():
            for idx in iface.types:
                self.owner[idx] = iface

    def _interfaces(self) -> Iterator[Interface]:
        """Every interface the worlds import or export, once each, in their order."""
        seen: set[str] = set()
        for world in self.pkg.worlds:
            for iface in [*world.imports, *world.exports]:
                if not iface.name:
                    raise WitError(f"world `{world.name}` imports or exports an interface declared inside the world "
                                   "(`name: interface {...}`): not supported; declare it as a named interface")
                if iface.qualified not in seen:
                    seen.add(iface.qualified)
                    yield iface

    # ------------------------------------------------------------- types
    def maybe_undefined(self, t: Type) -> bool:
        """True when `t`'s JavaScript value may be `undefined` (an option of a never-undefined type)."""
        r = self.pkg.resolve(t)
        return isinstance(r, OptionT) and not self.maybe_undefined(r.inner)

    def ref(self, idx: int, scope: Scope) -> str:
        """How `scope` names the named type `idx`: its own name, or the module that declares it."""
        if idx in scope.names:
            return scope.names[idx]
        iface = self.owner.get(idx)
        if iface is None:
            raise WitError(f"type `{self.pkg.typedefs[idx].name}` is not declared by an interface {scope.module} can reach")
        return f'import("{iface.qualified}").{ts_pascal(self.pkg.typedefs[idx].name)}'

    def ty(self, t: Type | None, scope: Scope) -> str:
        """The TypeScript type of a WIT type (`void` for none), as `scope` names things."""
        if t is None:
            return "void"
        if isinstance(t, Prim):
            return _TS_PRIM[t.name]
        if isinstance(t, Named):
            return self.ref(t.id, scope)
        if isinstance(t, ListT):
            elem = self.pkg.resolve(t.elem)
            if isinstance(elem, Prim) and elem.name in _TYPED_ARRAYS:
                return scope.global_type(_TYPED_ARRAYS[elem.name])
            return f"{scope.global_type('Array')}<{self.ty(t.elem, scope)}>"
        if isinstance(t, TupleT):
            return "[" + ", ".join(self.ty(e, scope) for e in t.elems) + "]"
        if isinstance(t, OptionT):
            inner = self.ty(t.inner, scope)
            if self.maybe_undefined(t.inner):
                return f'{{ tag: "none" }} | {{ tag: "some"; val: {inner} }}'
            return f"{inner} | undefined"
        assert isinstance(t, ResultT), t  # handles never reach TypeScript (the model refuses them)
        return f'{{ tag: "ok"; val: {self.ty(t.ok, scope)} }} | {{ tag: "err"; val: {self.ty(t.err, scope)} }}'

    def field(self, name: str, t: Type, scope: Scope) -> str:
        """A record field: optional when its value may be `undefined` (as jco declares it), and then
        still `| undefined`, so that it may be written `undefined` under `exactOptionalPropertyTypes`."""
        optional = "?" if self.maybe_undefined(t) else ""
        return f"{ts_camel(name)}{optional}: {self.ty(t, scope)};"

    def typedef(self, td: TypeDef, name: str, scope: Scope, indent: str) -> list[str]:
        """The declarations of one named type, called `name` in `scope`."""
        docs = td.docs.splitlines()
        inner = indent + "  "
        if td.kind == "record":
            unique(((f.name, ts_camel(f.name)) for f in td.fields), f"record `{td.name}`")
            body = [line for f in td.fields for line in jsdoc(f.docs.splitlines(), inner)
                    + [inner + self.field(f.name, f.type, scope)]]
            return jsdoc(docs, indent) + [f"{indent}export interface {name} {{", *body, f"{indent}}}"]
        if td.kind == "flags":
            unique(((c.name, ts_camel(c.name)) for c in td.cases), f"flags `{td.name}`")
            body = [line for c in td.cases for line in jsdoc(c.docs.splitlines(), inner)
                    + [f"{inner}{ts_camel(c.name)}?: boolean;"]]
            return jsdoc(docs, indent) + [f"{indent}export interface {name} {{", *body, f"{indent}}}"]
        if td.kind == "enum":
            return jsdoc(self._enum_docs(td), indent) + [
                f"{indent}export type {name} = " + " | ".join(f'"{c.name}"' for c in td.cases) + ";"]
        if td.kind == "variant":
            return jsdoc(docs, indent) + self._variant(td, name, scope, indent)
        return jsdoc(docs, indent) + [f"{indent}export type {name} = {self.ty(td.target, scope)};"]

    def _enum_docs(self, td: TypeDef) -> list[str]:
        """An enum's docs, followed by its cases' (a string-literal union has nowhere else for them)."""
        if not any(c.docs for c in td.cases):
            return td.docs.splitlines()
        cases = [f'- `"{c.name}"`' + (f": {' '.join(c.docs.split())}" if c.docs else "") for c in td.cases]
        return [*td.docs.splitlines(), ""] + cases if td.docs else cases

    def _variant(self, td: TypeDef, name: str, scope: Scope, indent: str) -> list[str]:
        """A variant: the union of one interface per case, tagged with the case's WIT name."""
        out = [f"{indent}export type {name} = " + " | ".join(name + ts_pascal(c.name) for c in td.cases) + ";"]
        for c in td.cases:
            body = [f'{indent}  tag: "{c.name}";'] + ([] if c.type is None else [f"{indent}  val: {self.ty(c.type, scope)};"])
            out += jsdoc(c.docs.splitlines(), indent) + [f"{indent}export interface {name}{ts_pascal(c.name)} {{", *body,
                                                          f"{indent}}}"]
        return out

    def declared(self, td: TypeDef, name: str) -> list[tuple[str, str]]:
        """The (WIT name, TypeScript name) pairs a named type declares: itself and its variant cases."""
        own = [(td.name, name)]
        if td.kind == "variant":
            own += [(f"{td.name}.{c.name}", name + ts_pascal(c.name)) for c in td.cases]
        return own

    # --------------------------------------------------------- functions
    def signature(self, f: Function, scope: Scope) -> tuple[str, str]:
        """A function's parameter list and return type; a `result` return is its ok type."""
        unique(((p.name, param_name(p.name)) for p in f.params), f"function `{f.name}`")
        params = ", ".join(f"{param_name(p.name)}: {self.ty(p.type, scope)}" for p in f.params)
        r = None if f.result is None else self.pkg.resolve(f.result)
        if isinstance(r, ResultT):
            return params, self.ty(r.ok, scope)
        return params, self.ty(f.result, scope)

    def throws(self, f: Function, scope: Scope, export: bool) -> list[str]:
        """The `@throws` note of a function returning a `result` (none otherwise)."""
        r = None if f.result is None else self.pkg.resolve(f.result)
        if not isinstance(r, ResultT):
            return []
        err = "`undefined` (the error case has no value)" if r.err is None else f"the error value (type `{self.ty(r.err, scope)}`)"
        if export:
            return [f"@throws To return `err`, throw {err}, or an object whose `payload` is it."]
        return [f"@throws On `err`: a `ComponentError` whose `payload` is {err}."]

    def function(self, f: Function, scope: Scope, indent: str) -> list[str]:
        """An imported function, exported from its interface's module (a reserved name via an alias)."""
        params, ret = self.signature(f, scope)
        docs = jsdoc([*f.docs.splitlines(), *self.throws(f, scope, export=False)], indent)
        name = ts_camel(f.name)
        if name in _RESERVED:
            return [f"{indent}export {{ _{name} as {name} }};", *docs, f"{indent}function _{name}({params}): {ret};"]
        return [*docs, f"{indent}export function {name}({params}): {ret};"]

    def method(self, f: Function, scope: Scope, indent: str) -> list[str]:
        """An exported function, as a method of `Exports` (or of an exported interface's member)."""
        params, ret = self.signature(f, scope)
        docs = jsdoc([*f.docs.splitlines(), *self.throws(f, scope, export=True)], indent)
        return [*docs, f"{indent}{ts_camel(f.name)}({params}): {ret};"]

    # ----------------------------------------------------------- modules
    def interface_module(self, iface: Interface, imported: bool) -> list[str]:
        """`declare module "ns:pkg/iface@v"`: the interface's types and, when imported, its functions."""
        scope = Scope(iface.qualified, {idx: ts_pascal(self.pkg.typedefs[idx].name) for idx in iface.types})
        where = f"interface {iface.qualified}"
        declared = [pair for idx in iface.types for pair in self.declared(self.pkg.typedefs[idx], scope.names[idx])]
        unique(declared, where)
        scope.declared = {ts for _, ts in declared}
        body: list[str] = []
        for idx in iface.types:
            body += self.typedef(self.pkg.typedefs[idx], scope.names[idx], scope, "  ")
        if imported:
            unique(((f.name, ts_camel(f.name)) for f in iface.functions), where)
            for f in iface.functions:
                body += self.function(f, scope, "  ")
        return jsdoc(iface.docs.splitlines(), "") + [f'declare module "{iface.qualified}" {{', *body, "}"]

    def world_module_name(self, world: World) -> str:
        """`ns:pkg/world@version`, as componentize-js names the world."""
        base, _, version = self.pkg.name.partition("@")
        return f"{base}/{world.name}" + (f"@{version}" if version else "")

    def _named_in(self, t: Type | None) -> Iterator[int]:
        """The named types `t` mentions directly (not those inside them)."""
        if isinstance(t, Named):
            yield t.id
        elif isinstance(t, ListT):
            yield from self._named_in(t.elem)
        elif isinstance(t, OptionT):
            yield from self._named_in(t.inner)
        elif isinstance(t, TupleT):
            for e in t.elems:
                yield from self._named_in(e)
        elif isinstance(t, ResultT):
            yield from self._named_in(t.ok)
            yield from self._named_in(t.err)

    def _typedef_types(self, td: TypeDef) -> list[Type | None]:
        """The types one named type is made of."""
        return [f.type for f in td.fields] + [c.type for c in td.cases] + [td.target]

    def _reachable(self, world: World) -> tuple[list[int], list[int], list[int]]:
        """The named types the world's exports mention: the world's own types (and what they are
        made of), its `use`s, and interface types, each list in the order first met."""
        funcs = [*world.export_functions, *(f for i in world.exports for f in i.functions)]
        pending = [t for f in funcs for t in [*(p.type for p in f.params), f.result]]
        own: list[int] = []
        used: list[int] = []
        foreign: list[int] = []
        while pending:
            for idx in self._named_in(pending.pop(0)):
                if idx in self.owner:
                    foreign.append(idx)
                elif is_use(self.pkg, idx):
                    used.append(idx)
                elif idx not in own:
                    own.append(idx)
                    pending += self._typedef_types(self.pkg.typedefs[idx])
        return sorted(own), sorted(set(used)), foreign

    def world_scope(self, world: World) -> tuple[Scope, list[int], list[str]]:
        """The world module's names: its own types (declared there), the world's `use`s (imported
        and exported again) and the interface types its exports mention (imported, renamed on a clash)."""
        own, used, foreign = self._reachable(world)
        where = f"world `{world.name}`"
        scope = Scope(self.world_module_name(world), {idx: ts_pascal(self.pkg.typedefs[idx].name) for idx in own})
        declared = [("Exports", "Exports")]
        declared += [pair for idx in own for pair in self.declared(self.pkg.typedefs[idx], scope.names[idx])]
        declared += [(self.pkg.typedefs[idx].name, ts_pascal(self.pkg.typedefs[idx].name)) for idx in used]
        unique(declared, where)
        taken = {ts for _, ts in declared}
        scope.declared = taken
        for idx in used:
            self._import(scope, use_target(self.pkg, idx), ts_pascal(self.pkg.typedefs[idx].name))
            scope.names[idx] = ts_pascal(self.pkg.typedefs[idx].name)
        for idx in foreign:
            self._import_foreign(scope, idx, taken, where)
        return scope, own, [scope.names[idx] for idx in used]

    def _import_foreign(self, scope: Scope, idx: int, taken: set[str], where: str) -> None:
        """Imports the definition of interface type `idx` into the world module, unless it is there
        (as `InterfaceName` when its own name is taken)."""
        target = use_target(self.pkg, idx)
        for known in (idx, target):
            if known in scope.names:
                scope.names[idx] = scope.names[known]
                return
        td = self.pkg.typedefs[target]
        name = ts_pascal(td.name)
        if name in taken:
            name = ts_pascal(self.owner[target].name) + name
        if name in taken:
            raise WitError(f"{where}: cannot name `{td.name}` of {self.owner[target].qualified} in TypeScript: "
                           f"`{ts_pascal(td.name)}` and `{name}` are both taken")
        taken.add(name)
        self._import(scope, target, name)
        scope.names[idx] = name

    def _import(self, scope: Scope, target: int, local: str) -> None:
        """Records that the world module imports type `target` from its interface as `local`."""
        scope.names[target] = local
        module = self.owner[target].qualified
        scope.imports.setdefault(module, []).append((ts_pascal(self.pkg.typedefs[target].name), local))

    def world_module(self, world: World) -> list[str]:
        """`declare module "ns:pkg/world@v"`: the world's own types and `Exports`, the guest's exports."""
        if world.import_functions:
            raise WitError(f"world `{world.name}`: world-level imported functions are not supported")
        scope, own, reexport = self.world_scope(world)
        body: list[str] = []
        for module, pairs in scope.imports.items():
            names = ", ".join(name if name == local else f"{name} as {local}" for name, local in pairs)
            body.append(f'  import type {{ {names} }} from "{module}";')
        if reexport:
            body.append(f"  export type {{ {', '.join(reexport)} }};")
        for idx in own:
            body += self.typedef(self.pkg.typedefs[idx], scope.names[idx], scope, "  ")
        members = [*((i.name, ts_camel(i.name)) for i in world.exports), *((f.name, ts_camel(f.name)) for f in world.export_functions)]
        unique(members, f"world `{world.name}` exports")
        body += jsdoc([f"What a guest of world `{world.name}` exports: its entry module's exports implement this.",
                       "An exported interface is an object of its functions, exported under its camelCase name."], "  ")
        body.append("  export interface Exports {")
        for iface in world.exports:
            unique(((f.name, ts_camel(f.name)) for f in iface.functions), f"interface {iface.qualified}")
            body += jsdoc(iface.docs.splitlines() or [f"The functions of {iface.qualified}."], "    ")
            body.append(f"    {ts_camel(iface.name)}: {{")
            for f in iface.functions:
                body += self.method(f, scope, "      ")
            body.append("    };")
        for f in world.export_functions:
            body += self.method(f, scope, "    ")
        body.append("  }")
        return jsdoc(world.docs.splitlines(), "") + [f'declare module "{scope.module}" {{', *body, "}"]

    def emit(self) -> str:
        """The whole file: header, interface modules, world modules."""
        imported = {i.qualified for w in self.pkg.worlds for i in w.imports}
        out = [f"// TypeScript declarations for `{self.pkg.name}`, generated by wasmlet bindgen from {self.source}.",
               f"// Do not edit: change the WIT and run `{self.how}`.",
               "//", _HEADER_NOTE]
        for iface in self._interfaces():
            if iface.qualified in imported or iface.types:
                out += [""] + self.interface_module(iface, iface.qualified in imported)
        for world in self.pkg.worlds:
            out += [""] + self.world_module(world)
        return "\n".join(out) + "\n"


def generate_typescript(pkg: Package, source: str, how: str | None = None) -> str:
    """TypeScript declarations for a componentize-js guest of `pkg`'s worlds; `how` is the command
    the header names to regenerate the file (default: `wasmlet bindgen`)."""
    return TypeScriptEmitter(pkg, source, how or "wasmlet bindgen").emit()
