"""Static files shipped inside the component: content types, index.html, ETag / 304."""

from __future__ import annotations

import mimetypes
import os

from ._http import Request, Response

_TYPES = {
    ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".json": "application/json",
    ".txt": "text/plain; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp", ".ico": "image/x-icon",
    ".wasm": "application/wasm", ".woff2": "font/woff2", ".pdf": "application/pdf", ".xml": "application/xml",
}


def content_type(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return _TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def etag(data: bytes) -> str:
    """FNV-1a 64 of the contents plus the length (the Rust SDK computes the same tag)."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f'"{h:016x}-{len(data):x}"'


class StaticDir:
    """A folder served under a URL prefix, read from the embedded bundle or, under CPython, from disk."""

    def __init__(self, prefix: str, folder: str, base: str | None) -> None:
        self.prefix = prefix.rstrip("/")
        self.folder = folder.strip("/").rstrip("/") + "/"
        self.base = base
        self._etags: dict[str, str] = {}
        # Imported now, not per request: inside a component only what was
        # imported while it was built exists (there is no filesystem at run time).
        try:
            from _wasmlet_static import FILES  # written by `wasmlet build`

            self._bundle: dict[str, bytes] | None = FILES
        except ImportError:
            self._bundle = None

    def _read(self, rel: str) -> bytes | None:
        key = self.folder + rel
        if self._bundle is not None:
            return self._bundle.get(key)
        if self.base is None:
            return None
        path = os.path.normpath(os.path.join(self.base, key))
        if not path.startswith(os.path.normpath(os.path.join(self.base, self.folder))) or not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    def serve(self, req: Request) -> Response | None:
        if not req.path.startswith(self.prefix):
            return None
        rest = req.path[len(self.prefix):]
        if self.prefix and rest and not rest.startswith("/"):
            return None
        rel = rest.lstrip("/")
        if rel == "" or rel.endswith("/"):
            rel += "index.html"
        if ".." in rel.split("/"):
            return None
        data = self._read(rel)
        if data is None:
            return None
        tag = self._etags.get(rel) or self._etags.setdefault(rel, etag(data))
        match = req.header("if-none-match")
        if match and any(t.strip() in (tag, "*") for t in match.split(",")):
            resp = Response(304)
        else:
            resp = Response(200, [("content-type", content_type(rel))], data)
        return resp.with_header("etag", tag).with_header("cache-control", "no-cache")
