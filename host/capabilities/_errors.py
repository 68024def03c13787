"""Backend error messages without credentials."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]+):[^@\s]+@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.I)


def scrub(message: str) -> str:
    """Removes passwords from URLs and `password=` pairs in a message."""
    message = _URL_PASSWORD.sub(r"\1:***@", message)
    return _KEYWORD_PASSWORD.sub(r"\1***", message)[:2000]
