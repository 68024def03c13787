"""The admin API's OpenAPI 3.1 document, written by hand next to the routes it describes.

`GET /v1/openapi.json` serves it (with the bearer token, like every admin route);
tests/e2e/test_admin_registry.py checks that it names exactly the mounted routes,
that the statuses it lists are the ones the routes answer, and that it is valid.
"""

from __future__ import annotations

from typing import Any

from .names import FUNCTION_NAME
from .registry import NAME_RE

VERSION = "0.1.0"
"""The admin API's document version (the `/v1/` routes)."""

_JSON = "application/json"


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _param(name: str, description: str, pattern: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


_NAME = _param("name", "The function's name.", FUNCTION_NAME.pattern)
_VERSION = _param("version", "A version name (`v1`, `v2`, ...).", NAME_RE.pattern)
_ALIAS = _param("alias", "An alias name (`latest`, `stable`, ...).", NAME_RE.pattern)

_COMMON = {
    "401": _error("Missing or wrong bearer token."),
    "default": _error("An unexpected error (500), always JSON with the request id."),
}
_INVALID_NAME = _error("A name is not valid (the message says what is allowed), or the path is percent-encoded "
                       "or has a `.`/`..` segment.")
_BUSY = {
    "description": "Another process holds the registry's write lock; retry after `Retry-After` seconds.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error", "status", "request_id"],
        "description": "Every error: one line of text, the status again, and the request id (also in `x-request-id`).",
        "properties": {
            "error": {"type": "string", "description": "What went wrong and, where there is one, the way out."},
            "status": {"type": "integer", "description": "The HTTP status."},
            "request_id": {"type": "string", "description": "The id of this request, as in `x-request-id`."},
        },
    },
    "VersionInfo": {
        "type": "object", "required": ["version", "sha256", "created", "manifest"],
        "properties": {
            "version": {"type": "string"},
            "sha256": {"type": "string", "description": "The component's content hash."},
            "world": {"type": "string", "enum": ["function", "wasi-http", "unknown"],
                      "description": "What the component is: a wasmlet function or a standard wasi:http/proxy "
                                     "component (`unknown` when this host has not checked it)."},
            "created": {"type": "number", "description": "Unix time of the deploy."},
            "manifest": {"type": "object", "description": "The manifest, normalised (see docs/manifest.md)."},
        },
    },
    "FunctionEntry": {
        "type": "object", "required": ["versions", "aliases"],
        "properties": {
            "versions": {"type": "array", "items": {"$ref": "#/components/schemas/VersionInfo"}},
            "aliases": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "Alias name to version name."},
        },
    },
    "FunctionList": {
        "type": "object", "required": ["functions"],
        "properties": {"functions": {"type": "object",
                                     "additionalProperties": {"$ref": "#/components/schemas/FunctionEntry"}}},
    },
    "Deployed": {
        "type": "object", "required": ["function", "version", "sha256"],
        "properties": {"function": {"type": "string"}, "version": {"type": "string"}, "sha256": {"type": "string"}},
    },
    "Alias": {
        "type": "object", "required": ["function", "alias", "version"],
        "description": "An alias and the version it names (after a DELETE: the version it named).",
        "properties": {"function": {"type": "string"}, "alias": {"type": "string"}, "version": {"type": "string"}},
    },
    "AliasTarget": {
        "type": "object", "required": ["version"],
        "properties": {"version": {"type": "string", "description": "The version the alias should name."}},
    },
    "RemovedFunction": {
        "type": "object", "required": ["function", "versions", "aliases"],
        "properties": {
            "function": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}, "description": "The versions deleted."},
            "aliases": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "The aliases deleted, with the versions they named."},
        },
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the admin API (a new dict on every call)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wasmlet admin API", "version": VERSION,
            "description": "Deploy, list, alias and delete functions. Every route needs `Authorization: Bearer "
                           "<token>` when the server has a token (`WASMLET_ADMIN_TOKEN` or `[admin] token`); a "
                           "token-less admin API only binds to loopback. See docs/admin-api.md.",
        },
        "servers": [{"url": "http://127.0.0.1:3001", "description": "the default `[admin] bind`"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "The admin token (`WASMLET_ADMIN_TOKEN`)."}},
            "schemas": _SCHEMAS,
        },
    }


def _paths() -> dict[str, Any]:
    return {
        "/v1/functions": {
            "get": {
                "operationId": "listFunctions", "summary": "Every function with its versions and aliases.",
                "responses": {"200": _ok("The registry's contents.", "FunctionList"), **_COMMON},
            },
        },
        "/v1/functions/{name}": {
            "parameters": [_NAME],
            "delete": {
                "operationId": "deleteFunction",
                "summary": "Delete a function: every version and alias, in one transaction.",
                "description": "Refused (409) while an alias other than `latest` exists, unless `force=true`. "
                               "The function's version numbers are not reused by a later deploy.",
                "parameters": [{"name": "force", "in": "query", "required": False,
                                "description": "Delete even when named aliases still route traffic to it.",
                                "schema": {"type": "boolean", "default": False}}],
                "responses": {
                    "200": _ok("What was deleted.", "RemovedFunction"),
                    "400": _INVALID_NAME, "404": _error("No such function."),
                    "409": _error("Aliases other than `latest` exist; the message names them."),
                    "503": _BUSY, **_COMMON,
                },
            },
        },
        "/v1/functions/{name}/versions": {
            "parameters": [_NAME],
            "post": {
                "operationId": "deploy",
                "summary": "Deploy a component as a new version; `latest` then names it.",
                "description": "Deploying the same component and manifest again answers the existing version "
                               "(and points `latest` at it again).",
                "requestBody": {"required": True, "content": {"multipart/form-data": {
                    "schema": {"type": "object", "required": ["component"], "properties": {
                        "component": {"type": "string", "contentMediaType": "application/wasm",
                                      "description": "The WebAssembly component (binary)."},
                        "manifest": {"type": "string", "description": "The manifest as TOML (function.toml); "
                                     "empty or absent: nothing granted, default limits."},
                    }},
                }}},
                "responses": {
                    "201": _ok("The version deployed.", "Deployed"),
                    "400": _error("An invalid function name, or not a valid multipart upload."),
                    "413": _error("The upload is over 256 MB."),
                    "422": _error("Not a valid component (or not a wasmlet function), or an invalid manifest; "
                                  "nothing was stored."),
                    "503": _BUSY, "507": _error("The registry could not store the component (disk)."), **_COMMON,
                },
            },
        },
        "/v1/functions/{name}/versions/{version}": {
            "parameters": [_NAME, _VERSION],
            "delete": {
                "operationId": "deleteVersion", "summary": "Delete one version (the last one too).",
                "responses": {
                    "204": {"description": "Deleted; the next request for it is a 404."},
                    "400": _INVALID_NAME, "404": _error("No such function or version."),
                    "409": _error("An alias still names this version; the message names the aliases."),
                    "503": _BUSY, **_COMMON,
                },
            },
        },
        "/v1/functions/{name}/aliases/{alias}": {
            "parameters": [_NAME, _ALIAS],
            "put": {
                "operationId": "setAlias", "summary": "Point an alias at a version (create or move it).",
                "requestBody": {"required": True, "content": {_JSON: {
                    "schema": {"$ref": "#/components/schemas/AliasTarget"}}}},
                "responses": {
                    "200": _ok("The alias now names the version.", "Alias"),
                    "400": _error("An invalid name, or an alias that looks like a version (`v3`)."),
                    "404": _error("No such function or version."),
                    "422": _error('The body is not `{"version": "<version>"}`.'),
                    "503": _BUSY, **_COMMON,
                },
            },
            "delete": {
                "operationId": "deleteAlias",
                "summary": "Delete an alias (`latest` too: the next deploy sets it again).",
                "responses": {
                    "200": _ok("The alias deleted and the version it named.", "Alias"),
                    "400": _INVALID_NAME, "404": _error("No such function or alias."),
                    "503": _BUSY, **_COMMON,
                },
            },
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "openapi", "summary": "This document.",
                "responses": {"200": {"description": "The OpenAPI 3.1 document.",
                                      "content": {_JSON: {"schema": {"type": "object"}}}}, **_COMMON},
            },
        },
        "/metrics": {
            "get": {
                "operationId": "metrics", "summary": "The public host's metrics, Prometheus text format.",
                "responses": {
                    "200": {"description": "Prometheus exposition format 0.0.4.",
                            "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "404": _error("This admin API has no metrics attached."), **_COMMON,
                },
            },
        },
    }
