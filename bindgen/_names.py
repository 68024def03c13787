"""Naming rules shared by the Python and Rust emitters."""

from __future__ import annotations

import keyword

from ._model import Named, Package

RUST_KEYWORDS = {
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do",
    "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
}


def pascal(name: str) -> str:
    """`outgoing-request` -> `OutgoingRequest`."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


def snake(name: str) -> str:
    """`not-found` -> `not_found`, escaping Python keywords."""
    ident = name.replace("-", "_")
    return ident + "_" if keyword.iskeyword(ident) or ident in {"match", "case", "type"} else ident


def rust_snake(name: str) -> str:
    ident = name.replace("-", "_")
    return f"r#{ident}" if ident in RUST_KEYWORDS and ident not in {"self", "Self", "crate", "super"} else ident


def upper(name: str) -> str:
    return name.replace("-", "_").upper()


def class_names(pkg: Package) -> dict[int, str]:
    """A class name per named type: plain when unique, else prefixed with its interface."""
    count: dict[str, int] = {}
    for td in pkg.typedefs.values():
        if not is_use(pkg, td.id):
            count[td.name] = count.get(td.name, 0) + 1
    names: dict[int, str] = {}
    for td in pkg.typedefs.values():
        if is_use(pkg, td.id):
            continue
        base = pascal(td.name)
        if count[td.name] > 1 and td.interface is not None:
            base = pascal(td.interface) + base
        names[td.id] = base
    for td in pkg.typedefs.values():
        if is_use(pkg, td.id):
            names[td.id] = names[use_target(pkg, td.id)]
    return names


def use_target(pkg: Package, idx: int) -> int:
    """Follows `use` re-exports to the type's definition."""
    while is_use(pkg, idx):
        target = pkg.typedefs[idx].target
        assert isinstance(target, Named)
        idx = target.id
    return idx


def is_use(pkg: Package, idx: int) -> bool:
    """True for the alias a `use` creates: same name as the type it names."""
    td = pkg.typedefs[idx]
    return (
        td.kind == "alias"
        and isinstance(td.target, Named)
        and pkg.typedefs[td.target.id].name == td.name
    )
