"""Building JavaScript and TypeScript guests: esbuild bundles the function with the SDK, tsc
type-checks TypeScript against the contract's generated declarations, componentize-js makes the
component. The tools are pinned in guest-js/package-lock.json and installed with npm."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

INSTALL_NODE = ("Node.js 20 or newer was not found on PATH; JavaScript and TypeScript functions need it to build "
                "(https://nodejs.org, or apt-get install nodejs npm)")
JS_ENTRIES = ("src/app.ts", "src/app.js", "app.ts", "app.js", "src/index.ts", "src/index.js")
"""Where a function's app module is looked for when package.json names no `main`."""
DISABLED_FEATURES = ["http", "fetch-event"]
"""componentize-js features a function does without: `fetch` (outbound HTTP goes through the manifest's
allow-list, `http.send`). Clocks, randomness and stdio stay: without them `Date.now()` reads the build's
time for ever, `Math.random()` repeats the same sequence in every instance, and `console` goes nowhere."""
IMPORTS = {"log": "log", "config": "config", "kv": "kv", "sql": "sql", "outbound-http": "outboundHttp",
           "modules": "modules", "messaging": "messaging"}
"""The `function` world's imports and the name the SDK's `bindHost` knows each by."""


class JsBuildError(Exception):
    """A JavaScript guest did not build (the message carries the tool's output)."""


def js_sdk_dir(project_root: Path, package_dir: Path) -> Path:
    """The JavaScript SDK and its tool manifest: the checkout's guest-js/, or the wheel's copy."""
    checkout = project_root / "guest-js"
    return checkout if (checkout / "package.json").is_file() else package_dir / "_js_sdk"


def find_node() -> str:
    """The `node` on PATH (version 20 or newer)."""
    node = shutil.which("node")
    if node is None:
        raise JsBuildError(INSTALL_NODE)
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise JsBuildError(INSTALL_NODE) from None
    if int(version.lstrip("v").split(".")[0] or 0) < 20:
        raise JsBuildError(f"Node.js {version} is too old; JavaScript functions need 20 or newer")
    return node


def tools_dir(sdk: Path, progress: Callable[[str], None] | None = None) -> Path:
    """A folder whose node_modules holds the pinned tools: the SDK's own (a checkout after
    scripts/setup.sh), else a per-lock-file copy in the user's cache, installed with `npm ci` once."""
    if (sdk / "node_modules" / "@bytecodealliance" / "componentize-js").is_dir():
        return sdk
    lock = (sdk / "package-lock.json").read_bytes()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wasmlet" / "js-tools"
    target = base / hashlib.sha256(lock).hexdigest()[:16]
    if (target / "node_modules" / "@bytecodealliance" / "componentize-js").is_dir():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise JsBuildError("npm was not found on PATH; it installs the JavaScript build tools (once)")
    if progress is not None:
        progress(f"installing the JavaScript build tools into {target} (once)…")
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=_mkdir(base)))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(sdk / name, staging / name)
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=staging,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise JsBuildError(f"`npm ci` failed installing the JavaScript build tools:\n{proc.stdout}{proc.stderr}")
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def entry_module(src: Path) -> Path:
    """The function's app module: package.json's `main`, else the first of JS_ENTRIES that exists."""
    manifest = src / "package.json"
    main = None
    if manifest.is_file():
        try:
            main = json.loads(manifest.read_text()).get("main")
        except ValueError as exc:
            raise JsBuildError(f"{manifest}: not valid JSON ({exc})") from None
    candidates = [main] if isinstance(main, str) else list(JS_ENTRIES)
    for rel in candidates:
        if (src / rel).is_file():
            return (src / rel).resolve()
    wanted = f"`main` ({main}) in package.json" if isinstance(main, str) else " or ".join(JS_ENTRIES)
    raise JsBuildError(f"{src}: no app module found (looked for {wanted})")


def wit_version(wit: Path) -> str:
    """The `@version` suffix of the WIT package's interfaces ('' when it has none)."""
    for path in sorted(wit.glob("*.wit")):
        for line in path.read_text().splitlines():
            words = line.strip().rstrip(";").split()
            if len(words) == 2 and words[0] == "package":
                name = words[1]
                return "@" + name.split("@", 1)[1] if "@" in name else ""
    return ""


def generated_entry(app: Path, package: str, version: str) -> str:
    """The module componentize-js builds for the `function` world: binds the imports, exports `handle`."""
    lines = ["// Generated by `wasmlet build`: binds the contract's imports and exports the app's `handle`."]
    for wit_name, js_name in IMPORTS.items():
        lines.append(f'import * as {js_name} from "{package}/{wit_name}{version}";')
    lines += [
        'import { bindHost, exportHandle } from "wasmlet-guest";',
        f"import app from {json.dumps(app.as_posix())};",
        "",
        f"bindHost({{ {', '.join(IMPORTS.values())} }});",
        "export const handle = exportHandle(app);",
        "",
    ]
    return "\n".join(lines)


def static_module(files: dict[str, bytes]) -> str:
    """A module registering the function's static files with the SDK (one code point per byte)."""
    embedded = {path: data.decode("latin-1") for path, data in sorted(files.items())}
    return ('// Generated by `wasmlet build`: the static files embedded in the component.\n'
            'import { setStaticFiles } from "wasmlet-guest";\n\n'
            f"setStaticFiles({json.dumps(embedded, ensure_ascii=True)});\n")


def tsconfig(sdk: Path, src: Path, files: list[Path]) -> dict[str, object]:
    """A strict type-check of the function against the SDK and the contract's declarations."""
    return {
        "compilerOptions": {
            "target": "es2022", "module": "preserve", "moduleResolution": "bundler", "strict": True,
            "noEmit": True, "skipLibCheck": True, "lib": ["es2022"], "types": [],
            "allowImportingTsExtensions": True, "noUncheckedIndexedAccess": True,
            "paths": {"wasmlet-guest": [(sdk / "src" / "index.ts").as_posix()]},
        },
        "files": [p.as_posix() for p in files] + [(sdk / "src" / "faas.d.ts").as_posix(),
                                                  (sdk / "src" / "globals.d.ts").as_posix()],
    }


def is_typescript(src: Path, app: Path) -> bool:
    """TypeScript when the app module is .ts or the folder has a tsconfig.json."""
    return app.suffix in (".ts", ".mts") or (src / "tsconfig.json").is_file()


def source_files(src: Path) -> list[Path]:
    """The function's own .ts/.js files (not tests, node_modules or build output)."""
    skip = {"node_modules", "test", "tests", "integration", "dist", "target", ".wasmlet"}
    out = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part in skip or part.startswith(".") for part in rel.parts[:-1]) or not path.is_file():
            continue
        if path.suffix in (".ts", ".mts", ".js", ".mjs") and not path.name.endswith((".test.ts", ".test.js")):
            out.append(path.resolve())
    return out


def build_js(src: Path, out: Path, *, sdk: Path, wit: Path, world: str, static: dict[str, bytes],
             run: Callable[[list[str], Path], str], progress: Callable[[str], None] | None = None) -> Path:
    """Type-checks (TypeScript), bundles and componentizes the function at `src` into `out`.

    `run(cmd, cwd)` runs one tool, streaming its lines and raising with its output when it fails."""
    node = find_node()
    tools = tools_dir(sdk, progress)
    app = entry_module(src)
    with tempfile.TemporaryDirectory(prefix="wasmlet-js-build-") as staging_name:
        staging = Path(staging_name)
        if is_typescript(src, app):
            config = staging / "tsconfig.json"
            config.write_text(json.dumps(tsconfig(sdk, src, source_files(src)), indent=2))
            if progress is not None:
                progress("tsc --noEmit: type-checking against the contract's declarations…")
            tsc = tools / "node_modules" / ".bin" / "tsc"
            try:
                run([str(tsc), "-p", str(config), "--pretty", "false"], src)
            except Exception as exc:  # the runner's BuildError: its text is tsc's output
                raise JsBuildError(explain_errors(str(exc), _TSC_ERROR, "type error")) from None
        package, version = _package_name(wit), wit_version(wit)
        if world == "function":
            entry = staging / "entry.js"
            entry.write_text(generated_entry(app, package, version))
        else:
            entry = app
        statics = staging / "static.js"
        statics.write_text(static_module(static))
        job = {
            "entry": str(entry), "bundle": str(staging / "bundle.js"), "out": str(out.resolve()),
            "wit": str(wit), "world": world, "disableFeatures": DISABLED_FEATURES,
            "alias": {"wasmlet-guest": str(sdk / "src" / "index.ts")},
            "inject": [str(statics)] if world == "function" else [],
        }
        try:
            run([node, str(_tool_script(sdk, tools, "build.mjs")), json.dumps(job)], tools)
        except Exception as exc:
            raise JsBuildError(explain_errors(str(exc), _ESBUILD_ERROR, "error")) from None
    return out


_TSC_ERROR = re.compile(r"^\S.*\(\d+,\d+\): error TS\d+: .*$", re.MULTILINE)
_ESBUILD_ERROR = re.compile(r"^\S.*:\d+:\d+: error: .*$", re.MULTILINE)


def explain_errors(output: str, pattern: re.Pattern[str], what: str) -> str:
    """A tool's failure with its first `file(line,col): error` first (and how many more), then every
    error line; the whole output when none matches (a crash, not a diagnostic)."""
    errors = list(dict.fromkeys(m.group(0).strip() for m in pattern.finditer(output)))
    if not errors:
        return output
    more = f" (and {len(errors) - 1} more {what}{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{errors[0]}{more}\n\n" + "\n".join(errors)


def _tool_script(sdk: Path, tools: Path, name: str) -> Path:
    """tools/NAME where Node resolves its imports from the tools' node_modules (beside them)."""
    script = sdk / "tools" / name
    if tools == sdk:
        return script
    copy = tools / f"wasmlet-{name}"
    if not copy.is_file() or copy.read_bytes() != script.read_bytes():
        shutil.copyfile(script, copy)
    return copy


def _package_name(wit: Path) -> str:
    """`namespace:name` of the WIT package at `wit`."""
    for path in sorted(wit.glob("*.wit")):
        for line in path.read_text().splitlines():
            words = line.strip().rstrip(";").split()
            if len(words) == 2 and words[0] == "package":
                return words[1].split("@", 1)[0]
    raise JsBuildError(f"{wit}: no `package` declaration found")


def unit_test_command(src: Path, sdk: Path, staging: Path, static: dict[str, bytes]) -> list[str]:
    """`node tools/test.mjs JOB`: the function's *.test.ts/js files bundled with the SDK, run by `node --test`."""
    node = find_node()
    tools = tools_dir(sdk)
    statics = staging / "static.js"
    statics.write_text(static_module(static))
    job = {"src": str(src), "alias": {"wasmlet-guest": str(sdk / "src" / "index.ts")}, "inject": [str(statics)]}
    return [node, str(_tool_script(sdk, tools, "test.mjs")), json.dumps(job)]
