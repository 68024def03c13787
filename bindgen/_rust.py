"""WIT -> Rust guest glue: types, canonical-ABI impls, import wrappers and export shims.

The generated file needs only `std` and the hand-written runtime in
`guest-rust/src/abi.rs`, so it builds with Debian's rustc 1.63 and no crates.
"""

from __future__ import annotations

from ._layout import MAX_FLAT_PARAMS, MAX_FLAT_RESULTS, Layout, discriminant_size, flags_size
from ._model import Function, Handle, Interface, ListT, Named, OptionT, Package, Prim, ResultT, TupleT, Type, WitError, World
from ._names import class_names, is_use, pascal, rust_snake, snake

_RUST_PRIM = {
    "bool": "bool", "u8": "u8", "u16": "u16", "u32": "u32", "u64": "u64",
    "s8": "i8", "s16": "i16", "s32": "i32", "s64": "i64", "f32": "f32", "f64": "f64",
    "char": "char", "string": "String",
}
_DISC_TYPE = {1: "u8", 2: "u16", 4: "u32"}


def _docs(text: str, indent: str) -> list[str]:
    return [f"{indent}/// {line}".rstrip() for line in text.splitlines()] if text else []


def _to_core(core: str, expr: str) -> str:
    return {
        "i32": f"{expr} as i32", "i64": f"{expr} as i64",
        "f32": f"f32::from_bits({expr} as u32)", "f64": f"f64::from_bits({expr})",
    }[core]


def _from_core(core: str, expr: str) -> str:
    return {
        "i32": f"{expr} as u32 as u64", "i64": f"{expr} as u64",
        "f32": f"{expr}.to_bits() as u64", "f64": f"{expr}.to_bits()",
    }[core]


class RustEmitter:
    """Emits one Rust module for a WIT package and its worlds."""

    def __init__(self, pkg: Package, source: str, module_path: str, abi_path: str,
                 regenerate: str = "wasmlet bindgen") -> None:
        self.pkg = pkg
        self.source = source
        self.regenerate = regenerate
        self.module_path = module_path
        self.abi_path = abi_path
        self.names = class_names(pkg)
        self.layout = Layout(pkg)
        self.out: list[str] = []

    def ty(self, t: Type | None) -> str:
        if t is None:
            return "()"
        if isinstance(t, Prim):
            return _RUST_PRIM[t.name]
        if isinstance(t, Named):
            return self.names[t.id]
        if isinstance(t, Handle):
            return self.names[t.resource] if t.kind == "own" else f"&{self.names[t.resource]}"
        if isinstance(t, ListT):
            return f"Vec<{self.ty(t.elem)}>"
        if isinstance(t, TupleT):
            return "(" + "".join(f"{self.ty(e)}, " for e in t.elems).rstrip(" ") + ")"
        if isinstance(t, OptionT):
            return f"Option<{self.ty(t.inner)}>"
        assert isinstance(t, ResultT), t
        return f"Result<{self.ty(t.ok)}, {self.ty(t.err)}>"

    def has_handle(self, t: Type | None, kinds: tuple[str, ...] = ("own", "borrow"),
                   seen: frozenset[int] = frozenset()) -> bool:
        """The type holds a resource handle (of these kinds) somewhere (then it is neither Clone nor PartialEq)."""
        t = None if t is None else self.pkg.resolve(t)
        if t is None or isinstance(t, Prim):
            return False
        if isinstance(t, Handle):
            return t.kind in kinds
        if isinstance(t, ListT):
            return self.has_handle(t.elem, kinds, seen)
        if isinstance(t, TupleT):
            return any(self.has_handle(e, kinds, seen) for e in t.elems)
        if isinstance(t, OptionT):
            return self.has_handle(t.inner, kinds, seen)
        if isinstance(t, ResultT):
            return self.has_handle(t.ok, kinds, seen) or self.has_handle(t.err, kinds, seen)
        if t.id in seen:
            return False
        td = self.pkg.typedefs[t.id]
        inner: list[Type | None] = [*(x.type for x in td.fields), *(c.type for c in td.cases)]
        return any(self.has_handle(x, kinds, seen | {t.id}) for x in inner)

    def owns_handle(self, t: Type) -> bool:
        return self.has_handle(t, ("own",))

    def lower_call(self, name: str, t: Type, method: str, args: str) -> str:
        """`name.method(args)`, spelled out for a handle (a method call on `&Counter` would find the
        owning impl and hand the handle over instead of lending it)."""
        r = self.pkg.resolve(t)
        if isinstance(r, Handle):
            return f"<{self.param_ty(t)} as Lower>::{method}(&{name}, {args});"
        return f"{name}.{method}({args});"

    def param_ty(self, t: Type) -> str:
        r = self.pkg.resolve(t)
        if isinstance(r, Handle):
            return self.names[r.resource] if r.kind == "own" else f"&{self.names[r.resource]}"
        if self.owns_handle(r):
            return self.ty(t)  # holds owned handles: the callee takes them, so the caller gives the value up
        if isinstance(r, Prim):
            return "&str" if r.name == "string" else _RUST_PRIM[r.name]
        if isinstance(r, ListT):
            return f"&[{self.ty(r.elem)}]"
        if isinstance(r, Named) and self.pkg.typedefs[r.id].kind in ("enum", "flags"):
            return self.ty(t)
        return f"&{self.ty(t)}"

    def consts(self, t: Type, o: list[str]) -> None:
        o += [f"    const SIZE: usize = {self.layout.size(t)};",
              f"    const ALIGN: usize = {self.layout.align(t)};",
              f"    const FLAT: usize = {len(self.layout.flat(t))};"]

    # ------------------------------------------------------------- types
    def emit_types(self) -> None:
        o = self.out
        for td in self.pkg.typedefs.values():
            if is_use(self.pkg, td.id):
                continue
            name = self.names[td.id]
            t = Named(td.id)
            if td.kind == "alias":
                assert td.target is not None
                o += [""] + _docs(td.docs, "") + [f"pub type {name} = {self.ty(td.target)};"]
                continue
            getattr(self, f"_emit_{td.kind}")(td, name, t, o)

    def _emit_resource(self, td: object, name: str, t: Named, o: list[str]) -> None:
        """A host-defined resource: a handle the guest owns; lowering it as `own` hands it over, dropping
        it tells the host (`[resource-drop]`); `&Name` lends it for one call."""
        d = self.pkg.typedefs[t.id]
        qualified = next((i.qualified for w in self.pkg.worlds for i in (*w.imports, *w.exports) if t.id in i.types),
                         f"{self.pkg.name}/{d.interface}")
        o += [""] + _docs(d.docs or f"Resource `{d.name}`: a handle to an object the host keeps.", "")
        o += ["#[derive(Debug)]", f"pub struct {name} {{", "    handle: core::cell::Cell<u32>,", "}", "",
              f"impl {name} {{",
              "    /// Takes over a raw handle, as the canonical ABI passes it.",
              "    ///",
              "    /// # Safety",
              "    /// `handle` must be an owned handle of this resource type that nothing else drops.",
              f"    pub unsafe fn from_handle(handle: u32) -> {name} {{",
              f"        {name} {{ handle: core::cell::Cell::new(handle) }}", "    }",
              "    /// The raw handle.", "    pub fn handle(&self) -> u32 {", "        self.handle.get()", "    }",
              "}", "",
              f"impl Drop for {name} {{", "    fn drop(&mut self) {",
              "        #[cfg(target_arch = \"wasm32\")]",
              f"        #[link(wasm_import_module = \"{qualified}\")]",
              "        extern \"C\" {",
              f"            #[link_name = \"[resource-drop]{d.name}\"]",
              "            fn drop_handle(handle: i32);",
              "        }",
              "        #[cfg(not(target_arch = \"wasm32\"))]",
              "        unsafe fn drop_handle(_: i32) {}",
              "        let handle = self.handle.replace(u32::MAX);",
              "        if handle != u32::MAX {",
              "            unsafe { drop_handle(handle as i32) }",
              "        }", "    }", "}", "",
              f"unsafe impl Lower for {name} {{",
              "    const SIZE: usize = 4;", "    const ALIGN: usize = 4;", "    const FLAT: usize = 1;",
              "    unsafe fn store(&self, ptr: *mut u8, _cx: &mut abi::Cleanup) {",
              "        (ptr as *mut u32).write_unaligned(self.handle.replace(u32::MAX)) // handed over",
              "    }",
              "    fn lower_flat(&self, out: &mut Vec<u64>, _cx: &mut abi::Cleanup) {",
              "        out.push(self.handle.replace(u32::MAX) as u64) // handed over",
              "    }", "}", "",
              f"unsafe impl Lift for {name} {{",
              "    unsafe fn load(ptr: *const u8) -> Self {",
              f"        {name}::from_handle((ptr as *const u32).read_unaligned())", "    }",
              "    unsafe fn lift_flat(it: &mut abi::Flat) -> Self {",
              f"        {name}::from_handle(it.next() as u32)", "    }", "}", "",
              f"unsafe impl<'a> Lower for &'a {name} {{",
              "    const SIZE: usize = 4;", "    const ALIGN: usize = 4;", "    const FLAT: usize = 1;",
              "    unsafe fn store(&self, ptr: *mut u8, _cx: &mut abi::Cleanup) {",
              "        (ptr as *mut u32).write_unaligned(self.handle()) // lent",
              "    }",
              "    fn lower_flat(&self, out: &mut Vec<u64>, _cx: &mut abi::Cleanup) {",
              "        out.push(self.handle() as u64) // lent",
              "    }", "}"]

    def _emit_record(self, td: object, name: str, t: Named, o: list[str]) -> None:
        fields = self.pkg.typedefs[t.id].fields
        offsets = self.layout.offsets([f.type for f in fields])
        o += [""] + _docs(self.pkg.typedefs[t.id].docs, "")
        o += ["#[derive(Debug)]" if self.has_handle(t) else "#[derive(Clone, Debug, PartialEq)]", f"pub struct {name} {{"]
        for f in fields:
            o += _docs(f.docs, "    ") + [f"    pub {rust_snake(f.name)}: {self.ty(f.type)},"]
        o += ["}", "", f"unsafe impl Lower for {name} {{"]
        self.consts(t, o)
        o.append("    unsafe fn store(&self, ptr: *mut u8, cx: &mut abi::Cleanup) {")
        for f, off in zip(fields, offsets):
            o.append(f"        self.{rust_snake(f.name)}.store(ptr.add({off}), cx);")
        if not fields:
            o.append("        let _ = (ptr, cx);")
        o += ["    }", "    fn lower_flat(&self, out: &mut Vec<u64>, cx: &mut abi::Cleanup) {"]
        for f in fields:
            o.append(f"        self.{rust_snake(f.name)}.lower_flat(out, cx);")
        if not fields:
            o.append("        let _ = (out, cx);")
        o += ["    }", "}", "", f"unsafe impl Lift for {name} {{",
              "    unsafe fn load(ptr: *const u8) -> Self {", f"        {name} {{"]
        for f, off in zip(fields, offsets):
            o.append(f"            {rust_snake(f.name)}: <{self.ty(f.type)} as Lift>::load(ptr.add({off})),")
        o += ["        }", "    }", "    unsafe fn lift_flat(it: &mut abi::Flat) -> Self {", f"        {name} {{"]
        for f in fields:
            o.append(f"            {rust_snake(f.name)}: <{self.ty(f.type)} as Lift>::lift_flat(it),")
        o += ["        }", "    }", "}"]

    def _emit_variant(self, td: object, name: str, t: Named, o: list[str], enum: bool = False) -> None:
        d = self.pkg.typedefs[t.id]
        disc = _DISC_TYPE[discriminant_size(len(d.cases))]
        off = self.layout.payload_offset(t)
        o += [""] + _docs(d.docs, "")
        o.append("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]" if enum else
                 "#[derive(Debug)]" if self.has_handle(t) else "#[derive(Clone, Debug, PartialEq)]")
        o.append(f"pub enum {name} {{")
        for c in d.cases:
            o += _docs(c.docs, "    ")
            o.append(f"    {pascal(c.name)}" + ("" if c.type is None else f"({self.ty(c.type)})") + ",")
        o += ["}", "", f"unsafe impl Lower for {name} {{"]
        self.consts(t, o)
        o += ["    unsafe fn store(&self, ptr: *mut u8, cx: &mut abi::Cleanup) {",
              "        let _ = &cx;",
              "        match self {"]
        for i, c in enumerate(d.cases):
            pat = f"{name}::{pascal(c.name)}" + ("" if c.type is None else "(v)")
            o.append(f"            {pat} => {{")
            o.append(f"                (ptr as *mut {disc}).write_unaligned({i});")
            if c.type is not None:
                o.append(f"                v.store(ptr.add({off}), cx);")
            o.append("            }")
        o += ["        }", "    }",
              "    fn lower_flat(&self, out: &mut Vec<u64>, cx: &mut abi::Cleanup) {",
              "        let _ = &cx;",
              "        match self {"]
        for i, c in enumerate(d.cases):
            pat = f"{name}::{pascal(c.name)}" + ("" if c.type is None else "(v)")
            o += [f"            {pat} => {{", f"                out.push({i});"]
            if c.type is not None:
                o += ["                v.lower_flat(out, cx);",
                      f"                abi::pad(out, Self::FLAT - 1 - <{self.ty(c.type)} as Lower>::FLAT);"]
            else:
                o.append("                abi::pad(out, Self::FLAT - 1);")
            o.append("            }")
        o += ["        }", "    }", "}", "", f"unsafe impl Lift for {name} {{",
              "    unsafe fn load(ptr: *const u8) -> Self {",
              f"        match (ptr as *const {disc}).read_unaligned() {{"]
        for i, c in enumerate(d.cases):
            val = f"{name}::{pascal(c.name)}"
            if c.type is not None:
                val += f"(<{self.ty(c.type)} as Lift>::load(ptr.add({off})))"
            o.append(f"            {i} => {val},")
        o += [f"            d => panic!(\"invalid discriminant {{}} for {d.name}\", d),",
              "        }", "    }",
              "    unsafe fn lift_flat(it: &mut abi::Flat) -> Self {",
              "        match it.next() as u32 {"]
        for i, c in enumerate(d.cases):
            if c.type is None:
                o.append(f"            {i} => {{ it.skip(Self::FLAT - 1); {name}::{pascal(c.name)} }}")
            else:
                ct = self.ty(c.type)
                o += [f"            {i} => {{",
                      f"                let v = <{ct} as Lift>::lift_flat(it);",
                      f"                it.skip(Self::FLAT - 1 - <{ct} as Lower>::FLAT);",
                      f"                {name}::{pascal(c.name)}(v)",
                      "            }"]
        o += [f"            d => panic!(\"invalid discriminant {{}} for {d.name}\", d),",
              "        }", "    }", "}"]

    def _emit_enum(self, td: object, name: str, t: Named, o: list[str]) -> None:
        self._emit_variant(td, name, t, o, enum=True)

    def _emit_flags(self, td: object, name: str, t: Named, o: list[str]) -> None:
        d = self.pkg.typedefs[t.id]
        if len(d.cases) > 32:
            raise WitError(f"flags {d.name!r}: the Rust glue supports at most 32 flags")
        store_ty = {1: "u8", 2: "u16", 4: "u32"}[flags_size(len(d.cases))]
        o += [""] + _docs(d.docs, "")
        o += ["#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]",
              f"pub struct {name} {{", "    /// One bit per flag, in declaration order.", "    pub bits: u32,", "}",
              "", f"impl {name} {{"]
        for i, c in enumerate(d.cases):
            o += _docs(c.docs, "    ") + [f"    pub const {c.name.replace('-', '_').upper()}: {name} = {name} {{ bits: 1 << {i} }};"]
        o += ["    /// No flag set.",
              f"    pub const fn empty() -> {name} {{ {name} {{ bits: 0 }} }}",
              "    /// True when every flag of `other` is set here.",
              f"    pub fn contains(&self, other: {name}) -> bool {{ self.bits & other.bits == other.bits }}",
              "}", "", f"impl std::ops::BitOr for {name} {{", f"    type Output = {name};",
              f"    fn bitor(self, rhs: {name}) -> {name} {{ {name} {{ bits: self.bits | rhs.bits }} }}", "}",
              "", f"unsafe impl Lower for {name} {{"]
        self.consts(t, o)
        o += ["    unsafe fn store(&self, ptr: *mut u8, _cx: &mut abi::Cleanup) {",
              f"        (ptr as *mut {store_ty}).write_unaligned(self.bits as {store_ty})", "    }",
              "    fn lower_flat(&self, out: &mut Vec<u64>, _cx: &mut abi::Cleanup) {",
              "        out.push(self.bits as u64)", "    }", "}", "",
              f"unsafe impl Lift for {name} {{",
              "    unsafe fn load(ptr: *const u8) -> Self {",
              f"        {name} {{ bits: (ptr as *const {store_ty}).read_unaligned() as u32 }}", "    }",
              "    unsafe fn lift_flat(it: &mut abi::Flat) -> Self {",
              f"        {name} {{ bits: it.next() as u32 }}", "    }", "}"]

    # ----------------------------------------------------------- functions
    def _core_sig(self, f: Function, imported: bool) -> tuple[list[str], list[str], bool, bool]:
        flat_params = [ft for p in f.params for ft in self.layout.flat(p.type)]
        spill_params = len(flat_params) > MAX_FLAT_PARAMS
        params = ["i32"] if spill_params else flat_params
        results: list[str] = []
        spill_result = False
        if f.result is not None:
            flat_result = self.layout.flat(f.result)
            if len(flat_result) > MAX_FLAT_RESULTS:
                spill_result = True
                if imported:
                    params = params + ["i32"]
                else:
                    results = ["i32"]
            else:
                results = flat_result
        return params, results, spill_params, spill_result

    def _params_layout(self, f: Function) -> tuple[list[int], int, int]:
        types = [p.type for p in f.params]
        offs = self.layout.offsets(types)
        align = max([1] + [self.layout.align(t) for t in types])
        size = self.layout.record_end(types)
        return offs, (size + align - 1) // align * align, align

    def emit_import(self, iface: Interface, f: Function, o: list[str], indent: str = "") -> None:
        core_params, core_results, spill_params, spill_result = self._core_sig(f, imported=True)
        names = [rust_snake(p.name) for p in f.params]
        sig = [f"{n}: {self.param_ty(p.type)}" for n, p in zip(names, f.params)]
        if f.kind == "method":
            names[0], sig[0] = "self", "&self"
        sig_params = ", ".join(sig)
        ret = "" if f.result is None else f" -> {self.ty(f.result)}"
        core_args = ", ".join(f"a{i}: {t}" for i, t in enumerate(core_params))
        core_ret = "" if not core_results else f" -> {core_results[0]}"
        fname = rust_snake(f.short_name) if f.resource is not None else rust_snake(f.name)
        start = len(o)
        o += [""] + _docs(f.docs, "    ")
        o += [f"    pub fn {fname}({sig_params}){ret} {{",
              "        #[cfg(target_arch = \"wasm32\")]",
              f"        #[link(wasm_import_module = \"{iface.qualified}\")]",
              "        extern \"C\" {",
              f"            #[link_name = \"{f.name}\"]",
              f"            fn wit_import({core_args}){core_ret};",
              "        }",
              "        #[cfg(not(target_arch = \"wasm32\"))]",
              f"        unsafe fn wit_import({', '.join(f'_: {t}' for t in core_params)}){core_ret} {{",
              f"            unreachable!(\"{iface.qualified}#{f.name} exists only inside a component\")",
              "        }",
              "        unsafe {",
              "            let mut cx = abi::Cleanup::new();",
              "            let mut flat: Vec<u64> = Vec::new();"]
        if spill_params:
            offs, size, align = self._params_layout(f)
            o.append(f"            let area = cx.alloc({size}, {align});")
            for n, p, off in zip(names, f.params, offs):
                o.append("            " + self.lower_call(n, p.type, "store", f"area.add({off}), &mut cx"))
            o.append("            flat.push(area as usize as u64);")
        else:
            for n, p in zip(names, f.params):
                o.append("            " + self.lower_call(n, p.type, "lower_flat", "&mut flat, &mut cx"))
        rt = self.ty(f.result)
        if spill_result:
            o += [f"            let ret = cx.alloc(<{rt} as Lower>::SIZE, <{rt} as Lower>::ALIGN);",
                  "            flat.push(ret as usize as u64);"]
        args = ", ".join(_to_core(t, f"flat[{i}]") for i, t in enumerate(core_params))
        if spill_result:
            o += [f"            wit_import({args});", f"            <{rt} as Lift>::load(ret)"]
        elif core_results:
            o += [f"            let r = wit_import({args});",
                  f"            let vals = [{_from_core(core_results[0], 'r')}];",
                  f"            <{rt} as Lift>::lift_flat(&mut abi::Flat::new(&vals))"]
        elif f.result is not None:
            o += [f"            wit_import({args});", f"            <{rt} as Lift>::lift_flat(&mut abi::Flat::new(&[]))"]
        else:
            o += [f"            wit_import({args});", "            let _ = &mut cx;"]
        o += ["        }", "    }"]
        if indent:
            o[start:] = [indent + line if line else line for line in o[start:]]

    def emit_export(self, world: World, iface: Interface | None, f: Function, trait: str, o: list[str]) -> str:
        core_params, core_results, spill_params, spill_result = self._core_sig(f, imported=False)
        base = f"{snake(world.name)}_{'' if iface is None else snake(iface.name) + '_'}{snake(f.name)}"
        core_args = ", ".join(f"a{i}: {t}" for i, t in enumerate(core_params))
        core_ret = "" if not core_results else f" -> {core_results[0]}"
        o += ["", "#[doc(hidden)]",
              f"pub unsafe fn __export_{base}<G: {trait}>({core_args}){core_ret} {{"]
        names = [f"p{i}" for i in range(len(f.params))]
        if spill_params:
            offs, size, align = self._params_layout(f)
            o.append("    let area = a0 as usize as *mut u8;")
            for n, p, off in zip(names, f.params, offs):
                o.append(f"    let {n} = <{self.ty(p.type)} as Lift>::load(area.add({off}));")
            o.append(f"    abi::dealloc(area, {size}, {align});")
        else:
            vals = ", ".join(_from_core(t, f"a{i}") for i, t in enumerate(core_params))
            o += [f"    let vals: [u64; {len(core_params)}] = [{vals}];",
                  "    let mut it = abi::Flat::new(&vals);",
                  "    let _ = &mut it;"]
            for n, p in zip(names, f.params):
                o.append(f"    let {n} = <{self.ty(p.type)} as Lift>::lift_flat(&mut it);")
        o.append(f"    let r = G::{rust_snake(f.name)}({', '.join(names)});")
        rt = self.ty(f.result)
        if f.result is None:
            o.append("    let _ = r;")
        elif spill_result:
            o += ["    let mut cx = abi::Cleanup::new();",
                  f"    let area = cx.alloc(<{rt} as Lower>::SIZE, <{rt} as Lower>::ALIGN);",
                  "    r.store(area, &mut cx);",
                  "    abi::retain(Box::new(r), cx);",
                  "    area as usize as i32"]
        elif core_results:
            o += ["    let mut out: Vec<u64> = Vec::new();",
                  "    r.lower_flat(&mut out, &mut abi::Cleanup::new());",
                  f"    {_to_core(core_results[0], 'out[0]')}"]
        else:
            o.append("    let _ = r;")
        o.append("}")
        if spill_result:
            o += ["", "#[doc(hidden)]", f"pub unsafe fn __post_return_{base}(_ret: i32) {{",
                  "    abi::release();", "}"]
        export_name = f.name if iface is None else f"{iface.qualified}#{f.name}"
        call_args = ", ".join(f"a{i}" for i in range(len(core_params)))
        mac = [f"        #[export_name = \"{export_name}\"]",
               f"        unsafe extern \"C\" fn __wasmlet_export_{base}({core_args}){core_ret} {{",
               f"            $crate::{self.module_path}::__export_{base}::<$t>({call_args})",
               "        }"]
        if spill_result:
            mac += [f"        #[export_name = \"cabi_post_{export_name}\"]",
                    f"        unsafe extern \"C\" fn __wasmlet_post_{base}(ret: i32) {{",
                    f"            $crate::{self.module_path}::__post_return_{base}(ret)",
                    "        }"]
        return "\n".join(mac)

    def emit_world(self, world: World) -> None:
        o = self.out
        macro_body: list[str] = []
        groups: list[tuple[Interface | None, list[Function], str]] = []
        if world.export_functions:
            groups.append((None, world.export_functions, f"{pascal(world.name)}Guest"))
        for iface in world.exports:
            groups.append((iface, iface.functions, f"{pascal(iface.name)}Guest"))
        for group_iface, funcs, trait in groups:
            what = f"world `{world.name}`" if group_iface is None else f"`{group_iface.qualified}`"
            o += ["", f"/// The functions a guest of {what} exports.", f"pub trait {trait} {{"]
            for f in funcs:
                params = ", ".join(f"{rust_snake(p.name)}: {self.ty(p.type)}" for p in f.params)
                ret = "" if f.result is None else f" -> {self.ty(f.result)}"
                o += _docs(f.docs, "    ") + [f"    fn {rust_snake(f.name)}({params}){ret};"]
            o.append("}")
            for f in funcs:
                macro_body.append(self.emit_export(world, group_iface, f, trait, o))
        if groups:
            traits = ", ".join(t for _, _, t in groups)
            o += ["", f"/// Exports a type implementing {traits} as world `{world.name}`.",
                  "#[macro_export]", f"macro_rules! export_{snake(world.name)} {{",
                  "    ($t:ty) => {"] + macro_body + ["    };", "}"]

    def emit(self) -> str:
        self.emit_types()
        ifaces: list[Interface] = []
        for w in self.pkg.worlds:
            for i in w.imports:
                if i not in ifaces and i.functions:
                    ifaces.append(i)
        for iface in ifaces:
            self.out += [""] + _docs(iface.docs, "") + [f"pub mod {rust_snake(snake(iface.name))} {{",
                                                         "    #[allow(unused_imports)]", "    use super::*;"]
            for f in iface.functions:
                if f.resource is None:
                    self.emit_import(iface, f, self.out)
            for rid in [t for t in iface.types if self.pkg.typedefs[t].kind == "resource"]:
                self.out += ["", f"    impl {self.names[rid]} {{"]
                for f in iface.functions:
                    if f.resource == rid:
                        self.emit_import(iface, f, self.out, indent="    ")
                self.out.append("    }")
            self.out.append("}")
        for w in self.pkg.worlds:
            if w.import_functions:
                raise WitError("world-level imported functions are not supported")
            self.emit_world(w)
        head = [f"// Guest glue for `{self.pkg.name}`, generated by wasmlet bindgen from {self.source}.",
                f"// Do not edit: change the WIT and run `{self.regenerate}`.",
                "#![allow(clippy::all, dead_code, unused_unsafe, unused_mut, unused_variables, non_snake_case)]",
                "",
                f"use {self.abi_path} as abi;",
                "#[allow(unused_imports)]",
                "use abi::{Lift, Lower};"]
        return "\n".join(head + self.out) + "\n"


def generate_rust(pkg: Package, source: str, module_path: str = "bindings", abi_path: str = "crate::abi",
                  regenerate: str = "wasmlet bindgen") -> str:
    """The Rust guest glue for `pkg`; `regenerate` is the command its header names."""
    return RustEmitter(pkg, source, module_path, abi_path, regenerate).emit()
