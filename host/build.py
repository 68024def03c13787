"""Building guests into components: Rust (cargo + wasm-tools) and Python (componentize-py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEBIAN_REGISTRY = Path("/usr/share/cargo/registry")
RUST_TARGET = "wasm32-unknown-unknown"
INSTALL_RUST = (
    "no Rust toolchain with the wasm32-unknown-unknown target was found; install one with\n"
    "  apt-get install -y rustc cargo libstd-rust-dev-wasm32   (Debian/Ubuntu)\n"
    "or\n  rustup target add wasm32-unknown-unknown"
)
INSTALL_PY = "componentize-py was not found; install it with\n  pip install componentize-py==0.25.1"


class BuildError(Exception):
    """A guest did not build; the message carries the tool's own output."""


def project_root() -> Path:
    """The source checkout this package runs from (holds wit/ and the guest SDKs)."""
    return Path(__file__).resolve().parent.parent


def wit_dir() -> Path:
    return project_root() / "wit"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    raise BuildError(f"{name} not found")


@dataclass(frozen=True)
class RustToolchain:
    """A cargo/rustc pair that can target wasm32-unknown-unknown."""

    cargo: str
    rustc: str
    debian: bool


def find_rust() -> RustToolchain:
    """Prefers a toolchain on PATH with the wasm target, else Debian's /usr/bin one."""
    candidates = []
    cargo, rustc = shutil.which("cargo"), shutil.which("rustc")
    if cargo and rustc:
        candidates.append((cargo, rustc))
    if Path("/usr/bin/cargo").exists() and Path("/usr/bin/rustc").exists():
        candidates.append(("/usr/bin/cargo", "/usr/bin/rustc"))
    for cargo, rustc in candidates:
        try:
            sysroot = subprocess.run([rustc, "--print", "sysroot"], capture_output=True, text=True,
                                     check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
        if (Path(sysroot) / "lib" / "rustlib" / RUST_TARGET).is_dir():
            return RustToolchain(cargo, rustc, debian=rustc.startswith("/usr/bin/"))
    raise BuildError(INSTALL_RUST)


def _run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"`{' '.join(cmd[:3])} …` failed:\n{proc.stderr or proc.stdout}")


def build_rust(src: Path, out: Path, world: str = "function", wit: Path | None = None,
               target_dir: Path | None = None) -> Path:
    """cargo build for wasm32-unknown-unknown, then embed the WIT and make a component."""
    tc = find_rust()
    src, out = src.resolve(), out.resolve()
    target_dir = (target_dir or src / "target").resolve()
    cmd = cargo_command(tc, "build", "--release", "--target", RUST_TARGET, "--target-dir", str(target_dir))
    _run(cmd, cwd=src, env=_rust_env(tc))
    name = _crate_name(src)
    core = target_dir / RUST_TARGET / "release" / f"{name}.wasm"
    out.parent.mkdir(parents=True, exist_ok=True)
    embedded = out.with_suffix(".embed.wasm")
    wasm_tools = _tool("wasm-tools")
    _run([wasm_tools, "component", "embed", str(wit or wit_dir()), "--world", world, str(core), "-o", str(embedded)])
    _run([wasm_tools, "component", "new", str(embedded), "-o", str(out)])
    embedded.unlink()
    return out


def _rust_env(tc: RustToolchain) -> dict[str, str]:
    env = dict(os.environ, RUSTC=tc.rustc)
    rustdoc = Path(tc.rustc).with_name("rustdoc")
    if rustdoc.exists():
        env["RUSTDOC"] = str(rustdoc)
    return env


def cargo_command(tc: RustToolchain, *args: str) -> list[str]:
    """cargo with ARGS; with Debian's toolchain, offline against Debian's packaged crates
    (a source replacement passed here, not forced on users who have crates.io)."""
    cmd = [tc.cargo, *args]
    if tc.debian and DEBIAN_REGISTRY.is_dir():
        cmd += ["--offline", "--config", 'source.crates-io.replace-with="debian"',
                "--config", f'source.debian.directory="{DEBIAN_REGISTRY}"']
    return cmd


def run_function_tests(src: Path) -> subprocess.CompletedProcess[str]:
    """Runs a function's own tests natively: `cargo test` (Rust) or pytest (Python)."""
    src = src.resolve()
    if detect(src) == "rust":
        tc = find_rust()
        return subprocess.run(cargo_command(tc, "test"), cwd=src, env=_rust_env(tc), capture_output=True, text=True)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(src)], cwd=src,
                          capture_output=True, text=True)


def _crate_name(src: Path) -> str:
    import tomllib

    data = tomllib.loads((src / "Cargo.toml").read_text())
    lib = data.get("lib", {})
    return str(lib.get("name") or data["package"]["name"]).replace("-", "_")


_SKIP_DIRS = {"__pycache__", "tests", "target", ".git", ".venv", "node_modules"}


def static_files(src: Path) -> dict[str, bytes]:
    """Every non-Python file of a Python function (static assets), by relative path."""
    files: dict[str, bytes] = {}
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix in (".py", ".pyc", ".wasm", ".toml"):
            continue
        files[rel.as_posix()] = path.read_bytes()
    return files


def build_python(src: Path, out: Path, world: str = "function", wit: Path | None = None,
                 module: str = "app", extra_paths: list[Path] | None = None) -> Path:
    """componentize-py: the app module, its static files and the SDK in one component."""
    try:
        tool = _tool("componentize-py")
    except BuildError:
        raise BuildError(INSTALL_PY) from None
    src, out = src.resolve(), out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wasmlet-build-") as staging:
        bundle = Path(staging) / "bundle"
        bundle.mkdir()
        (bundle / "_wasmlet_static.py").write_text(
            '"""Static files embedded by `wasmlet build`."""\n\nFILES = ' + repr(static_files(src)) + "\n")
        cmd = [tool, "-d", str(wit or wit_dir()), "-w", world, "componentize", "-p", str(src), "-p", str(bundle)]
        sdk = project_root() / "guest-python"
        for p in [*(extra_paths or []), sdk]:
            cmd += ["-p", str(p)]
        cmd += [module, "-o", str(out)]
        _run(cmd, cwd=Path(staging))
    return out


def detect(src: Path) -> str:
    """`rust` for a Cargo.toml, `python` for an app.py."""
    if (src / "Cargo.toml").is_file():
        return "rust"
    if (src / "app.py").is_file():
        return "python"
    raise BuildError(f"{src}: no Cargo.toml (Rust) or app.py (Python) found")
