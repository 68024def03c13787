"""The `wasmlet` command."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import telemetry
from .build import BuildError, build_python, build_rust, detect

if TYPE_CHECKING:
    from .config import ServerConfig, TelemetryConfig
    from .engine import Engine
    from .server import ConnectionLimits


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


def _cmd_new(args: argparse.Namespace) -> int:
    from .scaffold import scaffold

    try:
        root = scaffold(args.language, args.name, Path(args.dir))
    except (ValueError, OSError) as exc:
        print(f"wasmlet new: {exc}", file=sys.stderr)
        return 1
    print(f"created {root}\n\n  wasmlet test {root}     # its tests\n  wasmlet dev {root}      # build, serve and "
          f"rebuild on change at http://127.0.0.1:3000/{args.name}/latest/")
    return 0


def _cmd_test(args: argparse.Namespace) -> int:
    from .build import run_function_tests

    try:
        proc = run_function_tests(Path(args.dir))
    except BuildError as exc:
        print(f"wasmlet test: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode


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


def _start_telemetry(config: TelemetryConfig, command: str, check_only: bool = False) -> bool:
    """Checks the `[telemetry]`/`OTEL_*` settings and, unless `check_only`, starts tracing when they ask for it."""
    try:
        if check_only:
            telemetry.wanted(config)
        else:
            telemetry.setup(config)
    except telemetry.TelemetryError as exc:
        print(f"wasmlet {command}: {exc}", file=sys.stderr)
        return False
    return True


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def _request_limits(server: ServerConfig) -> dict[str, Any]:
    """The `HostSettings` fields that `[server]` sets for every request."""
    return {"body_timeout_ms": server.body_timeout_ms, "max_headers": server.max_headers,
            "public_metrics": server.public_metrics, "memory_budget_mb": server.memory_budget_mb}


def _connection_limits(server: ServerConfig) -> ConnectionLimits:
    """The `ConnectionLimits` that `[server]` sets for every connection."""
    from .server import ConnectionLimits

    return ConnectionLimits(keep_alive_s=server.keep_alive_s, header_timeout_s=server.header_timeout_ms / 1000,
                            max_header_bytes=server.max_header_bytes, max_headers=server.max_headers)


_HARD_EXIT_S = 3.0
"""How long after the grace period (and stopping every invocation) the process waits for stragglers."""


def _stop_everything(engine: Engine) -> None:
    """After the grace period: every running guest traps at its next epoch check and every
    hostcall that checks its deadline fails, so the process exits instead of waiting on them."""
    from .capabilities._context import stop_invocations
    from .capabilities._watchdog import watchdog

    stop_invocations()
    watchdog().fire_all()  # blocked database calls: their sockets are shut down now
    engine.interrupt_all()

    def exit_now() -> None:  # a guest blocked inside WASI (a 20 s sleep) is out of every deadline's reach
        logging.getLogger("wasmlet").error("invocations still running %.0f s after the grace period: exiting "
                                           "without waiting for them", _HARD_EXIT_S)
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(_HARD_EXIT_S, exit_now)
    timer.daemon = True  # the process exits normally first when nothing is stuck
    timer.start()


def _cmd_dev(args: argparse.Namespace) -> int:
    from .dev import DevFunction, DevServer
    from .engine import Engine
    from .errors import LoadError
    from .runtime import Runtime
    from .server import Listener, parse_bind, run, serve

    _setup_logging()
    build_dir = Path(".wasmlet") / "dev-build"
    from .config import Config, ConfigError

    try:
        config = Config.load(Path(args.config) if args.config else None)
        backends = config.backends()
    except ConfigError as exc:
        print(f"wasmlet dev: {exc}", file=sys.stderr)
        return 2
    if not _start_telemetry(config.telemetry, "dev"):
        return 2
    try:
        functions = [DevFunction.parse(spec, build_dir) for spec in [*args.module, *args.dirs]]
    except (ValueError, OSError, BuildError) as exc:
        print(f"wasmlet dev: {exc}", file=sys.stderr)
        return 2
    if not functions:
        print("wasmlet dev: give at least one -m NAME:PATH.wasm or a source DIR", file=sys.stderr)
        return 2
    host, port = parse_bind(args.bind)
    with Engine() as engine:
        dev = DevServer(Runtime(engine), functions, json_logs=args.json_logs, backends=backends,
                        access_log=not args.no_access_log)
        try:
            dev.load_all()
        except (OSError, LoadError, BuildError) as exc:
            print(f"wasmlet dev: {exc}", file=sys.stderr)
            return 1
        dev.host.settings = replace(dev.host.settings, **_request_limits(config.server))

        async def main() -> None:
            await serve([Listener(dev.host, host, port, "functions")], server=args.server,
                        grace_s=args.grace, background=[dev.watch], limits=_connection_limits(config.server),
                        on_grace_over=lambda: _stop_everything(engine))

        try:
            run(main, backend=args.backend)
        finally:
            telemetry.shutdown()
    return 0




def _cmd_serve(args: argparse.Namespace) -> int:
    from .admin import admin_app, is_loopback
    from .asgi import Host, HostSettings
    from .config import Config, ConfigError
    from .engine import Engine
    from .registry import SqliteRegistry
    from .runtime import Runtime
    from .server import Listener, bind_workers, parse_bind, run, run_workers, serve

    try:
        config = Config.load(Path(args.config) if args.config else None)
    except ConfigError as exc:
        print(f"wasmlet serve: {exc}", file=sys.stderr)
        return 2
    _setup_logging()
    bind = args.bind or config.server.bind
    admin_bind = args.admin_bind or config.admin.bind
    admin_host, admin_port = parse_bind(admin_bind, 3001)
    if not config.admin_token and not is_loopback(admin_host):
        print(f"wasmlet serve: refusing to start the admin API on {admin_bind} without a token; "
              "set [admin] token or WASMLET_ADMIN_TOKEN, or bind it to loopback", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir) if args.data_dir else config.data_dir
    host, port = parse_bind(bind)
    server = args.server or config.server.server
    workers = args.workers
    if workers > 1 and server != "uvicorn":
        print("wasmlet serve: --workers needs the uvicorn server", file=sys.stderr)
        return 2

    if not _start_telemetry(config.telemetry, "serve", check_only=True):
        return 2

    def worker(index: int, sock: socket.socket | None = None) -> int:
        telemetry.setup(config.telemetry)  # each (forked) worker its own provider and export thread
        registry = SqliteRegistry(data_dir)
        with Engine(cache_dir=config.cache_dir or data_dir / "compiled") as engine:
            runtime = Runtime(engine)
            settings = HostSettings(worker_threads=config.server.worker_threads,
                                    max_in_flight=config.server.max_in_flight,
                                    json_logs=args.json_logs or config.server.json_logs,
                                    access_log=config.server.access_log and not args.no_access_log,
                                    dispatch="auto" if config.server.inline_budget_ms > 0 else "thread",
                                    inline_budget_ms=max(1, config.server.inline_budget_ms),
                                    **_request_limits(config.server))
            app = Host(runtime, registry, settings, config.backends())
            listeners = [Listener(app, host, port, f"functions (worker {index})" if sock else "functions", sock)]
            if index == 0:  # one admin API per host, whatever the number of workers
                admin = admin_app(registry, runtime, config.admin_token, metrics=app.metrics.render)
                listeners.append(Listener(admin, admin_host, admin_port, "admin API"))

            async def main() -> None:
                await serve(listeners, server=server, grace_s=config.server.grace_seconds,
                            limits=_connection_limits(config.server), on_grace_over=lambda: _stop_everything(engine))

            try:
                run(main, backend=args.backend or config.server.backend)
            finally:
                telemetry.shutdown()  # a forked worker leaves by os._exit: export what is queued first
        registry.close()
        return 0

    SqliteRegistry(data_dir).close()  # create the data directory and schema once, before forking
    if workers <= 1:
        return worker(0)
    sockets = bind_workers(host, port, workers)
    return run_workers(workers, lambda index: worker(index, sockets[index]), sockets)


def _client(args: argparse.Namespace) -> Any:
    import httpx

    token = args.token or os.environ.get("WASMLET_ADMIN_TOKEN", "")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=args.admin, headers=headers, timeout=120)


def _report(resp: Any) -> int:
    if resp.status_code >= 400:
        try:
            message = resp.json().get("error", resp.text)
        except ValueError:
            message = resp.text
        print(f"error {resp.status_code}: {message}", file=sys.stderr)
        return 1
    return 0


def _cmd_deploy(args: argparse.Namespace) -> int:
    wasm = Path(args.file).read_bytes()
    manifest = Path(args.manifest).read_text() if args.manifest else ""
    with _client(args) as client:
        resp = client.post(f"/v1/functions/{args.name}/versions",
                           files={"component": ("component.wasm", wasm, "application/wasm")},
                           data={"manifest": manifest})
    if _report(resp):
        return 1
    body = resp.json()
    print(f"deployed {body['function']} {body['version']} (sha256 {body['sha256'][:12]}), latest -> {body['version']}")
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    with _client(args) as client:
        resp = client.get("/v1/functions")
    if _report(resp):
        return 1
    for name, entry in sorted(resp.json()["functions"].items()):
        aliases = entry["aliases"]
        for v in entry["versions"]:
            tags = sorted(a for a, target in aliases.items() if target == v["version"])
            print(f"{name}\t{v['version']}\t{v['sha256'][:12]}\t{','.join(tags)}")
    return 0


def _cmd_alias(args: argparse.Namespace) -> int:
    with _client(args) as client:
        resp = client.put(f"/v1/functions/{args.name}/aliases/{args.alias}", json={"version": args.version})
    if _report(resp):
        return 1
    print(f"{args.name}/{args.alias} -> {args.version}")
    return 0


def _cmd_rm(args: argparse.Namespace) -> int:
    with _client(args) as client:
        resp = client.delete(f"/v1/functions/{args.name}/versions/{args.version}")
    if _report(resp):
        return 1
    print(f"deleted {args.name}/{args.version}")
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
    p = sub.add_parser("new", help="scaffold a function (rust or python) with a passing test")
    p.add_argument("language", choices=["rust", "python"])
    p.add_argument("name")
    p.add_argument("--dir", default=".", help="parent folder (default: here)")
    p.set_defaults(func=_cmd_new)
    p = sub.add_parser("test", help="run a function's own tests natively (cargo test or pytest)")
    p.add_argument("dir", nargs="?", default=".")
    p.set_defaults(func=_cmd_test)
    p = sub.add_parser("inspect", help="print a component's world, imports, exports and size")
    p.add_argument("file")
    p.set_defaults(func=_cmd_inspect)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bindgen"]:  # its own options (e.g. --check) go to wasmlet_bindgen untouched
        return _cmd_bindgen(argparse.Namespace(rest=argv[1:]))
    p = sub.add_parser("dev", help="serve .wasm files, reloading them when they change")
    p.add_argument("--bind", default="127.0.0.1:3000")
    p.add_argument("-m", "--module", action="append", default=[], metavar="NAME:PATH",
                   help="a function: NAME:FILE.wasm, or NAME:DIR to build from source")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="function source directories (served under their folder name)")
    p.add_argument("--server", default="uvicorn", choices=["uvicorn", "hypercorn"])
    p.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    p.add_argument("--grace", type=float, default=5.0, help="seconds in-flight requests get on shutdown")
    p.add_argument("--json-logs", action="store_true", help="access log as JSON lines")
    p.add_argument("--no-access-log", action="store_true", help="no line per request (errors are still logged)")
    p.add_argument("--config", help="wasmlet.toml with the runtime config ([kv.*], [sql.*] backends)")
    p.set_defaults(func=_cmd_dev)
    p = sub.add_parser("serve", help="serve deployed functions with a registry and an admin API")
    p.add_argument("--config", help="wasmlet.toml (optional: every setting has a default)")
    p.add_argument("--bind")
    p.add_argument("--admin-bind")
    p.add_argument("--data-dir")
    p.add_argument("--server", choices=["uvicorn", "hypercorn"])
    p.add_argument("--backend", choices=["asyncio", "trio"])
    p.add_argument("--json-logs", action="store_true", help="access log as JSON lines")
    p.add_argument("--no-access-log", action="store_true", help="no line per request (errors are still logged)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes sharing the listening socket (one engine and compile cache dir)")
    p.set_defaults(func=_cmd_serve)
    for name, fn, helptext in (("deploy", _cmd_deploy, "deploy a component as a new version"),
                               ("ls", _cmd_ls, "list functions, versions and aliases"),
                               ("alias", _cmd_alias, "point an alias (e.g. latest) at a version"),
                               ("rm", _cmd_rm, "delete a version")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--admin", default=os.environ.get("WASMLET_ADMIN_URL", "http://127.0.0.1:3001"))
        p.add_argument("--token", default="")
        if name == "deploy":
            p.add_argument("name")
            p.add_argument("file")
            p.add_argument("--manifest")
        elif name == "alias":
            p.add_argument("name")
            p.add_argument("alias")
            p.add_argument("version")
        elif name == "rm":
            p.add_argument("name")
            p.add_argument("version")
        p.set_defaults(func=fn)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
