"""The `wasmlet` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import telemetry
from .build import BuildError, build, detect

if TYPE_CHECKING:
    from .config import ServerConfig, TelemetryConfig
    from .engine import Engine, EngineSettings
    from .server import ConnectionLimits


class CliError(Exception):
    """An everyday mistake (a missing file, a port in use, a bad value): printed as one line, exit code 2."""


EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
"""Exit codes: 0 done; 1 the work failed (a build, a test, a refused deploy); 2 a usage or setup mistake
(bad option, missing file, port in use, bad config); 130 interrupted."""


def _cmd_bindgen(args: argparse.Namespace) -> int:
    from wasmlet_bindgen.cli import main as bindgen_main

    return bindgen_main(args.rest)


def _cmd_build(args: argparse.Namespace) -> int:
    src = Path(args.dir)
    if not src.is_dir():
        raise CliError(f"{src}: no such folder (give the function's source folder: Cargo.toml, app.py or package.json)")
    try:
        language = detect(src)
        out = Path(args.output) if args.output else src / f"{src.resolve().name}.wasm"
        if args.wit and not args.world:
            raise BuildError("--wit needs --world: the world of that WIT package the guest is built for")
        wit, world = (Path(args.wit) if args.wit else None), args.world or "function"
        started = time.perf_counter()
        if not args.quiet:
            slow = {"python": ": componentize-py takes 10-40 s", "js": ": componentize-js takes 10-30 s"}
            _say(f"building {src} ({language}){slow.get(language, '')}…")
        progress = None if args.quiet else _tool_output
        built = build(src, out, world=world, wit=wit, progress=progress)
    except BuildError as exc:
        print(f"wasmlet build: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"built {built} ({built.stat().st_size:,} bytes, {language}) in {time.perf_counter() - started:.1f} s")
    return EXIT_OK


def _tool_output(line: str) -> None:
    """A build tool's line, indented under wasmlet's own (dimmed on a terminal)."""
    if line.strip():
        text = f"    {line.rstrip()}"
        print(f"\x1b[2m{text}\x1b[0m" if sys.stderr.isatty() else text, file=sys.stderr, flush=True)


def _cmd_new(args: argparse.Namespace) -> int:
    from .scaffold import scaffold

    try:
        root = scaffold(args.language, args.name, Path(args.dir))
    except (ValueError, OSError) as exc:
        raise CliError(f"new: {exc}") from None
    print(f"created {root}\n\n  wasmlet test {root}     # its unit tests, then its integration tests\n"
          f"  wasmlet dev {root}      # build, serve and rebuild on change at http://127.0.0.1:3000/{args.name}/latest/")
    return EXIT_OK


def _cmd_test(args: argparse.Namespace) -> int:
    """Unit tests natively, then integration tests (`integration/`, through wasmlet.testing); output streams."""
    from .build import run_function_tests

    def announce(line: str) -> None:
        print(f"\n== wasmlet test: {line}", flush=True)

    try:
        result = run_function_tests(Path(args.dir), capture_output=False, announce=announce)
    except BuildError as exc:
        print(f"wasmlet test: {exc}", file=sys.stderr)
        return 1
    print("\n== wasmlet test: " + ", ".join(f"{p.phase} tests {p.outcome}" for p in result.phases)
          + ("" if any(p.phase == "integration" for p in result.phases) else ", no integration tests (integration/)"),
          flush=True)
    return result.returncode


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .contracts import CONTRACTS
    from .engine import Engine
    from .errors import LoadError
    from .runtime import PROXY_WORLD, Runtime

    path = Path(args.file)
    with Engine() as engine:
        try:
            fn = Runtime(engine).load_file(path)
        except FileNotFoundError:
            raise CliError(f"{path}: no such file") from None
        except (OSError, LoadError) as exc:
            print(f"wasmlet inspect: {path}: {exc}", file=sys.stderr)
            return 1
        ctype = fn.component.type
        print(f"{path}: {fn.size:,} bytes, sha256 {fn.sha256}")
        if fn.world == PROXY_WORLD:
            handler = next(n for n in ctype.exports(engine.wasm) if n.startswith("wasi:http/incoming-handler@"))
            print(f"world: wasi:http/proxy (exports {handler}; WASI from wasmlet's wasi:http provider)")
        else:
            print("world: wasmlet:faas/function" + (" (+ WASI 0.2)" if fn.uses_wasi else " (no WASI)"))
            newest = next(iter(CONTRACTS))
            print(f"contract: wasmlet:faas@{fn.contract.version}" + (
                " (the newest)" if fn.contract.version == newest else f" (served through an adapter; newest {newest})"))
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


def _setup_logging(json_logs: bool = False) -> None:
    from ._logging import setup_logging

    setup_logging(json_lines=json_logs)


def _engine_settings(server: ServerConfig) -> EngineSettings:
    """The engine `[server]` asks for: the instance pool sized so that every worker thread can hold
    a module-call chain of the deepest kind (and twice that, for attempts and stragglers)."""
    from .capabilities.modules import MAX_DEPTH
    from .engine import EngineSettings
    from .manifest import MAX_MEMORY_MB

    if not server.instance_pool:
        return EngineSettings()
    return EngineSettings(pooling_instances=max(256, 2 * server.worker_threads * (MAX_DEPTH + 1)),
                          pooling_max_memory_mb=MAX_MEMORY_MB,
                          pooling_keep_resident_mb=server.pool_keep_resident_mb,
                          pooling_warm_slots=server.worker_threads)


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
    from .config import ConfigError, discover
    from .dev import DevFunction, DevServer
    from .engine import Engine
    from .errors import LoadError
    from .manifest import ManifestError
    from .runtime import Runtime
    from .server import Listener, check_bindable, run, serve

    _setup_logging(args.json_logs)
    log = logging.getLogger("wasmlet")
    build_dir = Path(".wasmlet") / "dev-build"
    try:
        config, where = discover(Path(args.config) if args.config else None)
        if args.data_dir:
            config = replace(config, data_dir=Path(args.data_dir))
        backends = config.backends()
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    log.info("%s", where)
    if not _start_telemetry(config.telemetry, "dev"):
        return 2
    try:
        functions = [DevFunction.parse(spec, build_dir) for spec in [*args.module, *args.dirs]]
    except (ValueError, OSError, BuildError) as exc:
        raise CliError(str(exc)) from None
    if not functions:
        raise CliError("give at least one source DIR or -m NAME:FILE.wasm (see wasmlet dev --help)")
    host, port = _bind_address(args, config.server.bind)
    _check_server(args.server or config.server.server, args.backend or config.server.backend)
    check_bindable(host, port)
    with Engine(_engine_settings(config.server)) as engine:
        dev = DevServer(Runtime(engine), functions, backends=backends, access_log=not args.no_access_log)
        try:
            dev.load_all()
        except (OSError, LoadError, ManifestError) as exc:
            raise CliError(str(exc)) from None
        dev.host.settings = replace(dev.host.settings, **_request_limits(config.server))
        base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"

        def ready() -> None:
            log.info("functions (GET %s/ lists them):\n%s", base, "\n".join(f"  {u}" for u in dev.urls(base)))

        async def main() -> None:
            await serve([Listener(dev.app, host, port, "functions")], server=args.server or config.server.server,
                        grace_s=args.grace, limits=_connection_limits(config.server),
                        background=[dev.watch, *_event_runners(config, dev.host, dev.registry, backends, 0)],
                        on_ready=ready, on_grace_over=lambda: _stop_everything(engine))

        try:
            run(main, backend=args.backend or config.server.backend)
        finally:
            telemetry.shutdown()
    return 0


def _bind_address(args: argparse.Namespace, configured: str, default_port: int = 3000) -> tuple[str, int]:
    """--bind (HOST:PORT, HOST or PORT) and --port over the configured address."""
    from .server import parse_bind

    bind = args.bind or configured
    if "://" in bind:
        raise CliError(f"--bind: {bind!r}: give HOST:PORT, HOST or PORT, without a scheme")
    try:
        host, port = parse_bind(bind, default_port)
    except ValueError as exc:
        raise CliError(f"--bind: {exc}") from None
    if args.port is not None and not 0 <= args.port <= 65535:
        raise CliError(f"--port: {args.port}: the port must be between 0 and 65535")
    return host, args.port if args.port is not None else port


def _check_server(server: str, backend: str) -> None:
    """uvicorn runs on asyncio only; trio needs hypercorn."""
    if backend == "trio" and server != "hypercorn":
        raise CliError("the trio backend needs the hypercorn server (--server hypercorn, or [server] server = "
                       "\"hypercorn\")")


def _cmd_serve(args: argparse.Namespace) -> int:
    from .admin import admin_app, is_loopback
    from .asgi import Host, HostSettings
    from .config import ConfigError, discover
    from .engine import Engine
    from .registry import RegistryError, open_registry
    from .runtime import Runtime
    from .server import Listener, bind_workers, check_bindable, parse_bind, run, run_workers, serve

    try:
        config, where = discover(Path(args.config) if args.config else None)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    _setup_logging(args.json_logs or config.server.json_logs)
    log = logging.getLogger("wasmlet")
    log.info("%s", where)
    admin_bind = args.admin_bind or config.admin.bind
    try:
        admin_host, admin_port = parse_bind(admin_bind, 3001)
    except ValueError as exc:
        raise CliError(f"--admin-bind: {exc}") from None
    if not config.admin_token and not is_loopback(admin_host):
        raise CliError(f"refusing to start the admin API on {admin_bind} without a token; "
                       "set [admin] token or WASMLET_ADMIN_TOKEN, or bind it to loopback")
    if not config.admin_token:
        log.warning("the admin API on %s has no token: anyone who can reach it on this machine can deploy; "
                    "set WASMLET_ADMIN_TOKEN (or [admin] token) to require one", admin_bind)
    data_dir = Path(args.data_dir) if args.data_dir else config.data_dir
    config = replace(config, data_dir=data_dir)  # the registry and the SQLite kv stores and databases
    host, port = _bind_address(args, config.server.bind)
    server = args.server or config.server.server
    workers = args.workers
    if workers < 1:
        raise CliError("--workers must be 1 or more")
    if workers > 1 and server != "uvicorn":
        raise CliError("--workers needs the uvicorn server")
    _check_server(server, args.backend or config.server.backend)
    check_bindable(admin_host, admin_port, flag="--admin-bind")
    if workers <= 1:
        check_bindable(host, port)

    if not _start_telemetry(config.telemetry, "serve", check_only=True):
        return 2

    def worker(index: int, sock: socket.socket | None = None) -> int:
        telemetry.setup(config.telemetry)  # each (forked) worker its own provider and export thread
        registry = open_registry(config.registry.type, data_dir, config.registry_url)
        with Engine(_engine_settings(config.server), cache_dir=config.cache_dir or data_dir / "compiled") as engine:
            runtime = Runtime(engine)
            settings = HostSettings(worker_threads=config.server.worker_threads,
                                    max_in_flight=config.server.max_in_flight,
                                    access_log=config.server.access_log and not args.no_access_log,
                                    dispatch="auto" if config.server.inline_budget_ms > 0 else "thread",
                                    inline_budget_ms=max(1, config.server.inline_budget_ms),
                                    **_request_limits(config.server))
            backends = config.backends()
            app = Host(runtime, registry, settings, backends)
            listeners = [Listener(app, host, port, f"functions (worker {index})" if sock else "functions", sock)]
            if index == 0:  # one admin API per host, whatever the number of workers
                admin = admin_app(registry, runtime, config.admin_token, metrics=app.metrics.render,
                                  messaging_sources=frozenset(config.messaging))
                listeners.append(Listener(admin, admin_host, admin_port, "admin API"))
            background = [registry.watch, *_event_runners(config, app, registry, backends, index)]

            app.ready_check = registry.unavailable

            def draining() -> None:
                app.draining = True

            async def main() -> None:
                await serve(listeners, server=server, grace_s=config.server.grace_seconds, background=background,
                            limits=_connection_limits(config.server), on_grace_over=lambda: _stop_everything(engine),
                            drain_s=config.server.drain_seconds, on_drain=draining)

            try:
                run(main, backend=args.backend or config.server.backend)
            finally:
                backends.close_messaging()
                telemetry.shutdown()  # a forked worker leaves by os._exit: export what is queued first
        registry.close()
        return 0

    url_from = "WASMLET_REGISTRY_URL" if os.environ.get("WASMLET_REGISTRY_URL") else "[registry] url"
    if config.registry.type == "postgres":
        from .registry.postgres import describe

        if not config.registry_url:
            raise CliError('[registry] type = "postgres" needs a url: set [registry] url or WASMLET_REGISTRY_URL')
        log.info("registry: PostgreSQL at %s (url from %s; compiled components cached in %s)",
                 describe(config.registry_url), url_from, config.cache_dir or data_dir / "compiled")
    else:
        if os.environ.get("WASMLET_REGISTRY_URL"):
            log.warning('registry: WASMLET_REGISTRY_URL is set but [registry] type is "sqlite", so it is not used; '
                        'set [registry] type = "postgres" to share a PostgreSQL registry')
        log.info("registry: SQLite in %s", data_dir)
    try:  # create the data directory and schema once, before forking; wait for PostgreSQL here
        open_registry(config.registry.type, data_dir, config.registry_url).close()
    except RegistryError as exc:
        raise CliError(f"{exc} (url from {url_from})" if config.registry.type == "postgres" else str(exc)) from None
    if workers <= 1:
        return worker(0)
    try:
        sockets = bind_workers(host, port, workers)
    except OSError as exc:
        raise CliError(_bind_failure(host, port, exc)) from None
    return run_workers(workers, lambda index: worker(index, sockets[index]), sockets)


def _event_runners(config: Any, app: Any, registry: Any, backends: Any, index: int) -> list[Any]:
    """The background tasks that run a host's triggers: message consumers in every worker (JetStream's
    durable consumers split the messages), schedules in worker 0 (one timer per host)."""
    from .events.runner import TriggerRunner
    from .events.schedules import ScheduleRunner

    tasks: list[Any] = []
    if config.messaging:
        tasks.append(TriggerRunner(app, registry, backends.messaging, worker_threads=config.server.worker_threads).run)
    if config.server.async_source:
        from .events.async_calls import AsyncInvocations

        source = backends.messaging(config.server.async_source)
        calls = AsyncInvocations(source.url, source.stream or "WASMLET")
        app.async_calls = calls
        concurrency = max(1, config.server.worker_threads // 2)
        tasks.append(lambda: calls.consume(app, registry, concurrency))
    if index == 0:
        label = config.server.schedule_source
        source = backends.messaging(label) if label else None
        tasks.append(ScheduleRunner(app, registry, source).run)
    return tasks


def _cmd_invoke(args: argparse.Namespace) -> int:
    """Calls a function over HTTP; with --async queues it and prints the invocation's id (--wait: its outcome)."""
    import httpx

    name, _, version = args.function.partition("/")
    path = args.path if args.path.startswith("/") else "/" + args.path
    base = args.url.rstrip("/")
    if "://" not in base:
        base = f"http://{base}"
    data = args.data.encode() if args.data is not None else b""
    if args.data is not None and args.data.startswith("@"):
        try:
            data = Path(args.data[1:]).read_bytes()
        except OSError as exc:
            raise CliError(f"--data {args.data}: {exc.strerror or exc}") from None
    headers = [tuple(h.split(":", 1)) for h in args.header]
    if any(len(h) != 2 for h in headers):
        raise CliError("--header takes NAME:VALUE")
    try:
        with httpx.Client(timeout=args.timeout) as client:
            if not args.asynchronous:
                resp = client.request(args.method, f"{base}/{name}/{version or 'latest'}{path}", content=data,
                                      headers=headers)
                print(f"{resp.status_code} {resp.reason_phrase}", file=sys.stderr)
                sys.stdout.buffer.write(resp.content)
                return EXIT_OK if resp.status_code < 400 else EXIT_FAILED
            resp = client.post(f"{base}/_wasmlet/async/{name}/{version or 'latest'}{path}", content=data,
                               headers=headers + ([("idempotency-key", args.idempotency_key)]
                                                  if args.idempotency_key else []))
            if resp.status_code != 202:
                raise CliError(f"not queued: {resp.status_code} {_error_text(resp)}")
            invocation = resp.json()["id"]
            if not args.wait:
                print(invocation)
                return EXIT_OK
            deadline = time.monotonic() + args.timeout
            while True:
                record = client.get(f"{base}/_wasmlet/async/{invocation}").json()
                if record.get("status") in ("succeeded", "failed", "dead") or time.monotonic() > deadline:
                    print(json.dumps(record, indent=2))
                    return EXIT_OK if record.get("status") == "succeeded" else EXIT_FAILED
                time.sleep(0.25)
    except httpx.TransportError as exc:
        raise CliError(f"{base}: {type(exc).__name__}: {exc} (is a wasmlet server running there? --url)") from None


def _error_text(resp: Any) -> str:
    try:
        return str(resp.json().get("error", resp.text))
    except ValueError:
        return str(resp.text[:200])


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    from .server import explain_bind_error

    return explain_bind_error(host, port, exc)


def _client(args: argparse.Namespace) -> Any:
    import httpx

    token = (args.token or os.environ.get("WASMLET_ADMIN_TOKEN", "")).strip()
    if any(ord(c) < 0x21 or ord(c) > 0x7e for c in token):
        raise CliError("the admin token holds spaces or control characters (a pasted newline?): check --token / "
                       "WASMLET_ADMIN_TOKEN")
    url = args.admin.strip()
    if "://" not in url:
        url = f"http://{url}"
    elif not url.startswith(("http://", "https://")):
        raise CliError(f"--admin {args.admin!r}: the admin API's URL starts with http:// or https://")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=120)


def _report(resp: Any) -> int:
    if resp.status_code >= 400:
        try:
            body = resp.json()
            message = body.get("error", resp.text)
            rid = body.get("request_id")
        except ValueError:
            message, rid = resp.text.strip() or resp.reason_phrase, None
        hint = " (give --token or set WASMLET_ADMIN_TOKEN)" if resp.status_code in (401, 403) else ""
        if resp.status_code == 404 and str(message).startswith("unknown function or version: v1/"):
            hint = f" ({resp.request.url.host}:{resp.request.url.port} serves functions, not the admin API: check --admin)"
        print(f"error {resp.status_code}: {message}{hint}" + (f" [request {rid}]" if rid else ""), file=sys.stderr)
        return 1
    return 0


_CORE_MODULE = b"\0asm\x01\x00\x00\x00"
_COMPONENT_PREFIX = b"\0asm"


def _read_component(path: Path) -> bytes:
    """The file's bytes when it is a WebAssembly component; a one-line CliError otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CliError(f"{path}: no such file (build one with `wasmlet build DIR -o {path}`)") from None
    except IsADirectoryError:
        raise CliError(f"{path} is a folder: build it first (`wasmlet build {path}`) and give the .wasm") from None
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    if data.startswith(_CORE_MODULE):
        raise CliError(f"{path} is a core WebAssembly module, not a component: build it with `wasmlet build`")
    if not data.startswith(_COMPONENT_PREFIX):
        raise CliError(f"{path} is not a WebAssembly component (it does not start with \\0asm)")
    return data


def _cmd_deploy(args: argparse.Namespace) -> int:
    wasm = _read_component(Path(args.file))
    manifest = ""
    found = Path(args.manifest) if args.manifest else _manifest_beside(Path(args.file))
    if found is not None:
        try:
            manifest = found.read_text()
        except OSError as exc:
            raise CliError(f"--manifest {found}: {exc.strerror}") from None
        from .manifest import Manifest, ManifestError

        try:
            Manifest.from_toml(manifest)  # refused here in one line, not after a long upload
        except ManifestError as exc:
            raise CliError(f"{found}: {exc}") from None
        _say(f"manifest: {found}")
    else:
        _say(f"no manifest beside {args.file} (NAME.toml or function.toml) and no --manifest: it is granted nothing")
    from .names import check_function_name

    try:
        check_function_name(args.name)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    with _client(args) as client:
        listing = client.get("/v1/functions")  # the token and the address, checked before a long upload
        if _report(listing):
            return 1
        before = {v["version"] for v in listing.json()["functions"].get(args.name, {}).get("versions", [])}
        _say(f"uploading {args.file} ({len(wasm) / 1e6:.1f} MB) to {args.admin}; the host compiles it before answering…")
        resp = client.post(f"/v1/functions/{args.name}/versions",
                           files={"component": ("component.wasm", wasm, "application/wasm")},
                           data={"manifest": manifest})
    if _report(resp):
        return 1
    body = resp.json()
    if body["version"] in before:
        print(f"unchanged: {body['function']} {body['version']} already holds this component and manifest "
              f"(sha256 {body['sha256'][:12]}), latest -> {body['version']}")
    else:
        print(f"deployed {body['function']} {body['version']} (sha256 {body['sha256'][:12]}), latest -> {body['version']}")
    return 0


def _manifest_beside(component: Path) -> Path | None:
    """The manifest a component deploys with when --manifest is not given: `NAME.toml` beside
    `NAME.wasm` (as `wasmlet dev -m` reads it), else the source folder's `function.toml` when the
    component was built into it (`wasmlet build DIR`)."""
    from .manifest import manifest_path

    beside = component.with_suffix(".toml")
    if beside.is_file():
        return beside
    return manifest_path(component.resolve().parent)


def _say(line: str) -> None:
    """A progress line on stderr (stdout keeps the command's result)."""
    print(line, file=sys.stderr, flush=True)


def _cmd_ls(args: argparse.Namespace) -> int:
    with _client(args) as client:
        resp = client.get("/v1/functions")
    if _report(resp):
        return 1
    for name, entry in sorted(resp.json()["functions"].items()):
        aliases = entry["aliases"]
        for v in entry["versions"]:
            tags = sorted(a for a, target in aliases.items() if target == v["version"])
            print(f"{name}\t{v['version']}\t{v['sha256'][:12]}\t{v.get('world', '?')}\t{','.join(tags)}")
    return 0


def _cmd_alias(args: argparse.Namespace) -> int:
    with _client(args) as client:
        resp = client.put(f"/v1/functions/{args.name}/aliases/{args.alias}", json={"version": args.version})
    if _report(resp):
        return 1
    print(f"{args.name}/{args.alias} -> {args.version}")
    return 0


def _cmd_rm(args: argparse.Namespace) -> int:
    """Deletes one version, one alias (--alias) or the whole function (--all, --force)."""
    if sum((args.version is not None, args.alias is not None, args.all)) != 1 or (args.force and not args.all):
        print("wasmlet rm: name exactly one of VERSION, --alias ALIAS or --all (--force only with --all)",
              file=sys.stderr)
        return 2
    with _client(args) as client:
        if args.all:
            resp = client.delete(f"/v1/functions/{args.name}", params={"force": "true"} if args.force else None)
        elif args.alias is not None:
            resp = client.delete(f"/v1/functions/{args.name}/aliases/{args.alias}")
        else:
            resp = client.delete(f"/v1/functions/{args.name}/versions/{args.version}")
    if _report(resp):
        return 1
    if args.all:
        body = resp.json()
        aliases = ", ".join(f"{a} -> {v}" for a, v in body["aliases"].items()) or "none"
        print(f"deleted {args.name}: versions {', '.join(body['versions']) or 'none'}; aliases {aliases}")
    elif args.alias is not None:
        print(f"deleted alias {args.name}/{args.alias} (it named {resp.json()['version']})")
    else:
        print(f"deleted {args.name}/{args.version}")
    return 0


def _explain(exc: Exception) -> int:
    """Exit code and one line for the everyday failures of servers and the admin client; anything
    else is a bug and keeps its traceback. httpx is imported only if the admin client was used
    (a server's start does not pay for it)."""
    from .server import BindError

    if isinstance(exc, BindError):
        print(f"wasmlet: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if "httpx" in sys.modules:
        import httpx

        if isinstance(exc, httpx.ConnectError):
            url = getattr(getattr(exc, "request", None), "url", None)
            where = f"{url.scheme}://{url.host}:{url.port}" if url is not None else "the admin API"
            print(f"wasmlet: no admin API answers at {where} (is `wasmlet serve` running? --admin or "
                  "WASMLET_ADMIN_URL point elsewhere)", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, httpx.TimeoutException):
            print("wasmlet: the admin API did not answer in time", file=sys.stderr)
            return EXIT_FAILED
    raise exc


def main(argv: list[str] | None = None) -> int:
    """The `wasmlet` command: everyday mistakes are one line on stderr, not a traceback."""
    try:
        return _parse_and_run(argv)
    except CliError as exc:
        print(f"wasmlet: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        return _explain(exc)
    except KeyboardInterrupt:
        print("wasmlet: interrupted", file=sys.stderr)
        return 130


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help (when it has one worth saying); epilogs kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" not in text and action.default not in (None, False, argparse.SUPPRESS, []) \
                and action.dest != "help":
            text += " (default: %(default)s)"
        return text


_ADMIN_ENV = """environment:
  WASMLET_ADMIN_URL     the admin API's URL (instead of --admin)
  WASMLET_ADMIN_TOKEN   the admin API's bearer token (instead of --token)"""
_SERVE_ENV = """environment:
  WASMLET_ADMIN_TOKEN   the admin API's bearer token (over [admin] token)
  WASMLET_REGISTRY_URL  the PostgreSQL registry's URL (over [registry] url)
  OTEL_*                OpenTelemetry's standard variables (over [telemetry])"""
_DEV_ENV = """environment:
  OTEL_*                OpenTelemetry's standard variables (over [telemetry])
  WASMLET_BUILD_CACHE   where input-addressed Python builds are kept (default ~/.cache/wasmlet/builds)
  CARGO_TARGET_DIR      where cargo builds (default: the function's target/)"""
_TEST_ENV = """environment:
  WASMLET_BUILD_CACHE   where input-addressed Python builds are kept (default ~/.cache/wasmlet/builds)
  CARGO_TARGET_DIR      where cargo builds (default: the function's target/)"""
_EXIT_CODES = "exit codes: 0 done, 1 the work failed, 2 a usage or setup mistake, 130 interrupted"


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="wasmlet", formatter_class=_HelpFormatter, epilog=_EXIT_CODES,
                                     description="Serve WebAssembly components as functions: write a handler in Rust "
                                                 "or Python, build it into one component, serve it sandboxed.")
    parser.add_argument("--version", action="version", version=f"wasmlet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=textwrap.fill(description, 100),
                              epilog=epilog or _EXIT_CODES, formatter_class=_HelpFormatter)

    p = sub.add_parser("bindgen", help="generate typed Python/Rust/TypeScript bindings from any WIT package (--help for more)",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_bindgen)

    p = command("new", "scaffold a function (rust, python, ts or js) with passing tests",
                "Write a new function folder: the handler, a static index page, unit tests and an integration "
                "test that runs the built component through wasmlet.testing.")
    p.add_argument("language", choices=["rust", "python", "ts", "js"], help="the function's language (ts: TypeScript, js: JavaScript)")
    p.add_argument("name", help="the function's name (lower case letters, digits, - and _)")
    p.add_argument("--dir", default=".", help="the folder to create it in")
    p.set_defaults(func=_cmd_new)

    p = command("build", "build a function's source folder into a component",
                "Build a Rust (Cargo.toml) or Python (app.py) function into one component, showing the tools' "
                "output as it comes. Python builds are input-addressed: the same source gives the same bytes from the "
                "build cache (componentize-py alone differs run to run).",
                _TEST_ENV + "\n\n" + _EXIT_CODES)
    p.add_argument("dir", nargs="?", default=".", help="the function's source folder")
    p.add_argument("-o", "--output", help="the component to write (default: DIR/NAME.wasm)")
    p.add_argument("-q", "--quiet", action="store_true", help="only the result line, not the tools' output")
    p.add_argument("--wit", metavar="DIR", help="build for a world of this WIT package (default: wasmlet's own)")
    p.add_argument("--world", help="the world to build for, with --wit (default: function)")
    p.set_defaults(func=_cmd_build)

    p = command("test", "run a function's unit tests, then its integration tests",
                "Run a function's unit tests natively (cargo test or pytest), then the integration tests in its "
                "integration/ folder, which build the component and call it through wasmlet.testing.",
                _TEST_ENV + "\n\n" + _EXIT_CODES)
    p.add_argument("dir", nargs="?", default=".", help="the function's source folder")
    p.set_defaults(func=_cmd_test)

    p = command("inspect", "print a component's world, imports, exports and size",
                "Load a component as the host would and print what it imports and exports.")
    p.add_argument("file", help="the component (.wasm)")
    p.set_defaults(func=_cmd_inspect)

    p = command("dev", "serve functions from source folders or .wasm files, rebuilding on change",
                "Serve functions for development: source folders are built (and rebuilt on every save), .wasm "
                "files reloaded when they change, manifests (function.toml, or NAME.toml beside a .wasm) re-read. "
                "Reads ./wasmlet.toml when there is one. GET / lists the functions.", _DEV_ENV + "\n\n" + _EXIT_CODES)
    p.add_argument("dirs", nargs="*", metavar="DIR", help="function source folders, served under their folder name")
    p.add_argument("-m", "--module", action="append", default=[], metavar="NAME:PATH",
                   help="a function: NAME:FILE.wasm, or NAME:DIR to build from source")
    p.add_argument("--bind", help="HOST:PORT, HOST or PORT to serve on (default: [server] bind, 127.0.0.1:3000)")
    p.add_argument("--port", type=int, help="the port, whatever --bind says")
    p.add_argument("--config", help="the server config (default: ./wasmlet.toml when present, else built-in defaults)")
    p.add_argument("--data-dir", help="where SQLite kv stores and databases live (default: [data_dir], .wasmlet/data)")
    p.add_argument("--server", choices=["uvicorn", "hypercorn"], help="the HTTP server (default: [server] server)")
    p.add_argument("--backend", choices=["asyncio", "trio"], help="the async event loop (default: [server] backend)")
    p.add_argument("--grace", type=float, default=5.0, help="seconds in-flight requests get on shutdown")
    p.add_argument("--json-logs", action="store_true", help="every log line as one JSON object")
    p.add_argument("--no-access-log", action="store_true", help="no line per request (errors are still logged)")
    p.set_defaults(func=_cmd_dev)

    p = command("serve", "serve deployed functions with a registry and an admin API",
                "Serve the functions deployed to the registry ([registry]: SQLite in --data-dir by default, or a "
                "PostgreSQL database several hosts share), with the admin API (deploy, alias, rm, metrics) on "
                "--admin-bind. Reads ./wasmlet.toml when there is one; every setting has a default.",
                _SERVE_ENV + "\n\n" + _EXIT_CODES)
    p.add_argument("--config", help="the server config (default: ./wasmlet.toml when present, else built-in defaults)")
    p.add_argument("--bind", help="HOST:PORT, HOST or PORT to serve on (default: [server] bind, 127.0.0.1:3000)")
    p.add_argument("--port", type=int, help="the port, whatever --bind says")
    p.add_argument("--admin-bind", help="the admin API's HOST:PORT (default: [admin] bind, 127.0.0.1:3001)")
    p.add_argument("--data-dir", help="the SQLite registry (unless [registry] names PostgreSQL), SQLite data and "
                                      "compiled components (default: [data_dir], .wasmlet/data)")
    p.add_argument("--server", choices=["uvicorn", "hypercorn"], help="the HTTP server (default: [server] server)")
    p.add_argument("--backend", choices=["asyncio", "trio"], help="the async event loop (default: [server] backend)")
    p.add_argument("--json-logs", action="store_true", help="every log line as one JSON object")
    p.add_argument("--no-access-log", action="store_true", help="no line per request (errors are still logged)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes sharing the listening socket (one engine and compile cache dir)")
    p.set_defaults(func=_cmd_serve)

    p = command("invoke", "call a function over HTTP, or queue it with --async",
                "Send one request to NAME[/VERSION] (default latest) at PATH on a running server and print the "
                "response body (its status on stderr). With --async, queue it (POST /_wasmlet/async/...) and print "
                "the invocation id; --wait polls until it finished and prints its record.", _EXIT_CODES)
    p.add_argument("function", metavar="NAME[/VERSION]", help="the function, e.g. orders or orders/v3")
    p.add_argument("path", nargs="?", default="/", help="the path below the function (default /)")
    p.add_argument("--url", default="http://127.0.0.1:3000", help="the server (default http://127.0.0.1:3000)")
    p.add_argument("-X", "--method", default="GET", help="the method (default GET; --async always POSTs)")
    p.add_argument("-d", "--data", help="the body, or @FILE")
    p.add_argument("-H", "--header", action="append", default=[], help="a header NAME:VALUE (repeatable)")
    p.add_argument("--async", dest="asynchronous", action="store_true", help="queue it; print the invocation id")
    p.add_argument("--wait", action="store_true", help="with --async: wait for the outcome and print it")
    p.add_argument("--idempotency-key", help="with --async: the same key queues once")
    p.add_argument("--timeout", type=float, default=60, help="seconds to wait (default 60)")
    p.set_defaults(func=_cmd_invoke)

    admin_url = os.environ.get("WASMLET_ADMIN_URL", "http://127.0.0.1:3001")
    for name, fn, summary, description in (
            ("deploy", _cmd_deploy, "deploy a component as a new version",
             "Upload a component (and its manifest) as the function's next version; latest points at it. "
             "The host compiles it before answering. The same bytes and manifest again are not a new version."),
            ("ls", _cmd_ls, "list functions, versions and aliases", "List every function, version and alias."),
            ("alias", _cmd_alias, "point an alias (e.g. latest) at a version",
             "Point an alias at a version: requests to /NAME/ALIAS/ go there from now on."),
            ("rm", _cmd_rm, "delete a version, an alias (--alias) or a whole function (--all)",
             "Delete a version (refused while an alias names it), an alias, or a whole function "
             "with every version and alias (refused while aliases other than latest exist, "
             "unless --force). Version numbers are never reused.")):
        p = command(name, summary, description, _ADMIN_ENV + "\n\n" + _EXIT_CODES)
        p.add_argument("--admin", default=admin_url, help="the admin API's URL")
        p.add_argument("--token", default="", help="the admin API's bearer token (default: $WASMLET_ADMIN_TOKEN)")
        if name == "deploy":
            p.add_argument("name", help="the function")
            p.add_argument("file", help="the component (.wasm)")
            p.add_argument("--manifest", help="its manifest (function.toml); none grants nothing")
        elif name == "alias":
            p.add_argument("name", help="the function")
            p.add_argument("alias", help="the alias, e.g. stable")
            p.add_argument("version", help="the version it names, e.g. v3")
        elif name == "rm":
            p.add_argument("name", help="the function")
            p.add_argument("version", nargs="?", help="the version to delete, e.g. v2")
            p.add_argument("--alias", help="delete this alias instead (latest too; the next deploy sets it again)")
            p.add_argument("--all", action="store_true", help="delete the function: every version and alias")
            p.add_argument("--force", action="store_true", help="with --all: even while named aliases exist")
        p.set_defaults(func=fn)
    return parser


def _parse_and_run(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bindgen"]:  # its own options (e.g. --check) go to wasmlet_bindgen untouched
        return _cmd_bindgen(argparse.Namespace(rest=argv[1:]))
    args = _parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
