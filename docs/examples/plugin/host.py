"""The application side of the plugin walk-through (docs/embedding.md): load a plugin built for
world `example:plugin/plugin`, give it `host.log`, and call its `transform` with typed values.

    python host.py rust/plugin.wasm hello world          # a Rust plugin
    python host.py --wasi python/plugin.wasm hello world # a componentize-py plugin needs WASI
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import plugin_bindings as pb  # generated: wasmlet bindgen wit --python plugin_bindings.py …

import wasmlet
from wasmlet import Err, Limits, Ok


class AppHost:
    """The application's implementation of interface `host` (it satisfies `pb.HostHost`)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, msg: str) -> None:
        self.lines.append(msg)
        print(f"[plugin] {msg}", file=sys.stderr)


LIMITS = Limits(timeout_ms=1000, memory_mb=64)
"""Per call: a second of wall-clock time and 64 MB of linear memory."""


def load(component: Path, host: AppHost, *, wasi: bool = False,
         limits: Limits = LIMITS) -> wasmlet.Plugin[pb.PluginExports]:
    """Loads the plugin once; every call then runs in a fresh instance under `limits`."""
    return wasmlet.load_plugin(component, pb.PluginExports, imports={"host": host}, limits=limits, wasi=wasi)


def transform_all(plugin: wasmlet.Plugin[pb.PluginExports], texts: list[str]) -> list[str]:
    """Each text transformed, or the plugin's error message for it."""
    out = []
    for text in texts:
        result = plugin.call(pb.PluginExports.transform, text)  # type-checked: str in, Result[str, str] out
        match result:
            case Ok(value):
                out.append(value)
            case Err(message):
                out.append(f"error: {message}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("component", type=Path)
    parser.add_argument("texts", nargs="*")
    parser.add_argument("--wasi", action="store_true", help="give the plugin an empty WASI (componentize-py needs it)")
    args = parser.parse_args(argv)
    host = AppHost()
    try:
        plugin = load(args.component, host, wasi=args.wasi)
        for line in transform_all(plugin, args.texts):
            print(line)
    except (wasmlet.LoadError, wasmlet.InvocationError) as exc:
        print(f"plugin failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
