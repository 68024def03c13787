"""A test function that misbehaves on request (the Python twin of probe-rust)."""

import wit_world
from wit_world.imports import log, types


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
    if req.path == "/bad-status":
        return text(42, "not a status")
    if req.path == "/bad-header":
        return types.Response(200, [("x-bad", "a\r\nb")], types.Body_Text("x"))
    if req.path == "/spin":
        import time

        ms = int(dict(p.split("=", 1) for p in req.query.split("&") if "=" in p).get("ms", "100"))
        end = time.monotonic() + ms / 1000
        while time.monotonic() < end:
            pass
        return text(200, f"spun {ms} ms")
    if req.path == "/panic":
        raise RuntimeError("deliberate exception for testing")
    if req.path == "/log":
        log.log(log.Level.INFO, "hello from the probe")
        return text(200, "logged")
    if req.path == "/files":
        try:
            with open("/etc/passwd") as f:
                return text(200, f.read())
        except OSError as exc:
            return text(403, f"denied: {exc}")
    if req.path == "/env":
        import os

        return text(200, repr(dict(os.environ)))
    return text(404, "no such probe")


class WitWorld(wit_world.WitWorld):
    def handle(self, event: types.Event) -> types.Response:
        if isinstance(event, types.Event_Http):
            return respond(event.value)
        return respond(event.value.request)
