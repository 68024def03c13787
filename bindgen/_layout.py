"""Canonical ABI layout: sizes, alignments and flattening of WIT types."""

from __future__ import annotations

from ._model import Handle, ListT, Named, OptionT, Package, Prim, ResultT, TupleT, Type

MAX_FLAT_PARAMS = 16
MAX_FLAT_RESULTS = 1

_PRIM_SIZE = {
    "bool": 1, "u8": 1, "s8": 1, "u16": 2, "s16": 2, "u32": 4, "s32": 4, "char": 4,
    "f32": 4, "u64": 8, "s64": 8, "f64": 8, "string": 8,
}
_PRIM_FLAT = {
    "u64": ["i64"], "s64": ["i64"], "f32": ["f32"], "f64": ["f64"], "string": ["i32", "i32"],
}


def align_to(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def discriminant_size(n: int) -> int:
    return 1 if n <= 1 << 8 else 2 if n <= 1 << 16 else 4


def flags_size(n: int) -> int:
    return 1 if n <= 8 else 2 if n <= 16 else 4 * ((n + 31) // 32)


class Layout:
    """Answers size, alignment and flat types for the types of one package."""

    def __init__(self, pkg: Package) -> None:
        self.pkg = pkg

    def cases(self, t: Type) -> list[Type | None] | None:
        """The payload types when `t` is variant-like (variant, enum, option, result)."""
        t = self.pkg.resolve(t)
        if isinstance(t, OptionT):
            return [None, t.inner]
        if isinstance(t, ResultT):
            return [t.ok, t.err]
        if isinstance(t, Named):
            td = self.pkg.typedefs[t.id]
            if td.kind in ("variant", "enum"):
                return [c.type for c in td.cases]
        return None

    def fields(self, t: Type) -> list[Type] | None:
        t = self.pkg.resolve(t)
        if isinstance(t, TupleT):
            return list(t.elems)
        if isinstance(t, Named) and self.pkg.typedefs[t.id].kind == "record":
            return [f.type for f in self.pkg.typedefs[t.id].fields]
        return None

    def align(self, t: Type) -> int:
        t = self.pkg.resolve(t)
        if isinstance(t, Handle):
            return 4
        if isinstance(t, Prim):
            return 4 if t.name == "string" else _PRIM_SIZE[t.name]
        if isinstance(t, ListT):
            return 4
        fields = self.fields(t)
        if fields is not None:
            return max([1] + [self.align(f) for f in fields])
        cases = self.cases(t)
        if cases is not None:
            return max([discriminant_size(len(cases))] + [self.align(c) for c in cases if c is not None])
        assert isinstance(t, Named)
        n = len(self.pkg.typedefs[t.id].cases)
        return min(4, flags_size(n))

    def size(self, t: Type) -> int:
        t = self.pkg.resolve(t)
        if isinstance(t, Handle):
            return 4
        if isinstance(t, Prim):
            return _PRIM_SIZE[t.name]
        if isinstance(t, ListT):
            return 8
        fields = self.fields(t)
        if fields is not None:
            return align_to(self.record_end(fields), self.align(t))
        cases = self.cases(t)
        if cases is not None:
            off = self.payload_offset(t)
            return align_to(off + max([0] + [self.size(c) for c in cases if c is not None]), self.align(t))
        assert isinstance(t, Named)
        return flags_size(len(self.pkg.typedefs[t.id].cases))

    def offsets(self, fields: list[Type]) -> list[int]:
        out, off = [], 0
        for f in fields:
            off = align_to(off, self.align(f))
            out.append(off)
            off += self.size(f)
        return out

    def record_end(self, fields: list[Type]) -> int:
        off = 0
        for f in fields:
            off = align_to(off, self.align(f)) + self.size(f)
        return off

    def payload_offset(self, t: Type) -> int:
        cases = self.cases(t)
        assert cases is not None
        max_align = max([1] + [self.align(c) for c in cases if c is not None])
        return align_to(discriminant_size(len(cases)), max_align)

    def flat(self, t: Type) -> list[str]:
        t = self.pkg.resolve(t)
        if isinstance(t, Handle):
            return ["i32"]
        if isinstance(t, Prim):
            return list(_PRIM_FLAT.get(t.name, ["i32"]))
        if isinstance(t, ListT):
            return ["i32", "i32"]
        fields = self.fields(t)
        if fields is not None:
            return [ft for f in fields for ft in self.flat(f)]
        cases = self.cases(t)
        if cases is not None:
            joined: list[str] = []
            for c in cases:
                if c is None:
                    continue
                for i, ft in enumerate(self.flat(c)):
                    if i < len(joined):
                        joined[i] = _join(joined[i], ft)
                    else:
                        joined.append(ft)
            return ["i32"] + joined
        assert isinstance(t, Named)
        n = len(self.pkg.typedefs[t.id].cases)
        return ["i32"] * max(1, (n + 31) // 32)


def _join(a: str, b: str) -> str:
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"
