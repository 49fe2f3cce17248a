"""The bus's schema: every event is written and read back in one place, and documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cohost.core.bus_events import (
    BY_TOPIC,
    EVENTS,
    PRIVATE_TITLE,
    SCHEMA_VERSION,
    BusEvent,
    CaptionCut,
    CaptionShown,
    CommandDone,
    HitShown,
    MessagePicked,
    MessageSeen,
    SimulatedLine,
    StateChanged,
    StreamEventSeen,
    ThanksGiven,
    TurnCandidates,
    TurnEnded,
    TurnHeld,
    TurnRecalled,
    TurnReplied,
    TurnSettled,
    TurnSimulated,
    TurnStarted,
    WelcomeGiven,
    schema_markdown,
)
from cohost.core.serialise import bus_payload, emit, read_bus_event
from cohost.embedded.bus import LocalBus

REPO = Path(__file__).resolve().parents[2]
SEEN = {"message_id": "m1", "login": "ana", "text": "hi twin", "score": 2.5, "reason": "r"}
SAMPLES: list[BusEvent] = [
    MessageSeen(**SEEN, picked=False, parts={}, category="low_score"),
    MessagePicked(**SEEN, picked=True, parts={"direct": 2.0}, category="picked"),
    TurnStarted(turn_id="t1", message_id="m1"),
    TurnRecalled(
        turn_id="t1",
        hits=(
            HitShown(entry_id="bread", title="Bread", tier="public", score=0.8),
            HitShown(entry_id=None, title=PRIVATE_TITLE, tier="private", score=0.4),
        ),
    ),
    TurnSimulated(turn_id="t1", lines=(SimulatedLine(speaker="twin", text="yo", is_twin=True),)),
    TurnReplied(turn_id="t1", reply="yo chat"),
    TurnHeld(turn_id="t1", candidates=("a", "b")),
    TurnCandidates(turn_id="t1", candidates=("a",)),
    TurnEnded(turn_id="t1", outcome="answered", reason=""),
    TurnSettled(turn_id="t1", outcome="answered", reason="", decided="approved"),
    CaptionShown(turn_id="t1", text="yo chat", start=1.0, end=2.5),
    CaptionCut(turn_id="t1", at=2.0),
    CommandDone(command="pause", login="mod", source="chat", accepted=True, reason="", reply="ok"),
    StateChanged(
        paused=True, voice=True, chat=True, hold=False, topic="bread", rate_per_minute=None
    ),
    StreamEventSeen(
        event_id="n1", kind="raid", login="rita", display_name="Rita", amount=500, thanked=True
    ),
    ThanksGiven(
        kind="gift",
        mode="template",
        names=("Gerri",),
        count=1,
        amount=50,
        events=51,
        text="Thank you Gerri for 50 gift subs!",
    ),
    WelcomeGiven(mode="template", names=("Ana", "Bea"), text="welcome back, Ana and Bea!"),
]


def test_every_topic_has_a_sample_here() -> None:
    assert {type(e) for e in SAMPLES} == set(EVENTS)
    assert len(BY_TOPIC) == len(EVENTS)  # no two events share a topic


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.TOPIC)
def test_an_event_is_written_and_read_back_the_same(event: BusEvent) -> None:
    payload = bus_payload(event)
    assert payload["v"] == SCHEMA_VERSION
    assert read_bus_event(event.TOPIC, payload) == event


def test_emit_publishes_the_one_wire_form() -> None:
    bus, seen = LocalBus(), []
    bus.subscribe(lambda topic, payload: seen.append((topic, payload)))
    event = TurnReplied(turn_id="t1", reply="yo")
    emit(bus, event)
    emit(None, event)  # no bus: nothing, and no error
    assert seen == [("turn/reply", {"turn_id": "t1", "reply": "yo", "v": SCHEMA_VERSION})]


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("turn/reply", {"turn_id": "t1"}),  # a field missing
        ("turn/start", {"turn_id": ["t1"], "message_id": "m"}),  # a wrong type
        ("nobody/knows", {"secret": "x"}),  # not one of cohost's topics
    ],
)
def test_what_does_not_fit_the_schema_is_not_an_event(
    topic: str, payload: dict[str, object]
) -> None:
    assert read_bus_event(topic, payload) is None


def test_fields_no_schema_has_never_come_through() -> None:
    payload = bus_payload(SAMPLES[3]) | {"text": "journal text"}
    payload["hits"][0]["text"] = "journal text"  # type: ignore[index]
    event = read_bus_event("turn/hits", payload)
    assert event is not None and "journal text" not in repr(event)


def test_docs_list_every_event_as_the_schema_has_it() -> None:
    assert (REPO / "docs" / "events.md").read_text(encoding="utf-8").strip() == (
        schema_markdown().strip()
    ), "run: .venv/bin/python -m cohost.core.bus_events > docs/events.md"


def test_nothing_in_cohost_publishes_but_through_emit() -> None:
    # the bus's own transports forward what emit made; everything else calls emit
    allowed = {"cohost/core/serialise.py", "cohost/adapters/mqtt.py", "cohost/embedded/bus.py"}
    publishing = re.compile(r"\.publish\(")
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "cohost").rglob("*.py")
        if str(path.relative_to(REPO)) not in allowed and publishing.search(path.read_text())
    ]
    assert offenders == []
