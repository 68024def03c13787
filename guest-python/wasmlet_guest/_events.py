"""Messages and schedules (contract 0.3.0): the events that are not HTTP requests, and subject patterns."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._extract import Rejection
from ._http import Response


@dataclass
class Message:
    """A broker delivery (or an asynchronous invocation) as a handler sees it (the payload as bytes)."""

    source: str = ""
    subject: str = ""
    payload: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    attempt: int = 1
    id: str = ""

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.payload.decode("utf-8")

    def json(self) -> Any:
        """The payload parsed as JSON; invalid JSON answers 400 (the host dead-letters the message)."""
        try:
            return json.loads(self.payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Rejection(Response.error(400, f"invalid JSON payload: {exc}")) from None


@dataclass
class Schedule:
    """A schedule from the manifest that came due: its name and when it was due (ms since the Unix epoch)."""

    name: str = ""
    due_ms: int = 0


MessageHandler = Callable[[Message], Any]
ScheduleHandler = Callable[[Schedule], Any]


def check_pattern(pattern: str) -> str:
    """The pattern itself; raises ValueError when `>` is not its last token."""
    tokens = pattern.split(".")
    if ">" in tokens[:-1]:
        raise ValueError(f"subject pattern {pattern!r}: `>` may only be the last token")
    return pattern


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether `subject` matches `pattern`, NATS style: `*` is one token, a last `>` one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for i, token in enumerate(wanted):
        if token == ">" and i == len(wanted) - 1:
            return len(tokens) > i
        if i >= len(tokens) or (token != "*" and token != tokens[i]):
            return False
    return len(wanted) == len(tokens)
