"""Building guests into components: Rust (cargo + wasm-tools) and Python (componentize-py)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from . import _build_js

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


Progress = Callable[[str], None]
"""Hears each line a build tool prints, as it prints it (the CLI shows them; a silent build passes None)."""


def project_root() -> Path:
    """The source checkout this package runs from, when it runs from one (holds wit/ and the guest SDKs)."""
    return Path(__file__).resolve().parent.parent


def _from_checkout() -> bool:
    root = project_root()
    return (root / "wit").is_dir() and (root / "guest-rust" / "Cargo.toml").is_file()


def wit_dir() -> Path:
    """The `wasmlet:faas` WIT package: the checkout's wit/, or the copy shipped inside the wheel."""
    return project_root() / "wit" if _from_checkout() else Path(__file__).resolve().parent / "_wit"


def rust_sdk_dir() -> Path:
    """The `wasmlet-guest` crate: the checkout's guest-rust/, or the copy shipped inside the wheel."""
    return project_root() / "guest-rust" if _from_checkout() else Path(__file__).resolve().parent / "_rust_sdk"


def rust_sdk_version() -> str:
    """The `wasmlet-guest` version a new function asks for: the shipped SDK's major.minor."""
    import tomllib

    version = str(tomllib.loads((rust_sdk_dir() / "Cargo.toml").read_text())["package"]["version"])
    return ".".join(version.split(".")[:2])


def python_sdk_dir() -> Path:
    """The `wasmlet_guest` package bundled into every Python component (installed beside wasmlet)."""
    import importlib.util

    spec = importlib.util.find_spec("wasmlet_guest")
    if spec is None or spec.origin is None:
        raise BuildError("the Python guest SDK (wasmlet_guest) is not installed beside wasmlet; reinstall wasmlet")
    return Path(spec.origin).resolve().parent


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


def _run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
         progress: Progress | None = None) -> str:
    """Runs one build tool; each line it prints goes to `progress` as it comes, and all of them
    into the BuildError when it fails."""
    lines: list[str] = []
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if progress is not None:
                progress(line.rstrip("\n"))
    output = "".join(lines)
    if proc.returncode != 0:
        raise BuildError(f"`{' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd[:3]))} …` failed:\n{output}")
    return output


def build_rust(src: Path, out: Path, world: str = "function", wit: Path | None = None,
               target_dir: Path | None = None, progress: Progress | None = None) -> Path:
    """cargo build for wasm32-unknown-unknown, then embed the WIT and make a component."""
    tc = find_rust()
    src, out = src.resolve(), out.resolve()
    target_dir = (target_dir or Path(os.environ.get("CARGO_TARGET_DIR") or src / "target")).resolve()
    cmd = cargo_command(tc, "build", "--release", "--target", RUST_TARGET, "--target-dir", str(target_dir))
    _run(cmd, cwd=src, env=_rust_env(tc), progress=progress)
    name = _crate_name(src)
    core = target_dir / RUST_TARGET / "release" / f"{name}.wasm"
    out.parent.mkdir(parents=True, exist_ok=True)
    embedded = out.with_suffix(".embed.wasm")
    wasm_tools = _tool("wasm-tools")
    _run([wasm_tools, "component", "embed", str(wit or wit_dir()), "--world", world, str(core), "-o", str(embedded)],
         progress=progress)
    _run([wasm_tools, "component", "new", str(embedded), "-o", str(out)], progress=progress)
    embedded.unlink()
    return out


def _rust_env(tc: RustToolchain) -> dict[str, str]:
    env = dict(os.environ, RUSTC=tc.rustc, CARGO_TERM_PROGRESS_WHEN="never")
    rustdoc = Path(tc.rustc).with_name("rustdoc")
    if rustdoc.exists():
        env["RUSTDOC"] = str(rustdoc)
    return env


def cargo_command(tc: RustToolchain, *args: str) -> list[str]:
    """cargo with ARGS, `wasmlet-guest` patched to the SDK this wasmlet ships (so a function's Cargo.toml
    asks for `wasmlet-guest = "0.1"`, no path); with Debian's toolchain, offline against Debian's
    packaged crates (a source replacement passed here, not forced on users who have crates.io)."""
    sdk = rust_sdk_dir().as_posix()
    cmd = [tc.cargo, *args, "--config", f'patch.crates-io.wasmlet-guest.path="{sdk}"']
    if tc.debian and DEBIAN_REGISTRY.is_dir():
        cmd += ["--offline", "--config", 'source.crates-io.replace-with="debian"',
                "--config", f'source.debian.directory="{DEBIAN_REGISTRY}"']
    return cmd


INTEGRATION_DIR = "integration"
"""A function's integration tests (pytest with `wasmlet.testing`): run by `wasmlet test` after its unit tests."""
PYTEST_NO_TESTS = 5
"""pytest's exit code when it collected no test."""


@dataclass(frozen=True)
class PhaseRun:
    """One phase of a function's tests (`unit` or `integration`): its command and outcome."""

    phase: str
    command: tuple[str, ...]
    returncode: int
    stdout: str = ""
    """What it printed (empty unless captured)."""
    stderr: str = ""

    @property
    def outcome(self) -> str:
        """`passed`, `failed (exit N)` or `no tests`."""
        if self.returncode == 0:
            return "passed"
        return "no tests" if self.returncode == PYTEST_NO_TESTS else f"failed (exit {self.returncode})"


@dataclass(frozen=True)
class FunctionTestResult:
    """Every phase `run_function_tests` ran; `returncode` is 0 when none failed."""

    phases: tuple[PhaseRun, ...]

    @property
    def returncode(self) -> int:
        failed = [p.returncode for p in self.phases if p.returncode not in (0, PYTEST_NO_TESTS)]
        if failed:
            return failed[0]
        ran = any(p.returncode == 0 for p in self.phases)
        return 0 if ran else PYTEST_NO_TESTS

    @property
    def stdout(self) -> str:
        return "".join(p.stdout for p in self.phases)

    @property
    def stderr(self) -> str:
        return "".join(p.stderr for p in self.phases)


def run_function_tests(src: Path, *, capture_output: bool = True, integration: bool = True,
                       announce: Callable[[str], None] | None = None) -> FunctionTestResult:
    """Runs a function's unit tests natively (`cargo test`, or pytest outside `integration/`), then its
    integration tests (pytest on `integration/`, where `wasmlet.testing` builds and serves the component).
    Both phases always run. Output is captured into the result, or, with `capture_output=False`, goes
    straight to this process's stdout/stderr as it is printed; `announce` hears a line before each phase."""
    src = src.resolve()
    phases: list[PhaseRun] = []

    def run(phase: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        if announce is not None:
            announce(f"{phase} tests: {' '.join(Path(cmd[0]).name if i == 0 else c for i, c in enumerate(cmd[:5]))}"
                     f"{' …' if len(cmd) > 5 else ''}")
        if capture_output:
            proc = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True)
            phases.append(PhaseRun(phase, tuple(cmd), proc.returncode, proc.stdout, proc.stderr))
        else:
            phases.append(PhaseRun(phase, tuple(cmd), subprocess.run(cmd, cwd=src, env=env).returncode))

    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    language = detect(src)
    if language == "rust":
        tc = find_rust()
        run("unit", cargo_command(tc, "test"), _rust_env(tc))
    elif language == "js":
        with tempfile.TemporaryDirectory(prefix="wasmlet-js-test-") as staging:
            try:
                cmd = _build_js.unit_test_command(src, js_sdk_dir(), Path(staging),
                                                  static_files(src, code=_JS_CODE, skip=_JS_NOT_STATIC))
            except _build_js.JsBuildError as exc:
                raise BuildError(str(exc)) from None
            run("unit", cmd)
    else:
        run("unit", [*pytest, str(src), f"--ignore={src / INTEGRATION_DIR}"])
    if integration and (src / INTEGRATION_DIR).is_dir():
        run("integration", [*pytest, str(src / INTEGRATION_DIR)])
    return FunctionTestResult(tuple(phases))


def _crate_name(src: Path) -> str:
    import tomllib

    data = tomllib.loads((src / "Cargo.toml").read_text())
    lib = data.get("lib", {})
    return str(lib.get("name") or data["package"]["name"]).replace("-", "_")


_SKIP_DIRS = {"__pycache__", "tests", "target", ".git", ".venv", "node_modules"}


def static_files(src: Path, code: tuple[str, ...] = (".py", ".pyc"), skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file of a function that is not its code (static assets), by relative path; `skip` names
    top-level files and folders that are not assets either."""
    files: dict[str, bytes] = {}
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix in (*code, ".wasm", ".toml") or rel.parts[0] in skip:
            continue
        files[rel.as_posix()] = path.read_bytes()
    return files


def build_python(src: Path, out: Path, world: str = "function", wit: Path | None = None,
                 module: str = "app", extra_paths: list[Path] | None = None,
                 progress: Progress | None = None, cache_dir: Path | None = None) -> Path:
    """componentize-py: the app module, its static files and the SDK in one component.

    componentize-py 0.25.1 snapshots a CPython heap whose layout differs from run to run, so two
    builds of the same source differ in their bytes. The build is input-addressed instead: the
    digest of everything it reads names a cached component, and the same inputs give the same bytes
    (so a restart hits the compile cache and redeploying unchanged source is no new version)."""
    try:
        tool = _tool("componentize-py")
    except BuildError:
        raise BuildError(INSTALL_PY) from None
    src, out = src.resolve(), out.resolve()
    wit = (wit or wit_dir()).resolve()
    paths = [src, *(p.resolve() for p in extra_paths or [])]
    static = static_files(src)
    cache = (cache_dir or build_cache_dir()) / f"py-{_python_inputs_digest(paths, static, wit, world, module)}.wasm"
    out.parent.mkdir(parents=True, exist_ok=True)
    if cache.is_file():
        if progress is not None:
            progress(f"unchanged since the last build: {cache.name}")
        _copy_atomically(cache, out)
        return out
    with tempfile.TemporaryDirectory(prefix="wasmlet-build-") as staging:
        bundle = Path(staging) / "bundle"
        bundle.mkdir()
        (bundle / "_wasmlet_static.py").write_text(
            '"""Static files embedded by `wasmlet build`."""\n\nFILES = ' + repr(static) + "\n")
        shutil.copytree(python_sdk_dir(), bundle / "wasmlet_guest", ignore=shutil.ignore_patterns("__pycache__"))
        search = [*paths, bundle]
        cmd = [tool, "-d", str(wit), "-w", world, "componentize"]
        for p in search:
            cmd += ["-p", str(p)]
        cmd += [module, "-o", str(out)]
        env = dict(os.environ, RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0", PYTHONDONTWRITEBYTECODE="1")
        if progress is not None:  # its own output is a traceback on failure (explained below) and one line else
            progress(f"componentize-py: {module}.py, the SDK and {len(static)} static file(s) into a CPython snapshot…")
        try:
            _run(cmd, cwd=Path(staging), env=env)
        except BuildError as exc:
            raise BuildError(_explain_python_failure(str(exc), search)) from None
    cache.parent.mkdir(parents=True, exist_ok=True)
    _copy_atomically(out, cache)
    _prune(cache.parent, keep=_CACHE_KEEP)
    return out


_BUILD_FORMAT = "1"
"""Bumped when what build_python puts in a component changes, so older cached builds are not reused."""
_CACHE_KEEP = 12
"""How many cached Python components (about 18 MB each) the build cache keeps."""


def build_cache_dir() -> Path:
    """Where input-addressed builds are kept: $WASMLET_BUILD_CACHE, else the user's cache directory."""
    if os.environ.get("WASMLET_BUILD_CACHE"):
        return Path(os.environ["WASMLET_BUILD_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "wasmlet" / "builds"


def _python_inputs_digest(paths: list[Path], static: dict[str, bytes], wit: Path, world: str, module: str) -> str:
    """sha256 over every file componentize-py reads and every setting that changes its output."""
    import importlib.metadata

    return _inputs_digest(f"py {importlib.metadata.version('componentize-py')} {module}", paths, static, wit,
                          world, [python_sdk_dir()])


def _inputs_digest(kind: str, paths: list[Path], static: dict[str, bytes], wit: Path, world: str,
                   tools: list[Path]) -> str:
    """sha256 over every file a build reads (sources, SDK and tool pins, WIT, static files) and its settings."""
    h = hashlib.sha256()
    for part in (_BUILD_FORMAT, kind, world):
        h.update(part.encode() + b"\0")
    for root in (*paths, *tools, wit):
        for rel, data in _tree(root):
            h.update(f"{root.name}/{rel}".encode() + b"\0" + hashlib.sha256(data).digest())
    for rel, data in sorted(static.items()):
        h.update(f"static/{rel}".encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:32]


def _tree(root: Path) -> Iterable[tuple[str, bytes]]:
    """Every file under `root` a build can read, by relative path, in a fixed order."""
    if root.is_file():
        yield root.name, root.read_bytes()
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        if path.suffix in (".pyc", ".wasm"):
            continue
        yield rel.as_posix(), path.read_bytes()


def _copy_atomically(source: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, dest)


def _prune(cache: Path, keep: int) -> None:
    """Removes all but the `keep` most recently built components."""
    entries = sorted(cache.glob("py-*.wasm"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[keep:]:
        old.unlink(missing_ok=True)


_GUEST_FILE = re.compile(r'File "/(\d+)/([^"]+)", line (\d+)')


def _explain_python_failure(message: str, search: list[Path]) -> str:
    """componentize-py's failure with the guest's own traceback first, as `file:line: error`, its
    `/N/` paths mapped back to the folders given, and the tool's Rust backtrace left out."""
    _, marker, guest = message.partition("AssertionError: ")
    if not marker:
        return message
    guest = guest.split("\n\nCaused by:", 1)[0].split("\nStack backtrace:", 1)[0].rstrip()

    def real(match: re.Match[str]) -> str:
        index, rel = int(match.group(1)), match.group(2)
        base = search[index] if index < len(search) else None
        return f'File "{_shown(base / rel) if base else rel}", line {match.group(3)}'

    guest = _GUEST_FILE.sub(real, guest)
    located = re.findall(r'File "([^"]+)", line (\d+)', guest)
    last = guest.strip().splitlines()[-1].strip() if guest.strip() else "the guest failed to load"
    headline = f"{located[-1][0]}:{located[-1][1]}: {last}" if located else last
    return f"{headline}\n\n{guest}"


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def detect(src: Path) -> str:
    """`rust` for a Cargo.toml, `python` for an app.py, `js` for a package.json (JavaScript or TypeScript)."""
    if (src / "Cargo.toml").is_file():
        return "rust"
    if (src / "app.py").is_file():
        return "python"
    if (src / "package.json").is_file():
        return "js"
    raise BuildError(f"{src}: no Cargo.toml (Rust), app.py (Python) or package.json (JavaScript/TypeScript) found")


_JS_CODE = (".ts", ".mts", ".js", ".mjs")
_JS_NOT_STATIC = ("src", "test", "integration", "package.json", "package-lock.json", "tsconfig.json")


def js_sdk_dir() -> Path:
    """The JavaScript SDK (`guest-js`): the checkout's, or the copy shipped inside the wheel."""
    return _build_js.js_sdk_dir(project_root(), Path(__file__).resolve().parent)


def build_js(src: Path, out: Path, world: str = "function", wit: Path | None = None,
             progress: Progress | None = None, cache_dir: Path | None = None) -> Path:
    """A JavaScript or TypeScript function (package.json) as a component: tsc, esbuild, componentize-js.

    Input-addressed like Python builds: the same sources, SDK, WIT and tools give the cached component."""
    src, out = src.resolve(), out.resolve()
    wit = (wit or wit_dir()).resolve()
    sdk = js_sdk_dir()
    static = static_files(src, code=_JS_CODE, skip=_JS_NOT_STATIC)
    digest = _inputs_digest("js", [src], static, wit, world, [sdk / "src", sdk / "tools", sdk / "package-lock.json"])
    cache = (cache_dir or build_cache_dir()) / f"js-{digest}.wasm"
    out.parent.mkdir(parents=True, exist_ok=True)
    if cache.is_file():
        if progress is not None:
            progress(f"unchanged since the last build: {cache.name}")
        _copy_atomically(cache, out)
        return out

    def run(cmd: list[str], cwd: Path) -> str:
        return _run(cmd, cwd=cwd, progress=progress)

    try:
        _build_js.build_js(src, out, sdk=sdk, wit=wit, world=world, static=static, run=run, progress=progress)
    except _build_js.JsBuildError as exc:
        raise BuildError(str(exc)) from None
    cache.parent.mkdir(parents=True, exist_ok=True)
    _copy_atomically(out, cache)
    _prune(cache.parent, keep=_CACHE_KEEP)
    return out


def build(src: Path, out: Path, *, world: str = "function", wit: Path | None = None,
          progress: Progress | None = None, target_dir: Path | None = None) -> Path:
    """Builds the function at `src` into the component `out`, whatever its language (see `detect`)."""
    language = detect(src)
    if language == "rust":
        return build_rust(src, out, world=world, wit=wit, progress=progress, target_dir=target_dir)
    if language == "python":
        return build_python(src, out, world=world, wit=wit, progress=progress)
    return build_js(src, out, world=world, wit=wit, progress=progress)
