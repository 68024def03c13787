"""Host implementations of the WIT interfaces, one module per interface.

Each takes the invocation's context; a hostcall the manifest does not grant
returns `denied` and never reaches a backend.
"""

from ._context import InvocationContext
from .denied import DeniedConfig, DeniedKv, DeniedModules, DeniedOutboundHttp, DeniedSql
from .log import GuestLog

__all__ = [
    "DeniedConfig", "DeniedKv", "DeniedModules", "DeniedOutboundHttp", "DeniedSql",
    "GuestLog", "InvocationContext",
]
# The granted implementations (config, kv, sql, outbound_http, modules) and the
# runtime config (backends) are imported from their modules: they depend on the
# manifest, which itself depends on the runtime.
