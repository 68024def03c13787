"""Extractors: typed pieces of a request, chosen by a handler parameter's annotation."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import parse_qsl

from ._http import Request, Response

T = TypeVar("T")


class Rejection(Exception):
    """An extractor could not read the request: answered with `response`."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class Query:
    """The decoded query string; repeated keys are kept in order."""

    def __init__(self, raw: str) -> None:
        self.items: list[tuple[str, str]] = parse_qsl(raw, keep_blank_values=True)

    def get(self, key: str, default: str | None = None) -> str | None:
        return next((v for k, v in self.items if k == key), default)

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.items if k == key]

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self.items)


class Headers:
    """The request headers (lower-case names, duplicates kept)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        return next((v for k, v in self.items if k == name), default)

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.items if k == name]


class Body(bytes):
    """The raw request body."""


class _JsonMarker:
    pass


class Json(Generic[T]):
    """`Json[T]`: the body parsed as JSON into `T` (a dataclass, dict or list); 400 when it does not fit."""

    def __class_getitem__(cls, item: Any) -> Any:
        return Annotated[item, _JsonMarker]


def _from_json(target: Any, data: Any, where: str = "body") -> Any:
    origin = typing.get_origin(target) or target
    if dataclasses.is_dataclass(origin) and isinstance(origin, type):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a JSON object")
        hints = typing.get_type_hints(origin)
        values = {}
        for f in dataclasses.fields(origin):
            if f.name in data:
                values[f.name] = _from_json(hints.get(f.name, Any), data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"missing field `{f.name}`")
        return origin(**values)
    if target is Any:
        return data
    if origin in (int, float, str, bool):
        ok = isinstance(data, origin) and not (origin is int and isinstance(data, bool))
        if origin is float and isinstance(data, int) and not isinstance(data, bool):
            ok = True
        if not ok:
            raise ValueError(f"{where}: expected {origin.__name__}, got {type(data).__name__}")
        return data
    if origin in (dict, list):
        if not isinstance(data, origin):
            raise ValueError(f"{where}: expected a JSON {'object' if origin is dict else 'array'}")
        return data
    return data


def _is_json(annotation: Any) -> bool:
    """Whether `annotation` is `Json[T]` (an `Annotated` carrying the marker)."""
    return typing.get_origin(annotation) is Annotated and _JsonMarker in typing.get_args(annotation)[1:]


EXTRACTOR_NAMES = "Query, Json[T], Headers, Body or bytes, Request"


def is_extractor(annotation: Any) -> bool:
    """Whether `annotation` names an extractor; any other parameter must be a path parameter."""
    return _is_json(annotation) or annotation in (Request, Query, Headers, Body, bytes)


def extractor_for(name: str, annotation: Any) -> Any:
    """A function `(request) -> value` for one handler parameter."""
    if _is_json(annotation):
        target = typing.get_args(annotation)[0]

        def json_body(req: Request) -> Any:
            try:
                return _from_json(target, json.loads(req.body or b"null"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise Rejection(Response.error(400, f"invalid JSON body: {exc}")) from None

        return json_body
    if annotation is Request:
        return lambda req: req
    if annotation is Query:
        return lambda req: Query(req.query)
    if annotation is Headers:
        return lambda req: Headers(req.headers)
    if annotation in (Body, bytes):
        return lambda req: Body(req.body)
    convert = annotation if annotation in (int, float, str) else str

    def path_param(req: Request) -> Any:
        if name not in req.params:
            raise Rejection(Response.error(500, f"handler parameter `{name}` is not a path parameter"))
        raw = req.params[name]
        try:
            return convert(raw)
        except ValueError:
            raise Rejection(Response.error(400, f"path parameter `{name}` is not valid: {raw!r}")) from None

    return path_param
