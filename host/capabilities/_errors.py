"""Backend error messages without credentials, and the grant check every labelled hostcall shares."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Generic, TypeVar

from wasmlet.bindings._abi import Err, Ok, Result

from ._context import DeadlineExceeded, InvocationContext

B = TypeVar("B")
T = TypeVar("T")
E = TypeVar("E")

_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]+):[^@\s]+@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.I)


def scrub(message: str) -> str:
    """Removes passwords from URLs and `password=` pairs in a message."""
    message = _URL_PASSWORD.sub(r"\1:***@", message)
    return _KEYWORD_PASSWORD.sub(r"\1***", message)[:2000]


class Refused(Exception):
    """The host refused a hostcall by its own rules (authorizer, limits, configuration);
    the message is the whole reason the guest sees."""


def run_granted(granted: frozenset[str], label: str, what: str, open_backend: Callable[[str], B], op: Callable[[B], T],
                denied: Callable[[str], E], failed: Callable[[str], E],
                ctx: InvocationContext | None = None) -> Result[T, E]:
    """The shape of every labelled hostcall: refuse an ungranted label before touching
    anything, refuse to start past the invocation's deadline, open the backend, run `op`,
    and turn failures into typed errors."""
    if label not in granted:
        return Err(denied(f"{what} {label!r} is not granted"))
    try:
        if ctx is not None:
            ctx.check_deadline(f"{what} {label!r}")
        backend = open_backend(label)
    except (Refused, DeadlineExceeded) as exc:
        return Err(failed(scrub(str(exc))))
    except Exception as exc:
        return Err(failed(scrub(f"{what} {label!r} is not available: {exc}")))
    try:
        return Ok(op(backend))
    except (Refused, DeadlineExceeded) as exc:
        return Err(failed(scrub(str(exc))))
    except Exception as exc:
        return Err(failed(scrub(f"{type(exc).__name__}: {exc}")))


class LabelledCalls(Generic[B]):
    """Base of hostcalls on labelled backends (kv stores, SQL databases): the grant set
    and the backend lookup every call of them goes through."""

    def __init__(self, granted: tuple[str, ...] | frozenset[str], open_backend: Callable[[str], B],
                 ctx: InvocationContext | None = None) -> None:
        self.granted = granted if isinstance(granted, frozenset) else frozenset(granted)
        self.open_backend = open_backend
        self.ctx = ctx or InvocationContext(function="")
        """The invocation served: its deadline and limits bound every call."""
