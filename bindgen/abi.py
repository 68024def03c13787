"""Compatibility name for the run-time support of generated host bindings, which lives in
`wasmlet.bindings._abi` next to them so that the host never imports the generator.

Bindings generated before that move import `wasmlet_bindgen.abi`; they keep working
through this re-export. New bindings import `wasmlet.bindings._abi` directly.
"""

from __future__ import annotations

from wasmlet.bindings._abi import *  # noqa: F403
from wasmlet.bindings._abi import __all__ as __all__
