"""What a manifest subscribes a function to: `[[triggers.message]]`, `[[triggers.schedule]]` and
`[triggers] async`. Parsed with the manifest; checked against the host's sources at deploy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ._subjects import check_pattern

_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


class TriggerError(ValueError):
    """A trigger section is malformed (a manifest error: 422 at deploy)."""


def duration_ms(value: object, where: str) -> int:
    """`"30s"`, `"500ms"`, `"5m"`, `"1h"` (or an integer of milliseconds) as milliseconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m and int(m.group(1)) > 0:
            return int(m.group(1)) * _UNIT_MS[m.group(2)]
    raise TriggerError(f"{where}: expected a duration like \"500ms\", \"30s\", \"5m\" or \"1h\", got {value!r}")


@dataclass(frozen=True)
class MessageTrigger:
    """Deliver messages published to `subject` on source `source` to the function."""

    source: str
    subject: str
    queue: str | None = None
    """Hosts (and consumers) sharing a queue group split the messages; default: one per function."""
    max_attempts: int = 5
    backoff_ms: tuple[int, ...] = (1000, 5000, 30000)
    """The wait before each redelivery (the last repeats)."""
    dead_letter: str | None = None
    """Where a message goes after its last attempt (default `wasmlet.dead.<function>`)."""

    def backoff_for(self, attempt: int) -> int:
        """Milliseconds to wait before redelivering after failed attempt number `attempt` (1-based)."""
        return self.backoff_ms[min(attempt, len(self.backoff_ms)) - 1]


@dataclass(frozen=True)
class ScheduleTrigger:
    """Invoke the function every `every_ms` (due times aligned to the Unix epoch) or on a `cron`
    expression (five fields, UTC): every host computes the same due times."""

    name: str
    every_ms: int | None = None
    cron: str | None = None

    def next_due(self, now_ms: int) -> int:
        """The first due time after `now_ms`, in milliseconds since the epoch."""
        if self.cron is not None:
            from datetime import UTC, datetime

            from croniter import croniter  # type: ignore[import-untyped]

            start = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
            return int(croniter(self.cron, start).get_next(float) * 1000)
        assert self.every_ms is not None
        return (now_ms // self.every_ms + 1) * self.every_ms


@dataclass(frozen=True)
class Triggers:
    """A function's triggers: empty when it is invoked over HTTP (and module calls) only."""

    messages: tuple[MessageTrigger, ...] = ()
    schedules: tuple[ScheduleTrigger, ...] = ()
    asynchronous: bool = False
    """Whether `POST /_wasmlet/async/<fn>/...` may queue invocations of it."""
    async_max_attempts: int = 3
    """How often an asynchronous invocation runs before it is dead (a 5xx, trap or timeout each time)."""

    def __bool__(self) -> bool:
        return bool(self.messages or self.schedules or self.asynchronous)

    def sources(self) -> set[str]:
        """The messaging sources the triggers need."""
        return {t.source for t in self.messages}

    def to_dict(self) -> dict[str, Any]:
        """The `[triggers]` table `parse_triggers` reads back (durations in milliseconds)."""
        messages = []
        for t in self.messages:
            table: dict[str, Any] = {"source": t.source, "subject": t.subject, "max_attempts": t.max_attempts,
                                     "backoff": list(t.backoff_ms)}
            if t.queue is not None:
                table["queue"] = t.queue
            if t.dead_letter is not None:
                table["dead_letter"] = t.dead_letter
            messages.append(table)
        schedules = [{"name": s.name, "cron": s.cron} if s.cron is not None else {"name": s.name, "every": s.every_ms}
                     for s in self.schedules]
        return {"message": messages, "schedule": schedules, "async": self.asynchronous,
                "async_max_attempts": self.async_max_attempts}


_MESSAGE_KEYS = {"source", "subject", "queue", "max_attempts", "backoff", "dead_letter"}
_SCHEDULE_KEYS = {"name", "every", "cron"}


def parse_triggers(data: object) -> Triggers:
    """The `[triggers]` table of a manifest."""
    if data is None:
        return Triggers()
    if not isinstance(data, dict):
        raise TriggerError("[triggers] must be a table")
    unknown = set(data) - {"message", "schedule", "async", "async_max_attempts"}
    if unknown:
        raise TriggerError(f"triggers.{sorted(unknown)[0]}: unknown key (expected message, schedule, async or "
                           "async_max_attempts)")
    asynchronous = data.get("async", False)
    if not isinstance(asynchronous, bool):
        raise TriggerError("triggers.async: expected true or false")
    attempts = data.get("async_max_attempts", 3)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 100:
        raise TriggerError(f"triggers.async_max_attempts: expected an integer in 1..100, got {attempts!r}")
    return Triggers(tuple(_message(t, i) for i, t in enumerate(_tables(data, "message"))),
                    _schedules(_tables(data, "schedule")), asynchronous, attempts)


def _tables(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise TriggerError(f"triggers.{key}: expected [[triggers.{key}]] tables")
    return value


def _string(table: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TriggerError(f"{where}.{key}: expected a non-empty string")
    return value


def _message(table: dict[str, Any], index: int) -> MessageTrigger:
    where = f"triggers.message[{index}]"
    unknown = set(table) - _MESSAGE_KEYS
    if unknown:
        raise TriggerError(f"{where}.{sorted(unknown)[0]}: unknown key (expected {', '.join(sorted(_MESSAGE_KEYS))})")
    source, subject = _string(table, "source", where), _string(table, "subject", where)
    assert source is not None and subject is not None
    try:
        check_pattern(subject)
    except ValueError as exc:
        raise TriggerError(f"{where}.subject: {exc}") from None
    attempts = table.get("max_attempts", 5)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 100:
        raise TriggerError(f"{where}.max_attempts: expected an integer in 1..100, got {attempts!r}")
    backoff = table.get("backoff", ["1s", "5s", "30s"])
    steps = backoff if isinstance(backoff, list) else [backoff]
    if not steps:
        raise TriggerError(f"{where}.backoff: expected a duration or a list of durations")
    return MessageTrigger(source, subject, _string(table, "queue", where, required=False), attempts,
                          tuple(duration_ms(s, f"{where}.backoff") for s in steps),
                          _string(table, "dead_letter", where, required=False))


def _cron(value: object, where: str) -> str:
    """A five-field cron expression (minute hour day-of-month month day-of-week, UTC), checked."""
    from croniter import croniter

    if not isinstance(value, str) or len(value.split()) != 5 or not croniter.is_valid(value):
        raise TriggerError(f"{where}: expected five cron fields like \"*/5 * * * *\" (minute hour day month "
                           f"weekday, UTC), got {value!r}")
    return value


def _schedules(tables: list[dict[str, Any]]) -> tuple[ScheduleTrigger, ...]:
    out: list[ScheduleTrigger] = []
    for index, table in enumerate(tables):
        where = f"triggers.schedule[{index}]"
        unknown = set(table) - _SCHEDULE_KEYS
        if unknown:
            raise TriggerError(f"{where}.{sorted(unknown)[0]}: unknown key (expected name, every)")
        name = _string(table, "name", where)
        assert name is not None
        if not all(c.isalnum() or c in "-_" for c in name):
            raise TriggerError(f"{where}.name: letters, digits, - and _ only")
        if ("cron" in table) == ("every" in table):
            raise TriggerError(f"{where}: give exactly one of every = \"30s\" or cron = \"*/5 * * * *\"")
        if any(s.name == name for s in out):
            raise TriggerError(f"{where}.name: {name!r} is used twice")
        if "cron" in table:
            out.append(ScheduleTrigger(name, cron=_cron(table["cron"], f"{where}.cron")))
            continue
        every = duration_ms(table.get("every"), f"{where}.every")
        if every < 1000:
            raise TriggerError(f"{where}.every: at least 1s")
        out.append(ScheduleTrigger(name, every_ms=every))
    return tuple(out)
