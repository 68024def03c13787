"""`wasmlet.testing`: integration tests of a compiled function, in process, over httpx.

`FunctionHarness` serves one function (a `.wasm` or a source folder, built once per
content) on the production host: same runtime, limits and manifest checks, with
its kv/sql in a temporary directory, outbound HTTP answered by mocks, module calls
routed to other harnesses or stubs, and its logs and calls recorded. The pytest
plugin (`wasmlet_function` fixture) is registered by the `pytest11` entry point.
See docs/testing.md.
"""

from ..build import BuildError
from ._build import build_cached as build_function
from ._build import source_digest
from ._harness import HARNESS_BASE, FunctionHarness, ModuleStub, RecordedModuleCall, shared_runtime
from ._logs import LogLine
from ._mocks import HttpMock, MockHandler, OutboundCall

__all__ = [
    "HARNESS_BASE", "BuildError", "FunctionHarness", "HttpMock", "LogLine", "MockHandler", "ModuleStub",
    "OutboundCall", "RecordedModuleCall", "build_function", "shared_runtime", "source_digest",
]
