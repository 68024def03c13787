"""`wasmlet bindgen`: generate (or `--check`) bindings for any WIT package, or regenerate the
targets listed in pyproject.toml when no WIT_DIR is given."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ._model import WitError, load, load_dir, main_package, read_wit_json, world_names
from ._python import generate_python
from ._rust import generate_rust
from ._typescript import generate_typescript

USAGE = """\
wasmlet bindgen [--root DIR] [--check]
       wasmlet bindgen WIT_DIR [--world W] [--python OUT.py] [--rust OUT.rs] [--rust-abi PATH]
                       [--rust-module PATH] [--typescript OUT.d.ts] [--check]"""

EPILOG = """\
Without WIT_DIR, the [[tool.wasmlet.bindgen.targets]] of the nearest pyproject.toml are regenerated.
With WIT_DIR (a WIT package: a folder of .wit files, with its dependencies in deps/), typed Python host
bindings, Rust guest glue and/or TypeScript declarations for a JavaScript guest (componentize-js) are
generated for one world of it (--world; needed when it has several).
Exit status: 0 done (or up to date), 1 --check found a difference, 2 the WIT or the arguments are wrong."""


@dataclass(frozen=True)
class Target:
    """One WIT directory and the files generated from it."""

    wit: str
    python: str | None = None
    rust: str | None = None
    rust_module: str = "bindings"
    rust_abi: str = "crate::abi"
    typescript: str | None = None


def find_root(start: Path) -> Path:
    """The nearest directory holding a pyproject.toml with bindgen targets."""
    for d in [start, *start.parents]:
        if (d / "pyproject.toml").is_file() and "tool.wasmlet.bindgen" in (d / "pyproject.toml").read_text():
            return d
    raise SystemExit("wasmlet bindgen: no pyproject.toml with [tool.wasmlet.bindgen] here or above "
                     "(or give a WIT_DIR: wasmlet bindgen WIT_DIR --python OUT.py)")


def targets_from(root: Path) -> list[Target]:
    data = tomllib.loads((root / "pyproject.toml").read_text())
    raw = data["tool"]["wasmlet"]["bindgen"]["targets"]
    return [Target(t["wit"], t.get("python"), t.get("rust"), t.get("rust-module", "bindings"),
                   t.get("rust-abi", "crate::abi"), t.get("typescript")) for t in raw]


def render(root: Path, target: Target) -> dict[Path, str]:
    """The generated files of one target, by path."""
    pkg = load_dir(root / target.wit, resources=not target.typescript)
    out: dict[Path, str] = {}
    if target.python:
        out[root / target.python] = generate_python(pkg, f"{target.wit}/")
    if target.rust:
        out[root / target.rust] = generate_rust(pkg, f"{target.wit}/", target.rust_module, target.rust_abi)
    if target.typescript:
        out[root / target.typescript] = generate_typescript(pkg, f"{target.wit}/")
    return out


def _rel(path: Path, base: Path) -> str:
    """`path` relative to `base`, with forward slashes (what generated headers show)."""
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base))).as_posix()


def render_package(wit: Path, world: str | None, python: Path | None, rust: Path | None,
                   rust_module: str = "bindings", rust_abi: str = "crate::abi",
                   typescript: Path | None = None) -> dict[Path, str]:
    """The files generated for one world of the WIT package at `wit`, by path.

    The world may be left out when the package has exactly one. Each file's header names the WIT
    relative to the file and the command that regenerates it (its paths relative to the first output's
    folder), so the output does not depend on the directory bindgen runs in."""
    doc = read_wit_json(wit)
    if world is None:
        names = world_names(doc, wit)
        pkg_name = doc["packages"][main_package(doc, wit)]["name"]
        if not names:
            raise WitError(f"{wit}: package {pkg_name} has no world to generate bindings for")
        if len(names) > 1:
            raise WitError(f"{wit}: package {pkg_name} has {len(names)} worlds ({', '.join(names)}); "
                           "choose one with --world")
        world = names[0]
    pkg = load(doc, world, wit, resources=typescript is None)  # TypeScript has no resources yet
    outputs = [p for p in (python, rust, typescript) if p is not None]
    base = outputs[0].parent
    cmd = f"wasmlet bindgen {_rel(wit, base)} --world {world}"
    cmd += f" --python {_rel(python, base)}" if python else ""
    cmd += f" --rust {_rel(rust, base)}" if rust else ""
    cmd += f" --rust-module {rust_module}" if rust and rust_module != "bindings" else ""
    cmd += f" --rust-abi {rust_abi}" if rust and rust_abi != "crate::abi" else ""
    cmd += f" --typescript {_rel(typescript, base)}" if typescript else ""

    def how(out: Path) -> str:
        where = _rel(base, out.parent)
        return cmd if where == "." else f"{cmd}` in `{where}"

    def source(out: Path) -> str:
        return _rel(wit, out.parent) + ("/" if wit.is_dir() else "")

    files: dict[Path, str] = {}
    if python is not None:
        files[python] = generate_python(pkg, source(python), how(python))
    if rust is not None:
        files[rust] = generate_rust(pkg, source(rust), rust_module, rust_abi, how(rust))
    if typescript is not None:
        files[typescript] = generate_typescript(pkg, source(typescript), how(typescript))
    return files


def apply(files: dict[Path, str], check: bool, shown: dict[Path, tuple[str, str]]) -> int:
    """Writes the files that changed (or, with `check`, prints their diff); returns how many differ.

    `shown` gives each path's name in messages and what it is generated from."""
    stale = 0
    for path, text in files.items():
        old = path.read_text() if path.exists() else ""
        if old == text:
            continue
        name, origin = shown[path]
        if check:
            stale += 1
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(keepends=True), text.splitlines(keepends=True),
                f"a/{name} (committed)", f"b/{name} (from {origin})"))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {name}")
    return stale


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wasmlet bindgen", usage=USAGE, description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wit", nargs="?", type=Path, metavar="WIT_DIR",
                        help="a WIT package (default: the pyproject.toml targets)")
    parser.add_argument("--world", help="the world to generate for (default: the package's only world)")
    parser.add_argument("--python", type=Path, metavar="OUT.py", help="write typed Python host bindings here")
    parser.add_argument("--rust", type=Path, metavar="OUT.rs", help="write Rust guest glue here")
    parser.add_argument("--rust-module", default="bindings", metavar="PATH",
                        help="the glue's module path in its crate, as `mod bindings;` makes it (default: bindings)")
    parser.add_argument("--rust-abi", default="crate::abi", metavar="PATH",
                        help="the canonical-ABI runtime the glue uses (default: crate::abi; the Rust guest SDK's "
                             "is wasmlet_guest::abi)")
    parser.add_argument("--typescript", type=Path, metavar="OUT.d.ts",
                        help="write TypeScript declarations for a JavaScript/TypeScript guest (componentize-js) here")
    parser.add_argument("--root", type=Path, default=None, help="project root of the targets (default: found upwards)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and print a diff when generated files are stale")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    package_opts = args.world or args.python or args.rust or args.typescript or args.rust_module != "bindings" \
        or args.rust_abi != "crate::abi"
    if args.wit is None and package_opts:
        parser.error("--world, --python, --rust, --typescript, --rust-module and --rust-abi need a WIT_DIR")
    if args.wit is not None and args.root is not None:
        parser.error("--root is for the pyproject.toml targets; it does not go with a WIT_DIR")
    if args.wit is not None and not (args.python or args.rust or args.typescript):
        parser.error("say what to generate: --python OUT.py, --rust OUT.rs and/or --typescript OUT.d.ts")
    try:
        if args.wit is None:
            stale = _targets(args.root, args.check)
        else:
            files = render_package(args.wit, args.world, args.python, args.rust, args.rust_module, args.rust_abi,
                                   args.typescript)
            stale = apply(files, args.check, {p: (str(p), f"{args.wit}") for p in files})
    except WitError as exc:
        print(f"wasmlet bindgen: {exc}", file=sys.stderr)
        return 2
    if stale:
        again = "run `wasmlet bindgen`" if args.wit is None else "run the same command without --check"
        print(f"\nwasmlet bindgen --check: {stale} generated file(s) differ from the WIT; {again}", file=sys.stderr)
        return 1
    return 0


def _targets(root_arg: Path | None, check: bool) -> int:
    """Regenerates (or checks) every pyproject.toml target; returns how many files differ."""
    root = (root_arg or find_root(Path.cwd())).resolve()
    stale = 0
    for target in targets_from(root):
        files = render(root, target)
        stale += apply(files, check, {p: (str(p.relative_to(root)), f"{target.wit}/") for p in files})
    return stale
