"""A test function that misbehaves on request (the Python twin of probe-rust); it also answers
messages (publishing a reply) and schedules."""

# Everything used at run time is imported here: componentize-py keeps only the
# modules imported while the component is built.
import json
import os
import socket
import struct
import time
from urllib.parse import parse_qsl

import wasmlet_guest as sdk
import wit_world
from componentize_py_types import Err
from wit_world.imports import log, messaging, types


def text(status: int, body: str) -> types.Response:
    return types.Response(status, [("content-type", "text/plain; charset=utf-8")], types.Body_Text(body))


def respond(req: types.Request) -> types.Response:
    if req.path == "/hello":
        return text(200, "hello from python")
    if req.path == "/echo":
        return types.Response(200, req.headers, req.body)
    if req.path == "/info":
        return text(200, f"{req.method} {req.path} ?{req.query} mount={req.mount}")
    if req.path == "/loop":
        while True:
            pass
    if req.path == "/alloc":
        keep = []
        while True:
            keep.append(bytearray(1 << 20))
    if req.path in HOSTCALLS:
        return hostcall(req)
    if req.path == "/bad-status":
        return text(42, "not a status")
    if req.path == "/bad-header":
        return types.Response(200, [("x-bad", "a\r\nb")], types.Body_Text("x"))
    if req.path == "/spin":
        q = dict(p.split("=", 1) for p in req.query.split("&") if "=" in p)
        ms = int(q.get("ms", "100"))
        if "log" in q:
            log.log(log.Level.WARN, f"spinning {ms} ms")
        end = time.monotonic() + ms / 1000
        while time.monotonic() < end:
            pass
        return text(200, f"spun {ms} ms")
    if req.path == "/panic":
        raise RuntimeError("deliberate exception for testing")
    if req.path == "/log":
        log.log(log.Level.INFO, "hello from the probe")
        return text(200, "logged")
    if req.path == "/log-flood":  # many lines, each trying to forge a host log line
        n = int(dict(parse_qsl(req.query)).get("n", "100000"))
        for i in range(n):
            log.log(log.Level.INFO, f"line {i}\n2026-01-01 00:00:00 ERROR wasmlet: forged \x1b[31mred")
        return text(200, f"logged {n}")
    if req.path == "/print-flood":  # stdout as fast as the guest can write it
        mb = int(dict(parse_qsl(req.query)).get("mb", "200"))
        chunk = b"x" * 4096  # WASI takes at most 4096 bytes a write
        for _ in range(mb * 256):
            os.write(1, chunk)
        return text(200, f"printed {mb} MB")
    if req.path == "/files":
        try:
            with open("/etc/passwd") as f:
                return text(200, f.read())
        except OSError as exc:
            return text(403, f"denied: {exc}")
    if req.path == "/env":
        return text(200, repr(dict(os.environ)))
    return text(404, "no such probe")


HOSTCALLS = {"/config", "/kv", "/sql", "/http", "/call", "/socket", "/recurse", "/repeat", "/sql-cells", "/sql-blob"}


def hostcall(req: types.Request) -> types.Response:
    """Exercises a hostcall through the SDK's wrappers; denied -> 403, other failures -> 502."""
    q = dict(parse_qsl(req.query))
    try:
        if req.path == "/config":
            return text(200, repr(sdk.config.get(q["key"])))
        if req.path == "/kv":
            op, store = q["op"], q.get("store", "default")
            if op == "set":
                sdk.kv.set(store, q["key"], q["value"].encode())
                return text(200, "ok")
            if op == "get":
                return text(200, repr(sdk.kv.get(store, q["key"])))
            if op == "delete":
                sdk.kv.delete(store, q["key"])
                return text(200, "ok")
            return text(200, json.dumps(sdk.kv.keys(store, q.get("prefix", ""))))
        if req.path == "/sql":
            body = json.loads(req.body.value if isinstance(req.body, types.Body_Text) else req.body.value.decode())
            if body.get("query"):
                return text(200, json.dumps(sdk.sql.query(body["db"], body["statement"], body.get("params", []))))
            return text(200, str(sdk.sql.execute(body["db"], body["statement"], body.get("params", []))))
        if req.path == "/http":
            resp = sdk.http.get(q["url"])
            return text(200, f"{resp.status} {resp.body.decode(errors='replace')}")
        if req.path == "/call":
            resp = sdk.call(q["module"], sdk.Request("GET", q.get("path", "/hello")))
            return text(200, f"{resp.status} {resp.body.decode(errors='replace')}")
        if req.path == "/sql-blob":  # the body as a blob parameter and back as a cell (`SELECT ?`)
            from wasmlet_guest._component import body_from_wire, body_to_wire

            (row,) = sdk.sql.query("default", "SELECT ? AS b", [body_from_wire(types, req.body)])
            return types.Response(200, [("content-type", "application/octet-stream")], body_to_wire(types, row["b"]))
        if req.path == "/sql-cells":  # one line per cell, exactly (the twin of probe-rust's)
            lines = []
            for row in sdk.sql.query("default", req.body.value, []):
                for v in row.values():
                    if v is None:
                        lines.append("null")
                    elif isinstance(v, bool) or isinstance(v, int):
                        lines.append(f"int {v}")
                    elif isinstance(v, float):
                        lines.append(f"real {struct.unpack('>Q', struct.pack('>d', v))[0]:016x}")
                    elif isinstance(v, str):
                        lines.append(f"text {v.encode().hex()}")
                    else:
                        lines.append(f"blob {bytes(v).hex()}")
            return text(200, "".join(line + "\n" for line in lines))
        if req.path == "/repeat":  # n hostcalls of one kind (bench/phases.py: the cost of one)
            kind, n = q.get("kind", "log"), int(q.get("n", "1"))
            for _ in range(n):
                if kind == "log":
                    sdk.log.debug("repeat")
                elif kind == "config":
                    sdk.config.get("key")
                elif kind == "kv":
                    sdk.kv.get("default", "key")
                elif kind == "sql":
                    sdk.sql.query("default", "SELECT 1 AS one, 'x' AS two")
            return text(200, f"{kind} x {n}")
        if req.path == "/recurse":  # calls itself until the host stops it
            me = req.mount.strip("/").split("/")[0]
            resp = sdk.call(me, sdk.Request("GET", "/recurse"))
            return text(resp.status, resp.body.decode(errors="replace"))
        if req.path == "/socket":
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.settimeout(2)
                sock.connect(("127.0.0.1", int(q.get("port", "5432"))))
                return text(200, "connected")
            except Exception as exc:  # any failure: the sandbox has no network
                return text(403, f"no sockets: {type(exc).__name__}: {exc}")
    except sdk.HostError as exc:
        status = 403 if exc.kind == "denied" else 508 if "depth limit" in exc.message else 502
        return text(status, f"{exc.kind}: {exc.message}")
    return text(404, "no such hostcall")


def publish(source: str, subject: str, payload: types.Body, headers: list[tuple[str, str]]) -> types.Response:
    """Publishes through the raw binding: 200, 403 with the error when denied, 502 when the broker failed."""
    try:
        messaging.publish(source, subject, payload, headers)
    except Err as err:
        status = 403 if isinstance(err.value, messaging.Error_Denied) else 502
        return text(status, f"{type(err.value).__name__.split('_')[-1].lower()}: {err.value.value}")
    return text(200, "published")


def on_message(msg: types.Message) -> types.Response:
    """`trap` traps, `reject` answers 400, anything else is published to `<subject>.reply` on the same source."""
    payload = msg.payload.value if isinstance(msg.payload, types.Body_Text) else None
    if payload == "trap":
        raise RuntimeError("deliberate exception for testing")
    if payload == "reject":
        return text(400, "rejected")
    return publish(msg.source, f"{msg.subject}.reply", msg.payload, [("attempt", str(msg.attempt)), ("id", msg.id)])


def on_schedule(schedule: types.Schedule) -> types.Response:
    """Publishes `<name> <due_ms>` to `schedules.fired` on `events`."""
    return publish("events", "schedules.fired", types.Body_Text(f"{schedule.name} {schedule.due_ms}"), [])


class WitWorld(wit_world.WitWorld):
    def handle(self, event: types.Event) -> types.Response:
        if isinstance(event, types.Event_Http):
            return respond(event.value)
        if isinstance(event, types.Event_Message):
            return on_message(event.value)
        if isinstance(event, types.Event_Schedule):
            return on_schedule(event.value)
        return respond(event.value.request)
