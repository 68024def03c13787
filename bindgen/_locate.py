"""Finds where a WIT declaration is written, for error messages: the parser's JSON has no spans."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """A place in a WIT file (line and column 1-based) and the line's text."""

    file: str
    line: int
    column: int
    text: str

    def snippet(self) -> str:
        """The line with a caret under the column, as the WIT parser shows its own errors."""
        return f"{self.line:>5} | {self.text}\n{'':>5} | {' ' * (self.column - 1)}^"


def wit_files(wit: Path) -> list[Path]:
    """The package's WIT files and those of its `deps/` (a file stands for itself)."""
    if wit.is_file():
        return [wit]
    files = sorted(wit.glob("*.wit"))
    deps = wit / "deps"
    if deps.is_dir():
        files += sorted(p for p in deps.rglob("*.wit") if p.is_file())
    return files


def _ident(name: str) -> str:
    """A regex for a WIT identifier, which may be written with a leading `%`."""
    return r"%?" + re.escape(name) + r"(?![\w-])"


def _block(kind: str, name: str) -> str:
    return rf"\b{kind}\s+{_ident(name)}"


def _first(files: list[Path], pattern: str, after: str | None) -> Span | None:
    """The first match of `pattern`, preferring one after a match of `after` in the same file."""
    rx = re.compile(pattern, re.MULTILINE)
    anchor = re.compile(after, re.MULTILINE) if after else None
    fallback: Span | None = None
    for path in files:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        start = 0
        if anchor is not None:
            a = anchor.search(text)
            start = a.end() if a else len(text) + 1
        for m in rx.finditer(text):
            span = _span(path, text, m.start(m.lastindex or 0))
            if m.start() >= start:
                return span
            fallback = fallback or span
    return fallback


def _span(path: Path, text: str, pos: int) -> Span:
    line = text.count("\n", 0, pos) + 1
    begin = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return Span(str(path), line, pos - begin + 1, text[begin:end if end >= 0 else len(text)])


def find_type(wit: Path, name: str, owner: str | None) -> Span | None:
    """Where type `name` (a record, variant, enum, flags, alias or resource) is declared."""
    kinds = r"(?:record|variant|enum|flags|type|resource)"
    after = _block(r"(?:interface|world)", owner) if owner else None
    return _first(wit_files(wit), rf"\b{kinds}\s+({_ident(name)})", after)


def find_function(wit: Path, name: str, owner: str | None) -> Span | None:
    """Where function `name` is declared: `name: func`, a resource's method or constructor."""
    if name.startswith("["):  # [method]res.name, [static]res.name, [constructor]res
        kind, _, rest = name[1:].partition("]")
        resource, _, member = rest.partition(".")
        if kind == "constructor":
            return _first(wit_files(wit), r"\b(constructor)\s*\(", _block("resource", resource))
        name = member
    after = _block(r"(?:interface|world)", owner) if owner else None
    return _first(wit_files(wit), rf"(?:^|[\s{{;])({_ident(name)})\s*:\s*(?:async\s+)?func\b", after)


def find_world(wit: Path, name: str) -> Span | None:
    """Where world `name` is declared."""
    return _first(wit_files(wit), rf"\bworld\s+({_ident(name)})", None)
