"""The host's log lines: one text line per record (coloured on a terminal) or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

_INVOCATION_FIELDS = ("function", "version", "request_id", "stream")
"""Extras a guest or access line carries (see InvocationContext.log and Host._access)."""
_ACCESS_FIELDS = ("client", "method", "target", "status", "bytes", "ms")
_COLOURS = {logging.DEBUG: "\x1b[2m", logging.INFO: "", logging.WARNING: "\x1b[33m", logging.ERROR: "\x1b[31m",
            logging.CRITICAL: "\x1b[1;31m"}
_RESET = "\x1b[0m"
_QUIET = ("httpx", "httpcore", "watchfiles", "hpack", "multipart", "opentelemetry", "uvicorn.error")
"""Libraries whose INFO lines repeat what wasmlet logs (uvicorn's "running on"), or log full URLs with
query strings (httpx), or chatter (watchfiles): their warnings and errors still show."""


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [function/version rid=…]`, the level coloured on a terminal."""

    def __init__(self, colour: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        function = getattr(record, "function", None)
        if function and getattr(record, "stream", None) is not None:  # a guest line: say whose and which request
            line += f" [{function}/{getattr(record, 'version', '') or '-'} rid={getattr(record, 'request_id', '') or '-'}]"
        if self.colour and (code := _COLOURS.get(record.levelno, "")):
            line = f"{code}{line}{_RESET}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record and per line: time, level, logger, message, the invocation's
    fields when it has them, and the traceback as one string (never extra lines)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        for key in (*_INVOCATION_FIELDS, *_ACCESS_FIELDS):
            value = getattr(record, key, None)
            if value is not None and value != "":
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(json_lines: bool = False, colour: bool | None = None, stream: TextIO | None = None,
                  level: int = logging.INFO) -> None:
    """Routes every logger (wasmlet's, uvicorn's, hypercorn's) through one handler on stderr."""
    stream = stream or sys.stderr
    if colour is None:
        colour = not json_lines and stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter(colour))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "hypercorn.error", "hypercorn.access"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
