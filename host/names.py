"""The one rule for function names, shared by `wasmlet new`, `wasmlet dev -m` and the registry.

A name is a URL path segment, a directory, a Rust crate and a Python module name
at once: lower-case ASCII letters, digits, `-` and `_`, starting with a letter,
at most 63 characters.
"""

from __future__ import annotations

import re

FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def check_function_name(name: str) -> str:
    """`name` when it is a valid function name; otherwise `ValueError` saying what is allowed."""
    if not FUNCTION_NAME.fullmatch(name):  # `$` alone would let a final newline in
        raise ValueError(f"invalid function name {name!r}: use a-z, 0-9, '-' and '_', starting with a letter "
                         "(at most 63 characters)")
    return name
