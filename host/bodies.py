"""Byte strings across the boundary: `text` when the bytes are UTF-8, `octets` otherwise.

A string crosses the component boundary as one buffer while `list<u8>` crosses
value by value (about 30 times slower), so binary payloads travel as `octets`:
one code point U+0000–U+00FF per byte. No byte changes either way.
"""

from __future__ import annotations

from .bindings.faas import Body, BodyBytes, BodyOctets, BodyText


class BodyError(ValueError):
    """A guest's `octets` body holds a character above U+00FF (no byte has that value)."""


def body_from_bytes(data: bytes) -> Body:
    """The body variant for `data`: text if it decodes as UTF-8, else octets."""
    try:
        return BodyText(data.decode("utf-8"))
    except UnicodeDecodeError:
        return BodyOctets(data.decode("latin-1"))


def body_bytes(body: Body) -> bytes:
    """The exact bytes a body carries; `BodyError` for an `octets` body that is not bytes."""
    if isinstance(body, BodyText):
        return body.value.encode("utf-8")
    if isinstance(body, BodyOctets):
        try:
            return body.value.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise BodyError(f"an `octets` body holds {body.value[exc.start]!r} at {exc.start}, "
                            "above U+00FF (one code point per byte)") from None
    return bytes(body.value) if isinstance(body, BodyBytes) else body.value
