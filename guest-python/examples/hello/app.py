"""Hello world: a greeting and a capitalising API."""

import wit_world
from wit_world.imports import types


def reply(status: int, content_type: str, body: str) -> types.Response:
    return types.Response(status, [("content-type", content_type)], types.Body_Text(body))


class WitWorld(wit_world.WitWorld):
    def handle(self, event: types.Event) -> types.Response:
        req = event.value if isinstance(event, types.Event_Http) else event.value.request
        if req.path == "/":
            return reply(200, "text/html; charset=utf-8",
                         f'<!doctype html><h1>Hello from Python</h1><p>Try <a href="{req.mount}/api/capitalize/hello-world">'
                         "capitalize</a>.</p>")
        if req.path.startswith("/api/capitalize/"):
            return reply(200, "text/plain; charset=utf-8", req.path.removeprefix("/api/capitalize/").upper())
        return reply(404, "application/json", '{"error": "no route"}')
