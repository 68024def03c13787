"""wasi:http 0.2 for standard `wasi:http/proxy` components, served beside wasmlet functions.

`Provider` implements every WASI interface such a component may import (generated bindings in
`wasmlet.bindings.wasi_http`, from the standard WIT) and calls its `incoming-handler`.
"""

from .provider import HANDLER, Provider, exported_handler, provides

__all__ = ["HANDLER", "Provider", "exported_handler", "provides"]
