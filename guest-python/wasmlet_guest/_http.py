"""The SDK's request and response."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    """An HTTP request as a handler sees it (the body as bytes, whatever the wire variant)."""

    method: str = "GET"
    path: str = "/"
    query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    mount: str = ""
    params: dict[str, str] = field(default_factory=dict)
    caller: str | None = None

    def __post_init__(self) -> None:
        if "?" in self.path and not self.query:
            self.path, self.query = self.path.split("?", 1)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    def text(self) -> str:
        return self.body.decode("utf-8")


_FIELDS: dict[type, tuple[str, ...]] = {}


def _encode(value: Any) -> Any:
    """A dataclass as a dict of its fields, one level (json calls this again for nested ones),
    instead of `dataclasses.asdict`, which deep-copies every value: a list of 100 records cost
    several times the rest of the response."""
    kind = type(value)
    names = _FIELDS.get(kind)
    if names is None:
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    return {name: getattr(value, name) for name in names}


def dumps(value: Any) -> bytes:
    """Compact JSON, UTF-8 (the same bytes serde_json writes); dataclasses become objects."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_encode).encode("utf-8")


@dataclass
class Response:
    """An HTTP response."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def text(cls, body: str, status: int = 200) -> Response:
        return cls(status, [("content-type", "text/plain; charset=utf-8")], body.encode("utf-8"))

    @classmethod
    def html(cls, body: str, status: int = 200) -> Response:
        return cls(status, [("content-type", "text/html; charset=utf-8")], body.encode("utf-8"))

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, [("content-type", "application/json")], dumps(value))

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json({"error": message}, status)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def with_header(self, name: str, value: str) -> Response:
        self.headers.append((name.lower(), value))
        return self
