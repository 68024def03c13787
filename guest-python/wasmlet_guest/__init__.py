"""The wasmlet guest SDK for Python: write only the handler.

    from wasmlet_guest import App, Message, log

    app = App()

    @app.get("/api/capitalize/{word}")
    def capitalize(word: str) -> str:
        return word.upper()

    @app.message("orders.*")
    def order(msg: Message) -> None:
        log.info(f"order {msg.json()['id']}")   # returning None acknowledges the message

    WitWorld = app.export()   # what componentize-py looks for

The router, extractors, middleware and static files run under plain CPython
too, so a function is unit-tested with pytest via `app.handle(Request(...))`
(and `app.handle_message(Message(...))`, `app.handle_schedule(Schedule(...))`).
"""

from ._app import App, CallNext
from ._events import Message, Schedule
from ._extract import Body, Headers, Json, Query
from ._host import HostError, call, config, http, kv, log, messaging, sql
from ._http import Request, Response

__all__ = [
    "App", "Body", "CallNext", "Headers", "HostError", "Json", "Message", "Query", "Request", "Response", "Schedule",
    "call", "config", "http", "kv", "log", "messaging", "sql",
]
