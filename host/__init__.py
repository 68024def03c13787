"""wasmlet: a function-as-a-service host for WebAssembly components."""

from typing import TYPE_CHECKING, Any

from .bindings._abi import Err, Ok
from .bindings.faas import Body, BodyBytes, BodyOctets, BodyText, Event, EventCall, EventHttp, Request, Response
from .bodies import body_bytes, body_from_bytes
from .capabilities import InvocationContext
from .engine import Engine, EngineSettings
from .errors import GuestTrap, InvocationError, LoadError, OutOfMemory, Timeout
from .manifest import Limits, Manifest
from .runtime import CompiledFunction, Runtime

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .embed import HostCallError, Plugin, PluginInstance, load_plugin

_LAZY = {"HostCallError", "Plugin", "PluginInstance", "load_plugin"}
"""Names of `wasmlet.embed`, imported on first use: a server's start does not pay for the plugin API."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import embed

        return getattr(embed, name)
    raise AttributeError(f"module 'wasmlet' has no attribute {name!r}")

__all__ = [
    "Body", "BodyBytes", "BodyOctets", "BodyText", "CompiledFunction", "Engine", "EngineSettings", "Err", "Event", "EventCall", "EventHttp",
    "GuestTrap", "HostCallError", "InvocationContext", "InvocationError", "Limits", "LoadError", "Manifest", "Ok",
    "OutOfMemory", "Plugin", "PluginInstance", "Request", "Response", "Runtime", "Timeout", "body_bytes",
    "body_from_bytes", "load_plugin",
]
