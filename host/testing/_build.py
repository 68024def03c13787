"""Builds a function's source folder once per content: the harness reuses the component until a source file changes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .. import __version__
from .. import build as _build_tools
from ..build import BuildError, build, detect

CACHE_ENV = "WASMLET_HARNESS_CACHE"
"""Overrides where built components are kept (default: `.wasmlet/harness-build` under the working directory)."""
_SKIPPED_DIRS = frozenset({"target", "__pycache__", "node_modules", "tests", "integration"})
"""Folders that never reach the component: build output and the function's own tests."""
_SKIPPED_SUFFIXES = (".wasm", ".cwasm", ".pyc", ".pyo", "~", ".swp")


def default_cache_dir() -> Path:
    """Where built components are kept: `$WASMLET_HARNESS_CACHE`, else `.wasmlet/harness-build` here."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.cwd() / ".wasmlet" / "harness-build"


def _source_files(root: Path) -> Iterator[Path]:
    """The files of `root` that can change the component, in a stable order."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in _SKIPPED_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        if rel.name.startswith(".") or rel.name.endswith(_SKIPPED_SUFFIXES) or not path.is_file():
            continue
        yield path


def source_digest(src: Path, *, lock_file: bool = True) -> str:
    """A hash of everything a build of `src` reads: its sources, the WIT contract, the guest SDK and
    the build tool (never its `target/`, `tests/`, `integration/`, caches or built `.wasm` files);
    `lock_file=False` leaves out `Cargo.lock`, which the first cargo build writes."""
    src = src.resolve()
    language = detect(src)
    inputs: list[tuple[str, Path]] = [("src", src), ("wit", _build_tools.wit_dir()),
                                      ("build", Path(_build_tools.__file__))]
    if language == "rust":
        sdk = _build_tools.rust_sdk_dir()
        inputs += [("sdk", sdk / "src"), ("sdk-cargo", sdk / "Cargo.toml")]
    elif language == "js":
        sdk = _build_tools.js_sdk_dir()
        inputs += [("sdk", sdk / "src"), ("sdk-tools", sdk / "tools"), ("sdk-lock", sdk / "package-lock.json")]
    else:
        inputs += [("sdk", _build_tools.python_sdk_dir())]
    h = hashlib.sha256(f"wasmlet {__version__} {language}\n".encode())
    for label, base in inputs:
        files = [base] if base.is_file() else list(_source_files(base)) if base.is_dir() else []
        for path in files:
            rel = path.name if path == base else path.relative_to(base).as_posix()
            if not lock_file and label == "src" and rel == "Cargo.lock":
                continue
            data = path.read_bytes()
            h.update(f"{label}:{rel}:{len(data)}\n".encode())
            h.update(data)
    return h.hexdigest()[:20]


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Holds an exclusive lock on `lock_path`: two test processes never build the same source at once."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # no advisory locks here: builds may overlap, each result is written atomically
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def build_cached(src: Path, name: str, cache_dir: Path | None = None) -> tuple[Path, bool]:
    """The component built from `src` (`NAME-DIGEST.wasm` in the cache) and whether this call built it;
    raises `BuildError` with the build's own output when the build fails."""
    src = src.resolve()
    cache = (cache_dir or default_cache_dir()).resolve()
    out = cache / f"{name}-{source_digest(src)}.wasm"
    if out.is_file():
        return out, False
    with _exclusive(cache / f".{out.stem}.lock"):
        if out.is_file():  # another process built it while this one waited
            return out, False
        sources = source_digest(src, lock_file=False)
        fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=f".{name}-", suffix=".wasm")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            target = os.environ.get("CARGO_TARGET_DIR")
            build(src, tmp, target_dir=Path(target) if target else None)
            if source_digest(src, lock_file=False) == sources:  # only Cargo.lock may have changed: key it as it is now
                out = cache / f"{name}-{source_digest(src)}.wasm"
            os.replace(tmp, out)
        except BuildError as exc:
            raise BuildError(f"building {src} for wasmlet.testing failed:\n{exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
    return out, True
