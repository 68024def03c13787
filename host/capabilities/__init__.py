"""Host implementations of the WIT interfaces, one module per interface.

Each takes the invocation's context; a hostcall the manifest does not grant
returns `denied` and never reaches a backend. `sandbox.sandbox_imports` is the
set a component gets with no manifest (empty grants).
"""

from ._context import InvocationContext
from .log import GuestLog

__all__ = ["GuestLog", "InvocationContext"]
