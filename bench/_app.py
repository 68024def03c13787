"""An ASGI app serving one component, for benchmarking servers that import an app by path.

Environment: BENCH_WASM (component), BENCH_NAME (function name), BENCH_DISPATCH (auto|thread|inline).
"""

from __future__ import annotations

import os
from pathlib import Path

from wasmlet import Engine, Runtime
from wasmlet.asgi import Host, HostSettings
from wasmlet.registry import MemoryRegistry

_engine = Engine(cache_dir=Path(os.environ.get("BENCH_CACHE", ".wasmlet/bench-cache")))
_registry = MemoryRegistry()
_registry.put(os.environ.get("BENCH_NAME", "hello"), Path(os.environ["BENCH_WASM"]).read_bytes())
app = Host(Runtime(_engine), _registry, HostSettings(dispatch=os.environ.get("BENCH_DISPATCH", "auto"),
                                                   worker_threads=int(os.environ.get("BENCH_THREADS", "8"))))
