"""Between componentize-py's generated bindings and the SDK's request, message, schedule and response."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._events import Message, Schedule
from ._http import Request, Response

if TYPE_CHECKING:
    from ._app import App


def body_to_wire(types: Any, data: bytes) -> Any:
    """`text` when the bytes are UTF-8, `octets` (one code point per byte) otherwise: either way one
    buffer across the boundary, where a `list<u8>` would cross value by value."""
    try:
        return types.Body_Text(data.decode("utf-8"))
    except UnicodeDecodeError:
        return types.Body_Octets(data.decode("latin-1"))


def body_from_wire(types: Any, body: Any) -> bytes:
    """The exact bytes a body carries, whichever case the host chose."""
    if isinstance(body, types.Body_Text):
        return body.value.encode("utf-8")  # type: ignore[no-any-return]
    if isinstance(body, types.Body_Octets):
        return body.value.encode("latin-1")  # type: ignore[no-any-return]
    return bytes(body.value)


def request_from_wire(types: Any, event: Any) -> Request:
    """The SDK request for an `http` or `call` event."""
    caller = None
    wire = event.value
    if isinstance(event, types.Event_Call):
        caller, wire = wire.caller, wire.request
    return Request(wire.method, wire.path, wire.query, list(wire.headers), body_from_wire(types, wire.body),
                   wire.mount, {}, caller)


def message_from_wire(types: Any, wire: Any) -> Message:
    """The SDK message for a wire `message` record (the payload as its exact bytes)."""
    return Message(wire.source, wire.subject, body_from_wire(types, wire.payload), list(wire.headers), wire.attempt,
                   wire.id)


def schedule_from_wire(wire: Any) -> Schedule:
    """The SDK schedule for a wire `schedule` record."""
    return Schedule(wire.name, wire.due_ms)


def handle_event(app: App, types: Any, event: Any) -> Response:
    """Dispatches a wire event: a message or a schedule to its handler, a request or call through the router."""
    if isinstance(event, types.Event_Message):
        return app.handle_message(message_from_wire(types, event.value))
    if isinstance(event, types.Event_Schedule):
        return app.handle_schedule(schedule_from_wire(event.value))
    return app.handle(request_from_wire(types, event))


def response_to_wire(types: Any, resp: Response) -> Any:
    """The wire response for an SDK response."""
    return types.Response(resp.status, list(resp.headers), body_to_wire(types, resp.body))


def world_for(app: App) -> type:
    try:
        # Imported now, while the component is built: only modules imported then exist at run time.
        import componentize_py_types  # noqa: F401
        import wit_world
        from wit_world.imports import config, kv, log, messaging, modules, outbound_http, sql, types  # noqa: F401
    except ImportError:  # plain CPython (unit tests): nothing to export to

        class Unbound:
            def handle(self, event: Any) -> Any:
                raise RuntimeError("WitWorld.handle runs only inside a component; use app.handle() in tests")

        return Unbound

    class WitWorld(wit_world.WitWorld):  # type: ignore[misc, name-defined]
        def handle(self, event: Any) -> Any:
            return response_to_wire(types, handle_event(app, types, event))

    _freeze_heap()
    return WitWorld


def _freeze_heap() -> None:
    """Runs while the component is built, so its effect is in the snapshot every instance starts
    from: what exists now is moved out of the collector's reach (`gc.freeze`), and a fresh instance,
    which lives for one event, does not walk the whole snapshot heap when a collection triggers."""
    import gc

    gc.collect()
    gc.freeze()
