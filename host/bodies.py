"""Request and response bodies: `text` when the bytes are UTF-8, `bytes` otherwise.

A string crosses the component boundary as one buffer while `list<u8>`
crosses value by value, so text bodies take the fast path; no byte changes.
"""

from __future__ import annotations

from .bindings.faas import Body, BodyBytes, BodyText


def body_from_bytes(data: bytes) -> Body:
    """The body variant for `data`: text if it decodes as UTF-8, else bytes."""
    try:
        return BodyText(data.decode("utf-8"))
    except UnicodeDecodeError:
        return BodyBytes(data)


def body_bytes(body: Body) -> bytes:
    """The exact bytes a body carries."""
    if isinstance(body, BodyText):
        return body.value.encode("utf-8")
    return body.value
