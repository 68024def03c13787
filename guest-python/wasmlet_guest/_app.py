"""The app: routes by method and path pattern, extractors, onion middleware, static files;
message handlers by subject pattern and schedule handlers by name."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import sys
import typing
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from ._events import Message, MessageHandler, Schedule, ScheduleHandler, check_pattern, subject_matches
from ._extract import EXTRACTOR_NAMES, Rejection, extractor_for, is_extractor
from ._host import HostError
from ._http import Request, Response, dumps
from ._static import StaticDir

CallNext = Callable[[Request], Response]
Middleware = Callable[[Request, CallNext], Response]
_PARAM = re.compile(r"^(?:\{(\w+)\}|:(\w+))$")


def to_response(value: Any) -> Response:
    """What a handler returned, as a response."""
    if isinstance(value, Response):
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int):
        resp = to_response(value[1])
        resp.status = value[0]
        return resp
    if isinstance(value, str):
        return Response.text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Response(200, [("content-type", "application/octet-stream")], bytes(value))
    if value is None:
        return Response(204)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return Response(200, [("content-type", "application/json")], dumps(value))
    return Response(200, [("content-type", "application/json")], dumps(value))


def _reply(handler: Callable[[Any], Any], event: Message | Schedule) -> Response:
    """Runs a message or schedule handler: None acknowledges (200); a HostError or Rejection answers as on a route."""
    try:
        value = handler(event)
    except HostError as err:
        return err.response()
    except Rejection as rejection:
        return rejection.response
    return Response(200) if value is None else to_response(value)


def _unfillable(handler: Callable[..., Any], route: str, name: str, annotation: Any, params: list[str]) -> TypeError:
    """The decoration-time error for a parameter no request can fill (it would answer 500 every time)."""
    where = f"path parameters: {', '.join(params)}" if params else "it has none"
    hint = ""
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        hint = f"; for a JSON body write `{name}: Json[{annotation.__name__}]`"
    return TypeError(f"handler {handler.__qualname__}() for {route}: parameter `{name}` is neither a path "
                     f"parameter of the route ({where}) nor an extractor ({EXTRACTOR_NAMES}){hint}")


class _Route:
    def __init__(self, methods: list[str], pattern: str, handler: Callable[..., Any]) -> None:
        self.methods = methods
        self.segments = [s for s in pattern.split("/") if s]
        self.rest = self.segments[-1][1:] if self.segments and self.segments[-1].startswith("*") else None
        if self.rest is not None:
            self.segments = self.segments[:-1]
        self.handler = handler
        self.extractors = self._extractors(f"{' '.join(methods)} {pattern}")

    def _param_names(self) -> list[str]:
        """The route's path parameter names, in order (the `*rest` one last)."""
        names = [m.group(1) or m.group(2) for m in map(_PARAM.match, self.segments) if m]
        return names + ([self.rest] if self.rest is not None else [])

    def _extractors(self, route: str) -> list[tuple[str, Callable[[Request], Any]]]:
        """One extractor per handler parameter; raises TypeError now for a parameter nothing can fill."""
        hints = typing.get_type_hints(self.handler, include_extras=True)
        params = self._param_names()
        extractors = []
        for name in inspect.signature(self.handler).parameters:
            annotation = hints.get(name, str)
            if name not in params and not is_extractor(annotation):
                raise _unfillable(self.handler, route, name, annotation, params)
            extractors.append((name, extractor_for(name, annotation)))
        return extractors

    def match(self, path: str) -> dict[str, str] | None:
        parts = [p for p in path.split("/") if p]
        if len(parts) < len(self.segments) or (self.rest is None and len(parts) != len(self.segments)):
            return None
        params = {}
        for seg, part in zip(self.segments, parts):
            m = _PARAM.match(seg)
            if m:
                params[m.group(1) or m.group(2)] = unquote(part)
            elif seg != part:
                return None
        if self.rest is not None:
            params[self.rest] = "/".join(parts[len(self.segments):])
        return params

    def call(self, req: Request) -> Response:
        try:
            args = {name: extract(req) for name, extract in self.extractors}
        except Rejection as rejection:
            return rejection.response
        try:
            return to_response(self.handler(**args))
        except HostError as err:  # an uncaught failed hostcall: 403, 503 or 500 with its kind
            return err.response()


class App:
    """A function's routes, middleware, static folders, message and schedule handlers."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._middleware: list[Middleware] = []
        self._statics: list[StaticDir] = []
        self._messages: list[tuple[str, MessageHandler]] = []
        self._schedules: list[tuple[str, ScheduleHandler]] = []
        caller = sys._getframe(1).f_globals.get("__file__")
        self._base = os.path.dirname(os.path.abspath(caller)) if caller else None

    # ------------------------------------------------------------ building
    def route(self, path: str, methods: list[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Registers a handler; `{name}` (or `:name`) is a path parameter, `*name` the rest of the path."""
        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            self._routes.append(_Route([m.upper() for m in methods], path, handler))
            return handler

        return register

    def get(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["GET", "HEAD"])

    def post(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["POST"])

    def put(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["PUT"])

    def delete(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["DELETE"])

    def patch(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["PATCH"])

    def middleware(self, fn: Middleware) -> Middleware:
        """Adds a middleware `(request, call_next) -> response`; the first added is the outermost."""
        self._middleware.append(fn)
        return fn

    def static(self, prefix: str, folder: str) -> None:
        """Serves `folder` (relative to the app's module, shipped in the component) under `prefix`."""
        self._statics.append(StaticDir(prefix, folder, self._base))

    def message(self, pattern: str) -> Callable[[MessageHandler], MessageHandler]:
        """Decorator: handles messages whose subject matches `pattern` (`*` one token, a last `>` the rest)."""
        check_pattern(pattern)

        def register(handler: MessageHandler) -> MessageHandler:
            self._messages.append((pattern, handler))
            return handler

        return register

    def schedule(self, name: str) -> Callable[[ScheduleHandler], ScheduleHandler]:
        """Decorator: handles the manifest's schedule `name` when it comes due."""
        def register(handler: ScheduleHandler) -> ScheduleHandler:
            self._schedules.append((name, handler))
            return handler

        return register

    # ------------------------------------------------------------ handling
    def handle(self, req: Request) -> Response:
        """Runs a request through the middleware and the routes; a middleware's uncaught HostError is answered too."""
        try:
            return self._run(0, req)
        except HostError as err:
            resp = err.response()
            if req.method == "HEAD":
                resp.body = b""
            return resp

    def _run(self, index: int, req: Request) -> Response:
        if index < len(self._middleware):
            return self._middleware[index](req, lambda r: self._run(index + 1, r))
        return self._dispatch(req)

    def _dispatch(self, req: Request) -> Response:
        allowed: list[str] = []
        for route in self._routes:
            params = route.match(req.path)
            if params is None:
                continue
            if req.method in route.methods:
                req.params = params
                resp = route.call(req)
                if req.method == "HEAD":
                    resp.body = b""
                return resp
            allowed += [m for m in route.methods if m not in allowed]
        if req.method in ("GET", "HEAD"):
            for static in self._statics:
                resp = static.serve(req)
                if resp is not None:
                    return resp
        if allowed:
            return Response.error(405, f"method {req.method} not allowed").with_header("allow", ", ".join(allowed))
        return Response.error(404, f"no route for {req.method} {req.path}")

    def handle_message(self, msg: Message) -> Response:
        """Runs the first handler whose pattern matches the subject (no middleware); 404 when none does."""
        for pattern, handler in self._messages:
            if subject_matches(pattern, msg.subject):
                return _reply(handler, msg)
        return Response.error(404, f"no handler for message on {msg.subject}")

    def handle_schedule(self, schedule: Schedule) -> Response:
        """Runs the handler registered for the schedule's name (no middleware); 404 when there is none."""
        for name, handler in self._schedules:
            if name == schedule.name:
                return _reply(handler, schedule)
        return Response.error(404, f"no handler for schedule {schedule.name}")

    # ------------------------------------------------------------ component
    def export(self) -> type:
        """The `WitWorld` class componentize-py exports (imports the generated bindings)."""
        from ._component import world_for

        return world_for(self)
