"""wasmlet: a function-as-a-service host for WebAssembly components."""

from .bindings.faas import Body, BodyBytes, BodyOctets, BodyText, Event, EventCall, EventHttp, Request, Response
from .bodies import body_bytes, body_from_bytes
from .capabilities import InvocationContext
from .embed import Err, HostCallError, Ok, Plugin, PluginInstance, load_plugin
from .engine import Engine, EngineSettings
from .errors import GuestTrap, InvocationError, LoadError, OutOfMemory, Timeout
from .manifest import Limits, Manifest
from .runtime import CompiledFunction, Runtime

__version__ = "0.1.0"

__all__ = [
    "Body", "BodyBytes", "BodyOctets", "BodyText", "CompiledFunction", "Engine", "EngineSettings", "Err", "Event", "EventCall", "EventHttp",
    "GuestTrap", "HostCallError", "InvocationContext", "InvocationError", "Limits", "LoadError", "Manifest", "Ok",
    "OutOfMemory", "Plugin", "PluginInstance", "Request", "Response", "Runtime", "Timeout", "body_bytes",
    "body_from_bytes", "load_plugin",
]
