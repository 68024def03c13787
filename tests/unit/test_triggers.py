"""The `[triggers]` and `[messaging]` manifest sections: what is accepted, what is refused in one line,
subject patterns, and the due times schedules compute (the same on every host)."""

from __future__ import annotations

import pytest

from wasmlet.events._subjects import check_pattern, matches
from wasmlet.events.triggers import ScheduleTrigger
from wasmlet.manifest import Manifest, ManifestError

FULL = '''
[messaging]
publish = ["events:orders.*", "events:audit.>"]

[[triggers.message]]
source = "events"
subject = "orders.created"
queue = "workers"
max_attempts = 3
backoff = ["200ms", "2s"]
dead_letter = "orders.dead"

[[triggers.schedule]]
name = "tick"
every = "30s"

[[triggers.schedule]]
name = "nightly"
cron = "0 3 * * *"

[triggers]
async = true
'''


def test_a_full_manifest_round_trips_through_the_registry_form() -> None:
    m = Manifest.from_toml(FULL)
    assert m.grants.publish == (("events", "orders.*"), ("events", "audit.>"))
    (t,) = m.triggers.messages
    assert (t.source, t.subject, t.queue, t.max_attempts, t.backoff_ms, t.dead_letter) == \
        ("events", "orders.created", "workers", 3, (200, 2000), "orders.dead")
    assert [t.backoff_for(n) for n in (1, 2, 3, 9)] == [200, 2000, 2000, 2000]
    assert m.triggers.asynchronous and m.triggers.sources() == {"events"}
    assert Manifest.from_dict(m.to_dict()) == m


@pytest.mark.parametrize(("text", "fragment"), [
    ('[[triggers.message]]\nsource = "e"\n', "subject: expected a non-empty string"),
    ('[[triggers.message]]\nsource = "e"\nsubject = "a..b"\n', "empty token"),
    ('[[triggers.message]]\nsource = "e"\nsubject = "a.>.b"\n', "must be the last token"),
    ('[[triggers.message]]\nsource = "e"\nsubject = "a"\nmax_attempts = 0\n', "1..100"),
    ('[[triggers.message]]\nsource = "e"\nsubject = "a"\nbackoff = "soon"\n', "duration"),
    ('[[triggers.message]]\nsource = "e"\nsubject = "a"\nretries = 3\n', "unknown key"),
    ('[[triggers.schedule]]\nname = "x"\nevery = "500ms"\n', "at least 1s"),
    ('[[triggers.schedule]]\nname = "x"\ncron = "61 * * * *"\n', "five cron fields"),
    ('[[triggers.schedule]]\nname = "x"\n', "exactly one of"),
    ('[[triggers.schedule]]\nname = "a b"\nevery = "1s"\n', "letters, digits"),
    ('[[triggers.schedule]]\nname = "x"\nevery = "1s"\n[[triggers.schedule]]\nname = "x"\nevery = "2s"\n', "twice"),
    ('[triggers]\nasync = "yes"\n', "true or false"),
    ('[triggers]\nwebhook = true\n', "unknown key"),
    ('[messaging]\npublish = ["orders.created"]\n', "source:subject"),
    ('[messaging]\npublish = ["events:a*"]\n', "whole token"),
])
def test_malformed_triggers_are_refused_in_one_line(text: str, fragment: str) -> None:
    with pytest.raises(ManifestError) as caught:
        Manifest.from_toml(text)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_subject_patterns_match_as_nats_does() -> None:
    assert matches("orders.*", "orders.created") and not matches("orders.*", "orders.created.eu")
    assert matches("orders.>", "orders.created.eu") and not matches("orders.>", "orders")
    assert matches("a.*.c", "a.b.c") and not matches("a.*.c", "a.b.d")
    assert matches("sensors/+/x".replace("+", "*"), "sensors/1/x")  # MQTT-style topics split on /
    assert not matches("orders.created", "orders..created")
    with pytest.raises(ValueError):
        check_pattern("")


def test_due_times_are_the_same_on_every_host() -> None:
    every = ScheduleTrigger("t", every_ms=30_000)
    assert every.next_due(1_000) == 30_000 and every.next_due(30_000) == 60_000 and every.next_due(59_999) == 60_000
    nightly = ScheduleTrigger("n", cron="0 3 * * *")
    # 2026-11-29 05:33 UTC -> the next 03:00 UTC is 2026-11-30 03:00
    assert nightly.next_due(1_795_930_380_000) == 1_796_007_600_000
    five = ScheduleTrigger("f", cron="*/5 * * * *")
    assert five.next_due(1_795_930_380_000) == 1_795_930_500_000
