"""wasmlet bindgen: WIT -> typed Python host bindings, Rust guest glue and TypeScript declarations.

The generator is loaded on first use, so importing this package costs nothing until it
generates. The bindings' run-time support is `wasmlet.bindings._abi`, not part of it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._model import Package, WitError, load, load_dir
    from ._python import generate_python
    from ._rust import generate_rust
    from ._typescript import generate_typescript
    from .cli import main

__all__ = ["Package", "WitError", "generate_python", "generate_rust", "generate_typescript", "load", "load_dir",
           "main"]

_WHERE = {"Package": "._model", "WitError": "._model", "load": "._model", "load_dir": "._model",
          "generate_python": "._python", "generate_rust": "._rust", "generate_typescript": "._typescript",
          "main": ".cli"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name], __name__), name)
