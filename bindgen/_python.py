"""WIT -> typed Python host bindings over wasmtime's component-value C API."""

from __future__ import annotations

from ._model import (
    Function,
    Handle,
    Interface,
    ListT,
    Named,
    OptionT,
    Package,
    Prim,
    ResultT,
    TupleT,
    Type,
    WitError,
    World,
)
from ._names import class_names, is_use, pascal, snake, upper

_PY_PRIM = {
    "bool": "bool", "char": "str", "string": "str", "f32": "float", "f64": "float",
}


def _doc(text: str, indent: str) -> list[str]:
    if not text:
        return []
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = text.splitlines()
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}'] + [f"{indent}{ln}".rstrip() for ln in lines[1:]] + [f'{indent}"""']


class PythonEmitter:
    """Emits one Python module for a WIT package and its worlds."""

    def __init__(self, pkg: Package, source: str, regenerate: str = "wasmlet bindgen") -> None:
        self.pkg = pkg
        self.source = source
        self.regenerate = regenerate
        self.names = class_names(pkg)
        self.helpers: dict[str, list[str]] = {}
        self.out: list[str] = []

    # ------------------------------------------------------------- naming
    def ann(self, t: Type | None) -> str:
        """The Python annotation of a WIT type."""
        if t is None:
            return "None"
        if isinstance(t, Prim):
            return _PY_PRIM.get(t.name, "int")
        if isinstance(t, Named):
            return self.names[t.id]
        if isinstance(t, Handle):
            return self.names[t.resource]
        if isinstance(t, ListT):
            if self.pkg.resolve(t.elem) == Prim("u8"):
                return "bytes"
            return f"list[{self.ann(t.elem)}]"
        if isinstance(t, TupleT):
            return f"tuple[{', '.join(self.ann(e) for e in t.elems)}]"
        if isinstance(t, OptionT):
            if isinstance(self.pkg.resolve(t.inner), OptionT):
                return f"Optional[abi.Some[{self.ann(t.inner)}]]"
            return f"Optional[{self.ann(t.inner)}]"
        return f"abi.Result[{self.ann(t.ok)}, {self.ann(t.err)}]"

    def describe(self, t: Type | None) -> str:
        """The same canonical text `abi.describe_type` makes from wasmtime's view of a type."""
        if t is None:
            return "_"
        t = self.pkg.resolve(t)
        if isinstance(t, Prim):
            return {"string": "string", "char": "char", "bool": "bool"}.get(t.name, t.name)
        if isinstance(t, ListT):
            return f"list<{self.describe(t.elem)}>"
        if isinstance(t, TupleT):
            return "tuple<" + ",".join(self.describe(e) for e in t.elems) + ">"
        if isinstance(t, OptionT):
            return f"option<{self.describe(t.inner)}>"
        if isinstance(t, ResultT):
            return f"result<{self.describe(t.ok)},{self.describe(t.err)}>"
        if isinstance(t, Handle):
            return t.kind
        td = self.pkg.typedefs[t.id]
        if td.kind == "record":
            return "record{" + ",".join(f"{f.name}:{self.describe(f.type)}" for f in td.fields) + "}"
        if td.kind == "variant":
            return "variant{" + ",".join(c.name if c.type is None else f"{c.name}({self.describe(c.type)})"
                                         for c in td.cases) + "}"
        return f"{td.kind}{{" + ",".join(c.name for c in td.cases) + "}"

    def describe_func(self, f: Function) -> str:
        params = ",".join(f"{p.name}:{self.describe(p.type)}" for p in f.params)
        return f"func({params})" + ("" if f.result is None else f"->{self.describe(f.result)}")

    def mangle(self, t: Type) -> str:
        t = self.pkg.resolve(t)
        if isinstance(t, Prim):
            return t.name
        if isinstance(t, Named):
            return self.names[t.id]
        if isinstance(t, Handle):
            return f"{t.kind}_{self.names[t.resource]}"
        if isinstance(t, ListT):
            return "list_" + self.mangle(t.elem)
        if isinstance(t, TupleT):
            return "tuple_" + "_".join(self.mangle(e) for e in t.elems) + "_end"
        if isinstance(t, OptionT):
            return "option_" + self.mangle(t.inner)
        ok = "none" if t.ok is None else self.mangle(t.ok)
        err = "none" if t.err is None else self.mangle(t.err)
        return f"result_{ok}_{err}_end"

    def lower_fn(self, t: Type) -> str:
        t = self.pkg.resolve(t)
        if isinstance(t, Prim):
            return f"abi.lower_{t.name}"
        if isinstance(t, ListT) and self.pkg.resolve(t.elem) == Prim("u8"):
            return "abi.lower_bytes"
        self.helper(t)
        return f"_lower_{self.mangle(t)}"

    def lift_fn(self, t: Type) -> str:
        t = self.pkg.resolve(t)
        if isinstance(t, Prim):
            return f"abi.lift_{t.name}"
        if isinstance(t, ListT) and self.pkg.resolve(t.elem) == Prim("u8"):
            return "abi.lift_bytes"
        self.helper(t)
        return f"_lift_{self.mangle(t)}"

    # ------------------------------------------------------------- types
    def emit_types(self) -> None:
        for td in self.pkg.typedefs.values():
            if is_use(self.pkg, td.id):
                continue
            name = self.names[td.id]
            o = self.out
            if td.kind == "record":
                o += ["", "", "@dataclass(frozen=True, slots=True)", f"class {name}:"]
                o += _doc(td.docs or f"WIT record `{td.name}`.", "    ")
                o += [""]
                for f in td.fields:
                    o.append(f"    {snake(f.name)}: {self.ann(f.type)}")
                    o += _doc(f.docs, "    ")
                if not td.fields:
                    o.append("    pass")
            elif td.kind == "variant":
                members = []
                for c in td.cases:
                    cls = name + pascal(c.name)
                    members.append(cls)
                    o += ["", "", "@dataclass(frozen=True, slots=True)", f"class {cls}:"]
                    o += _doc(c.docs or f"Case `{c.name}` of `{td.name}`.", "    ")
                    o += ["", f"    tag: ClassVar[str] = {c.name!r}"]
                    if c.type is not None:
                        o.append(f"    value: {self.ann(c.type)}")
                o += ["", "", f"{name} = Union[{', '.join(members)}]"]
                o += _doc(td.docs, "")
            elif td.kind == "enum":
                o += ["", "", f"class {name}(enum.Enum):"]
                o += _doc(td.docs or f"WIT enum `{td.name}`.", "    ")
                o += [""]
                for c in td.cases:
                    o.append(f"    {upper(c.name)} = {c.name!r}")
                    o += _doc(c.docs, "    ")
            elif td.kind == "flags":
                o += ["", "", f"class {name}(enum.Flag):"]
                o += _doc(td.docs or f"WIT flags `{td.name}`.", "    ")
                o += [""]
                for i, c in enumerate(td.cases):
                    o.append(f"    {upper(c.name)} = {1 << i}")
                    o += _doc(c.docs, "    ")
            elif td.kind == "alias":
                assert td.target is not None
                o += ["", "", f"{name} = {self.ann(td.target)}"]
                o += _doc(td.docs, "")
            elif td.kind == "resource":
                qualified = next((i.qualified for w in self.pkg.worlds for i in (*w.imports, *w.exports)
                                  if td.id in i.types), f"{self.pkg.name}/{td.interface}")
                o += ["", "", f"{name} = Any",
                      f'"""Resource `{td.name}`: the host object behind a handle (the host implementation\'s own class;',
                      'released, with its `close()` if it has one, when the guest drops it or the invocation ends)."""',
                      f"{self.resource_id(td.id)} = handles.resource_id({qualified + '#' + td.name!r})"]

    # ----------------------------------------------------------- helpers
    def helper(self, t: Type) -> None:
        key = self.mangle(t)
        if key in self.helpers:
            return
        self.helpers[key] = []  # reserve: recursion through children
        lines: list[str] = []
        if isinstance(t, Named):
            td = self.pkg.typedefs[t.id]
            kind = td.kind
        else:
            kind = type(t).__name__
        getattr(self, f"_helper_{kind.lower()}")(t, key, lines)
        self.helpers[key] = lines

    def _helper_handle(self, t: Handle, key: str, o: list[str]) -> None:
        """A handle to a host-defined resource: the host object on the Python side (`_handles.py`)."""
        rid = self.resource_id(t.resource)
        o += [f"def _lower_{key}(v: Any, c: Any) -> None:",
              f"    handles.lower_{t.kind}({rid}, v, c)",
              "", "",
              f"def _lift_{key}(c: Any) -> {self.ann(t)}:",
              f"    return handles.lift_{t.kind}({rid}, c)"]

    def resource_id(self, idx: int) -> str:
        """The generated constant naming resource `idx` for wasmtime (`_RESOURCE_<NAME>`)."""
        return f"_RESOURCE_{upper(self.names[idx])}"

    def _helper_record(self, t: Named, key: str, o: list[str]) -> None:
        td = self.pkg.typedefs[t.id]
        cls = self.names[t.id]
        n = len(td.fields)
        o += [f"def _lower_{key}(v: Any, c: Any) -> None:",
              f"    if v.__class__ is not {cls}:",
              f"        raise abi.BindingError.expected({cls!r}, v)",
              "    rec = c.of.record",
              f"    d = abi.record_new(rec, {n})",
              f"    f = {td.fields[0].name if td.fields else ''!r}",
              "    try:"]
        for i, f in enumerate(td.fields):
            if i:
                o.append(f"        f = {f.name!r}")
            o += [f"        e = d[{i}]",
                  f"        abi.set_name(e.name, {f.name.encode()!r})",
                  f"        {self.lower_fn(f.type)}(v.{snake(f.name)}, e.val)"]
        if not td.fields:
            o.append("        pass")
        o += ["    except abi.BindingError as err:",
              "        abi.record_delete(rec)",
              "        raise err.within(f) from None",
              "    except BaseException:",
              "        abi.record_delete(rec)",
              "        raise",
              "    c.kind = abi.K_RECORD",
              "", "",
              f"def _lift_{key}(c: Any) -> {cls}:",
              "    d = c.of.record.data",
              f"    return {cls}("]
        for i, f in enumerate(td.fields):
            o.append(f"        {self.lift_fn(f.type)}(d[{i}].val),")
        o.append("    )")

    def _helper_variant(self, t: Named, key: str, o: list[str]) -> None:
        td = self.pkg.typedefs[t.id]
        cls = self.names[t.id]
        o += [f"def _lower_{key}(v: Any, c: Any) -> None:", "    k = v.__class__"]
        for i, case in enumerate(td.cases):
            kw = "if" if i == 0 else "elif"
            o.append(f"    {kw} k is {cls}{pascal(case.name)}:")
            o += self._lower_payload(case.type, case.name, "v.value")
            o += ["        var = c.of.variant",
                  f"        abi.set_name(var.discriminant, {case.name.encode()!r})",
                  f"        var.val = {'None' if case.type is None else 'abi.boxed(tmp)'}"]
        o += ["    else:",
              f"        raise abi.BindingError.expected({cls!r}, v)",
              "    c.kind = abi.K_VARIANT", "", "",
              f"def _lift_{key}(c: Any) -> {cls}:",
              "    var = c.of.variant",
              "    tag = abi.name_of(var.discriminant)"]
        for case in td.cases:
            o.append(f"    if tag == {case.name.encode()!r}:")
            if case.type is None:
                o.append(f"        return {cls}{pascal(case.name)}()")
            else:
                o.append(f"        return {cls}{pascal(case.name)}({self.lift_fn(case.type)}(var.val.contents))")
        o.append(f"    raise abi.BindingError(f'unknown case {{tag!r}} of {td.name}')")

    def _lower_payload(self, t: Type | None, label: str, expr: str) -> list[str]:
        if t is None:
            return []
        return ["        tmp = abi.Val()",
                "        try:",
                f"            {self.lower_fn(t)}({expr}, tmp)",
                "        except abi.BindingError as err:",
                f"            raise err.within({label!r}) from None"]

    def _helper_enum(self, t: Named, key: str, o: list[str]) -> None:
        td = self.pkg.typedefs[t.id]
        cls = self.names[t.id]
        o += [f"_{key}_NAMES = {{m: m.value.encode() for m in {cls}}}",
              f"_{key}_BY_NAME = {{m.value.encode(): m for m in {cls}}}", "", "",
              f"def _lower_{key}(v: Any, c: Any) -> None:",
              f"    if v.__class__ is not {cls}:",
              f"        raise abi.BindingError.expected({cls!r}, v)",
              f"    abi.set_name(c.of.enumeration, _{key}_NAMES[v])",
              "    c.kind = abi.K_ENUM", "", "",
              f"def _lift_{key}(c: Any) -> {cls}:",
              f"    return _{key}_BY_NAME[abi.name_of(c.of.enumeration)]"]
        del td

    def _helper_flags(self, t: Named, key: str, o: list[str]) -> None:
        td = self.pkg.typedefs[t.id]
        cls = self.names[t.id]
        o += [f"_{key}_MEMBERS = [(m, str(m.name).lower().replace('_', '-').encode()) for m in {cls}]",
              f"_{key}_BY_NAME = {{name: m for m, name in _{key}_MEMBERS}}", "", "",
              f"def _lower_{key}(v: Any, c: Any) -> None:",
              f"    if v.__class__ is not {cls}:",
              f"        raise abi.BindingError.expected({cls!r}, v)",
              f"    abi.flags_new(c.of.flags, [name for m, name in _{key}_MEMBERS if m in v])",
              "    c.kind = abi.K_FLAGS", "", "",
              f"def _lift_{key}(c: Any) -> {cls}:",
              "    fl = c.of.flags",
              f"    v = {cls}(0)",
              "    for i in range(fl.size):",
              f"        v |= _{key}_BY_NAME[abi.name_of(fl.data[i])]",
              "    return v"]
        del td

    def _helper_listt(self, t: ListT, key: str, o: list[str]) -> None:
        elem_lower, elem_lift = self.lower_fn(t.elem), self.lift_fn(t.elem)
        o += [f"def _lower_{key}(v: Any, c: Any) -> None:",
              "    abi.check_list(v)",
              "    lst = c.of.list",
              "    d = abi.list_new(lst, len(v))",
              "    i = 0",
              "    try:",
              "        for i, x in enumerate(v):",
              f"            {elem_lower}(x, d[i])",
              "    except abi.BindingError as err:",
              "        abi.list_delete(lst)",
              "        raise err.within(f'[{i}]') from None",
              "    except BaseException:",
              "        abi.list_delete(lst)",
              "        raise",
              "    c.kind = abi.K_LIST", "", "",
              f"def _lift_{key}(c: Any) -> {self.ann(t)}:",
              "    lst = c.of.list",
              "    d = lst.data",
              f"    return [{elem_lift}(d[i]) for i in range(lst.size)]"]

    def _helper_tuplet(self, t: TupleT, key: str, o: list[str]) -> None:
        n = len(t.elems)
        o += [f"def _lower_{key}(v: Any, c: Any) -> None:",
              f"    abi.check_length(v, {n}, {self.ann(t)!r})",
              "    lst = c.of.tuple",
              f"    d = abi.list_new(lst, {n})",
              "    i = 0",
              "    try:"]
        for i, e in enumerate(t.elems):
            o += [f"        i = {i}", f"        {self.lower_fn(e)}(v[{i}], d[{i}])"]
        o += ["    except abi.BindingError as err:",
              "        abi.list_delete(lst)",
              "        raise err.within(f'[{i}]') from None",
              "    except BaseException:",
              "        abi.list_delete(lst)",
              "        raise",
              "    c.kind = abi.K_TUPLE", "", "",
              f"def _lift_{key}(c: Any) -> {self.ann(t)}:",
              "    d = c.of.tuple.data",
              "    return (" + " ".join(f"{self.lift_fn(e)}(d[{i}])," for i, e in enumerate(t.elems)) + ")"]

    def _helper_optiont(self, t: OptionT, key: str, o: list[str]) -> None:
        nested = isinstance(self.pkg.resolve(t.inner), OptionT)
        payload = "v.value" if nested else "v"
        o += [f"def _lower_{key}(v: Any, c: Any) -> None:",
              "    if v is None:",
              "        c.of.option = None",
              "    else:"]
        if nested:
            o += ["        if v.__class__ is not abi.Some:",
                  "            raise abi.BindingError.expected('abi.Some (nested option)', v)"]
        o += self._lower_payload(t.inner, "some", payload)
        o += ["        c.of.option = abi.boxed(tmp)",
              "    c.kind = abi.K_OPTION", "", "",
              f"def _lift_{key}(c: Any) -> {self.ann(t)}:",
              "    p = c.of.option",
              "    if not p:",
              "        return None"]
        value = f"{self.lift_fn(t.inner)}(p.contents)"
        o.append(f"    return abi.Some({value})" if nested else f"    return {value}")

    def _helper_resultt(self, t: ResultT, key: str, o: list[str]) -> None:
        o += [f"def _lower_{key}(v: Any, c: Any) -> None:",
              "    k = v.__class__"]
        for kw, cls, ty, is_ok in (("if", "abi.Ok", t.ok, True), ("elif", "abi.Err", t.err, False)):
            o.append(f"    {kw} k is {cls}:")
            if ty is None:
                o += ["        if v.value is not None:",
                      f"            raise abi.BindingError.expected('{cls}(None)', v)"]
            o += self._lower_payload(ty, "ok" if is_ok else "err", "v.value")
            o += ["        r = c.of.result",
                  f"        r.is_ok = {is_ok}",
                  f"        r.val = {'None' if ty is None else 'abi.boxed(tmp)'}"]
        o += ["    else:",
              "        raise abi.BindingError.expected('abi.Ok or abi.Err', v)",
              "    c.kind = abi.K_RESULT", "", "",
              f"def _lift_{key}(c: Any) -> {self.ann(t)}:",
              "    r = c.of.result",
              "    if r.is_ok:"]
        o.append("        return abi.Ok(None)" if t.ok is None
                 else f"        return abi.Ok({self.lift_fn(t.ok)}(r.val.contents))")
        o.append("    return abi.Err(None)" if t.err is None
                 else f"    return abi.Err({self.lift_fn(t.err)}(r.val.contents))")

    # ------------------------------------------------------------- worlds
    def arg(self, name: str) -> str:
        """A parameter's Python name, clear of the caller's own `self`, `store`, `instance`."""
        ident = snake(name)
        return ident + "_" if ident in ("self", "store", "instance") else ident

    def _params(self, f: Function, export: bool = False, resource: bool = False) -> str:
        return "".join(f", {self.arg(p.name) if export or resource else snake(p.name)}: {self.ann(p.type)}"
                       for p in f.params)

    def emit_protocol(self, iface: Interface) -> None:
        o = self.out
        o += ["", "", f"class {pascal(iface.name)}Host(Protocol):"]
        o += _doc(f"What the host implements for `{iface.qualified}`."
                  + (f"\n\n{iface.docs}" if iface.docs else ""), "    ")
        for f in iface.functions:
            o += ["", f"    def {self.host_name(f)}(self{self._params(f, resource=f.resource is not None)}) -> {self.ann(f.result)}:"]
            o += _doc(f.docs, "        ")
            o.append("        ...")

    def host_name(self, f: Function) -> str:
        """A host method's name: the function's, or `<resource>_<name>` for a resource's (`new` constructs)."""
        if f.resource is None:
            return snake(f.name)
        return f"{snake(self.pkg.typedefs[f.resource].name)}_{snake(f.short_name)}"

    def emit_world(self, world: World) -> None:
        wname = pascal(world.name)
        o = self.out
        if world.import_functions:
            raise WitError("world-level imported functions are not supported")
        if world.imports:
            o += ["", "", "@dataclass(slots=True)", f"class {wname}Imports:"]
            o += _doc(f"The host side of every interface world `{world.name}` imports.", "    ")
            o += [""]
            for iface in world.imports:
                if iface.functions:
                    o.append(f"    {snake(iface.name)}: {pascal(iface.name)}Host")
            if not any(i.functions for i in world.imports):
                o.append("    pass")
            o += ["", "", f"def add_{snake(world.name)}_to_linker(",
                  "    linker: Linker,",
                  f"    imports: Callable[[], {wname}Imports],",
                  ") -> None:",
                  f'    """Defines world `{world.name}`\'s imports in `linker`.',
                  "",
                  "    `imports` is called on every host call and returns the implementations",
                  '    for the invocation running on this thread."""']
            for iface in world.imports:
                for f in iface.functions:
                    fn = f"{snake(iface.name)}_{self.host_name(f)}"
                    args = ", ".join(f"{self.lift_fn(p.type)}(args[{i}])" for i, p in enumerate(f.params))
                    o += ["", f"    def {fn}(args: Any, results: Any) -> None:"]
                    call = f"imports().{snake(iface.name)}.{self.host_name(f)}({args})"
                    if f.result is None:
                        o.append(f"        {call}")
                    else:
                        o.append(f"        {self.lower_fn(f.result)}({call}, results[0])")
            o += ["", "    with linker.root() as root:"]
            for iface in world.imports:
                o.append(f"        with root.add_instance({iface.qualified!r}) as inst:")
                resources = [t for t in iface.types if self.pkg.typedefs[t].kind == "resource"]
                if not iface.functions and not resources:
                    o.append("            pass")
                for t in resources:
                    o.append(f"            handles.define(inst, {self.pkg.typedefs[t].name!r}, {self.resource_id(t)})")
                for f in iface.functions:
                    o.append(f"            abi.add_func(inst, {f.name!r}, {snake(iface.name)}_{self.host_name(f)})")
        # exports
        o += ["", "", f"class {wname}Exports:"]
        o += _doc(f"Typed callers for the exports of world `{world.name}`; the export\n"
                  "indices are looked up once per component, not per call.", "    ")
        exported: list[tuple[Interface | None, Function]] = [(None, f) for f in world.export_functions]
        exported += [(i, f) for i in world.exports for f in i.functions]
        o += ["", "    TYPES: ClassVar[dict[str, str]] = {"]
        for owner, f in exported:
            if owner is None:
                o.append(f"        {f.name!r}: {self.describe_func(f)!r},")
        o += ["    }", '    """World-level exports and their types, for checking a component before use."""']
        o += ["", "    def __init__(self, component: Component) -> None:"]
        for owner, f in exported:
            attr = self._export_attr(owner, f)
            within = "" if owner is None else f", {owner.qualified!r}"
            o.append(f"        self._{attr} = abi.export_index(component, {f.name!r}{within})")
        if not exported:
            o.append("        del component")
        for owner, f in exported:
            attr = self._export_attr(owner, f)
            o += ["", f"    def {attr}(self, store: Store, instance: Instance{self._params(f, True)}) -> {self.ann(f.result)}:"]
            o += _doc(f.docs or f"Calls export `{f.name}`.", "        ")
            o.append(f"        _func = abi.get_func(store, instance, self._{attr})")
            n = len(f.params)
            o.append(f"        _params = (abi.Val * {max(n, 1)})()")
            if f.params:
                o += ["        _p = ''", "        try:"]
                for i, p in enumerate(f.params):
                    o += [f"            _p = {p.name!r}",
                          f"            {self.lower_fn(p.type)}({self.arg(p.name)}, _params[{i}])"]
                o += ["        except abi.BindingError as err:",
                      f"            _delete_all(_params, {n})",
                      "            raise err.within(_p) from None",
                      "        except BaseException:",
                      f"            _delete_all(_params, {n})",
                      "            raise"]
            has_result = f.result is not None
            result_type = f.result
            o.append("        _result = abi.Val()" if has_result else "        _result = None")
            o += ["        try:",
                  f"            abi.call(store, _func, _params, {n}, _result)",
                  "        finally:",
                  f"            _delete_all(_params, {n})"]
            if result_type is not None:
                o += ["        try:",
                      f"            _value = {self.lift_fn(result_type)}(_result)",
                      "        finally:",
                      "            abi.val_delete(byref(_result))",
                      "        abi.post_return(store, _func)",
                      "        return _value"]
            else:
                o += ["        abi.post_return(store, _func)"]

    def _export_attr(self, iface: Interface | None, f: Function) -> str:
        return snake(f.name) if iface is None else f"{snake(iface.name)}_{snake(f.name)}"

    def uses_resources(self) -> bool:
        return any(td.kind == "resource" for td in self.pkg.typedefs.values())

    def emit(self) -> str:
        for w in self.pkg.worlds:
            for i in w.exports:
                for t in i.types:
                    if self.pkg.typedefs[t].kind == "resource":
                        raise WitError(f"world `{w.name}` exports resource `{self.pkg.typedefs[t].name}` "
                                       f"({i.qualified}): resources a guest defines are not supported yet, only "
                                       "resources the host defines (in imported interfaces)")
        self.emit_types()
        ifaces = []
        for w in self.pkg.worlds:
            for i in w.imports:
                if i not in ifaces:
                    ifaces.append(i)
        for i in ifaces:
            if i.functions:
                self.emit_protocol(i)
        for w in self.pkg.worlds:
            self.emit_world(w)
        head = [
            f'"""Host bindings for `{self.pkg.name}`, generated by wasmlet bindgen from {self.source}.',
            "",
            f'Do not edit: change the WIT and run `{self.regenerate}`."""',
            "",
            "# ruff: noqa",
            "from __future__ import annotations",
            "",
            "import enum",
            "from ctypes import byref",
            "from dataclasses import dataclass",
            "from typing import Any, Callable, ClassVar, Optional, Protocol, Union",
            "",
            "from wasmtime import Store",
            "from wasmtime.component import Component, Instance, Linker",
            "",
            "from wasmlet.bindings import _abi as abi",
        ] + (["from wasmlet.bindings import _handles as handles"] if self.uses_resources() else [])
        body = list(self.out)
        helpers: list[str] = []
        for key in self.helpers:
            helpers += ["", ""] + self.helpers[key]
        tail = ["", "", "def _delete_all(params: Any, n: int) -> None:",
                "    for i in range(n):",
                "        abi.val_delete(byref(params[i]))", ""]
        return "\n".join(head + body + helpers + tail)


def generate_python(pkg: Package, source: str, regenerate: str = "wasmlet bindgen") -> str:
    """The Python host-binding module for `pkg`; `regenerate` is the command its header names."""
    return PythonEmitter(pkg, source, regenerate).emit()
