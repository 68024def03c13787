"""The wasmlet guest SDK for Python: write only the handler.

    from wasmlet_guest import App

    app = App()

    @app.get("/api/capitalize/{word}")
    def capitalize(word: str) -> str:
        return word.upper()

    WitWorld = app.export()   # what componentize-py looks for

The router, extractors, middleware and static files run under plain CPython
too, so a function is unit-tested with pytest via `app.handle(Request(...))`.
"""

from ._app import App, CallNext
from ._extract import Body, Headers, Json, Query
from ._host import HostError, call, config, http, kv, log, sql
from ._http import Request, Response

__all__ = [
    "App", "Body", "CallNext", "Headers", "HostError", "Json", "Query", "Request", "Response",
    "call", "config", "http", "kv", "log", "sql",
]
