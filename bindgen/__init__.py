"""wasmlet bindgen: WIT -> typed Python host bindings and Rust guest glue."""

from ._model import Package, WitError, load, load_dir
from ._python import generate_python
from ._rust import generate_rust
from .cli import main

__all__ = ["Package", "WitError", "generate_python", "generate_rust", "load", "load_dir", "main"]
