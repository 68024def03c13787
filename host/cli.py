"""The `wasmlet` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import BuildError, build_python, build_rust, detect


def _cmd_bindgen(args: argparse.Namespace) -> int:
    from wasmlet_bindgen.cli import main as bindgen_main

    return bindgen_main(args.rest)


def _cmd_build(args: argparse.Namespace) -> int:
    src = Path(args.dir)
    try:
        language = detect(src)
        out = Path(args.output) if args.output else src / f"{src.resolve().name}.wasm"
        built = build_rust(src, out) if language == "rust" else build_python(src, out)
    except BuildError as exc:
        print(f"wasmlet build: {exc}", file=sys.stderr)
        return 1
    print(f"built {built} ({built.stat().st_size:,} bytes, {language})")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .errors import LoadError
    from .runtime import Runtime

    path = Path(args.file)
    with Engine() as engine:
        try:
            fn = Runtime(engine).load_file(path)
        except (OSError, LoadError) as exc:
            print(f"wasmlet inspect: {path}: {exc}", file=sys.stderr)
            return 1
        ctype = fn.component.type
        print(f"{path}: {fn.size:,} bytes, sha256 {fn.sha256}")
        print("world: wasmlet:faas/function" + (" (+ WASI 0.2)" if fn.uses_wasi else " (no WASI)"))
        print("imports:")
        for name in sorted(ctype.imports(engine.wasm)):
            print(f"  {name}")
        print("exports:")
        for name in sorted(ctype.exports(engine.wasm)):
            print(f"  {name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wasmlet", description="Serve WebAssembly components as functions.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bindgen", help="regenerate (or --check) bindings from wit/", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_bindgen)
    p = sub.add_parser("build", help="build a Rust (Cargo.toml) or Python (app.py) function into a component")
    p.add_argument("dir", nargs="?", default=".")
    p.add_argument("-o", "--output")
    p.set_defaults(func=_cmd_build)
    p = sub.add_parser("inspect", help="print a component's world, imports, exports and size")
    p.add_argument("file")
    p.set_defaults(func=_cmd_inspect)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bindgen"]:
        from wasmlet_bindgen.cli import main as bindgen_main

        return bindgen_main(argv[1:])
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
