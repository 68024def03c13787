"""What a deploy checks about a function's triggers against the component and the host."""

from __future__ import annotations

from ..manifest import Manifest

FIRST_EVENTS_CONTRACT = (0, 3, 0)
"""The first `wasmlet:faas` version whose `event` has `message` and `schedule`."""


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def triggers_refused(manifest: Manifest, contract: str, sources: frozenset[str], http_only: bool = False) -> str | None:
    """Why the manifest's triggers cannot run here (None: they can): a component built for a contract
    before 0.3.0, or a standard wasi:http component (`http_only`), cannot receive messages or
    schedules, and a message trigger must name a source this host has; publish grants name sources too."""
    triggers = manifest.triggers
    if (triggers.messages or triggers.schedules) and http_only:
        return "a wasi:http component answers HTTP requests only: it cannot have message or schedule triggers"
    if (triggers.messages or triggers.schedules) and _version(contract) < FIRST_EVENTS_CONTRACT:
        return (f"triggers need a component built for wasmlet:faas 0.3.0 or later; this one is built for "
                f"{contract} (rebuild it with this wasmlet's SDK)")
    needed = sorted(triggers.sources() | {source for source, _ in manifest.grants.publish})
    missing = [s for s in needed if s not in sources]
    if missing:
        have = ", ".join(sorted(sources)) or "none"
        return (f"messaging source {missing[0]!r} is not configured on this host ([messaging.{missing[0]}] in "
                f"wasmlet.toml; configured: {have})")
    return None
