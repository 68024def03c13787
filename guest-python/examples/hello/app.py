"""Hello world: static pages, a few JSON APIs, a logging and a not-found middleware."""

import time
from dataclasses import dataclass

from wasmlet_guest import App, Body, CallNext, Json, Query, Request, Response, log

app = App()
app.static("/", "static/")


@dataclass
class Person:
    name: str
    age: int


@app.middleware
def logging(request: Request, call_next: CallNext) -> Response:
    """Logs method, path, status and time of every request."""
    start = time.perf_counter()
    response = call_next(request)
    log.info(f"{request.method} {request.path} -> {response.status} in {(time.perf_counter() - start) * 1000:.2f} ms")
    return response


@app.middleware
def not_found(request: Request, call_next: CallNext) -> Response:
    """Unknown routes get a JSON 404."""
    response = call_next(request)
    if response.status == 404:
        return Response.json({"error": "not found", "path": request.path}, 404)
    return response


@app.get("/api/capitalize/{word}")
def capitalize(word: str) -> str:
    return word.upper()


@app.get("/api/echo-query")
def echo_query(query: Query) -> dict[str, str | None]:
    return {"name": query.get("name"), "age": query.get("age")}


@app.post("/api/echo-person")
def echo_person(person: Json[Person]) -> Person:
    return person


@app.post("/api/echo-bytes")
def echo_bytes(body: Body) -> bytes:
    """Any bytes back as they came (an upload, an image, a protobuf)."""
    return body


WitWorld = app.export()
