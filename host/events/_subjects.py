"""Subject patterns, as NATS writes them: tokens split on `.`, `*` matches one token, a final `>`
matches one or more. MQTT topics (split on `/`) use the same rules with `/` as the separator."""

from __future__ import annotations

from functools import lru_cache


def _separator(pattern: str) -> str:
    return "/" if "/" in pattern and "." not in pattern else "."


def check_pattern(pattern: str) -> None:
    """Raises ValueError for a pattern no subject could match sensibly (empty tokens, `>` not last)."""
    sep = _separator(pattern)
    tokens = pattern.split(sep)
    if not pattern or any(t == "" for t in tokens):
        raise ValueError(f"subject pattern {pattern!r} has an empty token")
    for i, token in enumerate(tokens):
        if token == ">" and i != len(tokens) - 1:
            raise ValueError(f"subject pattern {pattern!r}: `>` must be the last token")
        if token not in ("*", ">") and any(c in token for c in "*> \t\r\n"):
            raise ValueError(f"subject pattern {pattern!r}: a wildcard must be a whole token")


@lru_cache(maxsize=4096)
def matches(pattern: str, subject: str) -> bool:
    """Whether `subject` is matched by `pattern`."""
    sep = _separator(pattern)
    want, have = pattern.split(sep), subject.split(sep)
    if any(t == "" for t in have):
        return False
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(have) == len(want)
