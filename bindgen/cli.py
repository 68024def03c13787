"""`wasmlet bindgen`: regenerate (or `--check`) the bindings listed in pyproject.toml."""

from __future__ import annotations

import argparse
import difflib
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ._model import WitError, load_dir
from ._python import generate_python
from ._rust import generate_rust


@dataclass(frozen=True)
class Target:
    """One WIT directory and the files generated from it."""

    wit: str
    python: str | None = None
    rust: str | None = None
    rust_module: str = "bindings"
    rust_abi: str = "crate::abi"


def find_root(start: Path) -> Path:
    """The nearest directory holding a pyproject.toml with bindgen targets."""
    for d in [start, *start.parents]:
        if (d / "pyproject.toml").is_file() and "tool.wasmlet.bindgen" in (d / "pyproject.toml").read_text():
            return d
    raise SystemExit("wasmlet bindgen: no pyproject.toml with [tool.wasmlet.bindgen] here or above")


def targets_from(root: Path) -> list[Target]:
    data = tomllib.loads((root / "pyproject.toml").read_text())
    raw = data["tool"]["wasmlet"]["bindgen"]["targets"]
    return [Target(t["wit"], t.get("python"), t.get("rust"), t.get("rust-module", "bindings"),
                   t.get("rust-abi", "crate::abi")) for t in raw]


def render(root: Path, target: Target) -> dict[Path, str]:
    """The generated files of one target, by path."""
    pkg = load_dir(root / target.wit)
    out: dict[Path, str] = {}
    if target.python:
        out[root / target.python] = generate_python(pkg, f"{target.wit}/")
    if target.rust:
        out[root / target.rust] = generate_rust(pkg, f"{target.wit}/", target.rust_module, target.rust_abi)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wasmlet bindgen", description=__doc__)
    parser.add_argument("--root", type=Path, default=None, help="project root (default: found upwards)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and print a diff when generated files are stale")
    args = parser.parse_args(argv)
    root = (args.root or find_root(Path.cwd())).resolve()
    stale = 0
    try:
        for target in targets_from(root):
            for path, text in render(root, target).items():
                old = path.read_text() if path.exists() else ""
                if old == text:
                    continue
                rel = path.relative_to(root)
                if args.check:
                    stale += 1
                    sys.stdout.writelines(difflib.unified_diff(
                        old.splitlines(keepends=True), text.splitlines(keepends=True),
                        f"a/{rel} (committed)", f"b/{rel} (from {target.wit}/)"))
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
                    print(f"wrote {rel}")
    except WitError as exc:
        print(f"wasmlet bindgen: {exc}", file=sys.stderr)
        return 2
    if stale:
        print(f"\nwasmlet bindgen --check: {stale} generated file(s) differ from the WIT; run `wasmlet bindgen`",
              file=sys.stderr)
        return 1
    return 0
