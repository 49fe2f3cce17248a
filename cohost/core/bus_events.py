"""What cohost publishes on its bus: one frozen dataclass per topic, the schema of every event.

The in-process bus, MQTT subscribers, the dashboard and the overlay all read these events as
JSON objects: `cohost.core.serialise.bus_payload` writes them and `read_bus_event` reads them
back, in one place, so that a renamed field is a type error here and not a blank panel there.
Every payload carries `v` (SCHEMA_VERSION): a change that removes or renames a field raises it.
`docs/events.md` lists the topics and fields for anyone who subscribes over MQTT.

What an event may hold is decided here too: no journal text, ever; a private entry's title
never (a title can say what its entry does); chat text and replies only as chat saw them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar, get_type_hints

SCHEMA_VERSION = 1
PRIVATE_TITLE = "(private entry)"  # what a private entry's title is shown as
KEPT_BACK = "(kept back by the guard)"  # what a simulated line the guard would block shows


@dataclass(frozen=True, slots=True, kw_only=True)
class BusEvent:
    """The base of every event: its topic under the bus's prefix."""

    TOPIC: ClassVar[str] = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSeen(BusEvent):
    """A chat message the picker judged, picked or not (topic `pick` or `chat`)."""

    TOPIC: ClassVar[str] = "chat"

    message_id: str
    login: str
    text: str
    picked: bool
    score: float
    parts: dict[str, float]
    reason: str
    category: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagePicked(MessageSeen):
    """A chat message the twin will answer."""

    TOPIC: ClassVar[str] = "pick"


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnStarted(BusEvent):
    TOPIC: ClassVar[str] = "turn/start"

    turn_id: str
    message_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HitShown(BusEvent):
    """One recalled journal entry as anyone may see it: its tier and score, a public title."""

    entry_id: str | None  # None for a private entry: its id is its file name, made from the title
    title: str  # PRIVATE_TITLE for a private one
    tier: str
    score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnRecalled(BusEvent):
    TOPIC: ClassVar[str] = "turn/hits"

    turn_id: str
    hits: tuple[HitShown, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedLine(BusEvent):
    speaker: str
    text: str
    is_twin: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnSimulated(BusEvent):
    TOPIC: ClassVar[str] = "turn/simulated"

    turn_id: str
    lines: tuple[SimulatedLine, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnReplied(BusEvent):
    """The reply as chat got it (guarded)."""

    TOPIC: ClassVar[str] = "turn/reply"

    turn_id: str
    reply: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnHeld(BusEvent):
    """A guarded reply and its alternatives, waiting for the streamer's choice."""

    TOPIC: ClassVar[str] = "turn/held"

    turn_id: str
    candidates: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnCandidates(TurnHeld):
    """A sent reply and the alternatives the streamer may rate it against."""

    TOPIC: ClassVar[str] = "turn/candidates"


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnEnded(BusEvent):
    """A turn's end: its outcome, and a reason fit for anyone to read."""

    TOPIC: ClassVar[str] = "turn/end"

    turn_id: str
    outcome: str
    reason: str
    decided: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnSettled(TurnEnded):
    """A held turn's end: approved, rejected or expired (`decided`)."""

    TOPIC: ClassVar[str] = "turn/settled"


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptionShown(BusEvent):
    """A sentence being spoken, from `start` to `end` (clock seconds), for the overlay."""

    TOPIC: ClassVar[str] = "caption"

    turn_id: str
    text: str
    start: float
    end: float
    audio: str = ""  # the sentence's WAV on the web app (/audio/ID.wav, short-lived); "": none


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptionCut(BusEvent):
    """Speech stopped mid-sentence (`!twin skip`, voice off)."""

    TOPIC: ClassVar[str] = "caption/cut"

    turn_id: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandDone(BusEvent):
    """A `!twin` command from chat, MQTT or the dashboard: accepted or refused, and why."""

    TOPIC: ClassVar[str] = "command"

    command: str
    login: str
    source: str
    accepted: bool
    reason: str
    reply: str | None = None  # what chat would read back: an MQTT caller has no chat


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged(BusEvent):
    """The twin's switches as they are now."""

    TOPIC: ClassVar[str] = "state"

    paused: bool
    voice: bool
    chat: bool
    hold: bool
    topic: str  # the stream's topic (`!twin topic`)
    rate_per_minute: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamEventSeen(BusEvent):
    """A raid, follow, sub, resub, gift sub or cheer as it arrived (`kind`), and its size."""

    TOPIC: ClassVar[str] = "stream/event"

    event_id: str
    kind: str
    login: str
    display_name: str
    amount: int  # raid: viewers; cheer: bits; sub, resub: months; gift: subs (0: not known)
    thanked: bool  # whether a thank-you will count it (its kind on and the event big enough)


@dataclass(frozen=True, slots=True, kw_only=True)
class ThanksGiven(BusEvent):
    """One thank-you for a batch of stream events of one kind: a template, or a twin turn."""

    TOPIC: ClassVar[str] = "stream/thanks"

    kind: str
    mode: str  # "template" (said as written) or "twin" (a turn answers `text`)
    names: tuple[str, ...]
    count: int  # supporters thanked
    amount: int
    events: int  # stream events this thank-you stands for
    text: str  # the template as said, or what happened as the twin's turn was told


@dataclass(frozen=True, slots=True, kw_only=True)
class WelcomeGiven(BusEvent):
    """A welcome back for returning chatters (`docs/regulars.md`): how, whom, and what."""

    TOPIC: ClassVar[str] = "stream/welcome"

    mode: str  # "template" (said as written), "twin" (a turn of its own), "reply" (in the answer)
    names: tuple[str, ...]
    text: str  # the template as said, what the twin's turn was told, or the line answered


EVENTS: tuple[type[BusEvent], ...] = (
    MessageSeen,
    MessagePicked,
    TurnStarted,
    TurnRecalled,
    TurnSimulated,
    TurnReplied,
    TurnHeld,
    TurnCandidates,
    TurnEnded,
    TurnSettled,
    CaptionShown,
    CaptionCut,
    CommandDone,
    StateChanged,
    StreamEventSeen,
    ThanksGiven,
    WelcomeGiven,
)
BY_TOPIC: dict[str, type[BusEvent]] = {event.TOPIC: event for event in EVENTS}


def _type_name(hint: object) -> str:
    name = hint.__name__ if isinstance(hint, type) else str(hint)
    return name.replace("typing.", "").replace(f"{__name__}.", "")


def _table(kind: type) -> list[str]:
    hints = get_type_hints(kind)
    doc = (kind.__doc__ or "").strip().splitlines()
    rows = [f"| `{f.name}` | `{_type_name(hints[f.name])}` |" for f in fields(kind)]
    return [*doc[:1], "", "| field | type |", "|---|---|", *rows, ""]


def schema_markdown() -> str:
    """docs/events.md, made from the schema itself (`python -m cohost.core.bus_events`)."""
    lines = [
        "# The events cohost publishes",
        "",
        "Every event goes on the bus: in-process always, and over MQTT under the topic prefix",
        "(`COHOST_BUS__TOPIC_PREFIX`, default `cohost`) when a broker is set. Each is a JSON",
        f"object; `v` is the schema's version (now {SCHEMA_VERSION}), raised whenever a field is",
        "renamed or removed (new fields may appear without it). The schema is",
        "`cohost/core/bus_events.py`: `cohost.core.serialise.bus_payload` writes events and",
        "`read_bus_event` reads them back, as the dashboard and the overlay do.",
        "",
        f"No event carries journal text, and a private entry's title shows as `{PRIVATE_TITLE}`.",
        "This file is made by `python -m cohost.core.bus_events`; a test keeps it in step.",
        "",
    ]
    for kind in EVENTS:
        lines += [f"## `{kind.TOPIC}`", "", *_table(kind)]
    for part in (HitShown, SimulatedLine):
        lines += [f"## `{part.__name__}` (inside events)", "", *_table(part)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(schema_markdown())
