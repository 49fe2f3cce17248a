"""What the streamer said on stream, beside its chat log: their spoken lines among the chat.

A transcript (`cohost transcribe VOD --out transcript.jsonl`: one `{"start", "end", "text"}`
a line, seconds from the start of the recording) is read whole (it is small next to a log), and
its lines are put into the log's events by time, as lines of the streamer's login marked as
spoken. `cohost dataset build LOG --transcript T` then renders them as the twin's lines: the
examples end on what the streamer said out loud, after the chat they saw before saying it.

Times: a line is placed at the time the streamer began saying it (`start`), so chat written
while they spoke (perhaps about what they said) comes after it, not before. Second 0 of the
recording is `start` given as ISO 8601 (no zone: UTC) or as seconds (since the epoch, or on
the log's own clock for a log without dates); without one it is the time of the log's first
event (a chat log downloaded with its VOD starts with it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cohost.core.errors import InputError
from cohost.core.events import ChatEvent, ChatMessage, Role


@dataclass(frozen=True, slots=True, kw_only=True)
class SpokenLine:
    """One line of a transcript: seconds from the start of the recording."""

    start: float
    end: float
    text: str


def parse_start(value: str) -> float:
    """`--transcript-start`: ISO 8601 (no zone: UTC) or seconds; the seconds since the epoch
    (or on a dateless log's clock)."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise InputError(f"--transcript-start: not a time: {value!r}")
        return seconds
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--transcript-start: {value!r} is neither ISO 8601 (2024-05-01T18:00:00Z) nor seconds"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def read_transcript(path: Path) -> list[SpokenLine]:
    """A transcript's lines in time order; InputError naming the file, line and field."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the transcript: {exc}", path=path) from None
    lines: list[SpokenLine] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number}: not JSON ({exc.msg})", path=path) from None
        if not isinstance(record, dict):
            raise InputError(f"line {number}: not a JSON object", path=path)
        values = {}
        for name in ("start", "end"):
            value = record.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"line {number}: `{name}` must be a number", path=path)
            if not math.isfinite(value) or value < 0:
                raise InputError(f"line {number}: `{name}` must be seconds >= 0", path=path)
            values[name] = float(value)
        text = record.get("text")
        if not isinstance(text, str):
            raise InputError(f"line {number}: `text` must be a string", path=path)
        if values["end"] < values["start"]:
            raise InputError(f"line {number}: `end` is before `start`", path=path)
        if text.strip():
            lines.append(SpokenLine(start=values["start"], end=values["end"], text=text.strip()))
    lines.sort(key=lambda s: s.start)  # stable: lines said at once keep their order
    return lines


def interleave(
    events: Iterable[ChatEvent],
    spoken: Sequence[SpokenLine],
    *,
    login: str,
    channel: str = "",
    start: float | None = None,
) -> Iterator[ChatEvent]:
    """The log's events with the spoken lines among them by time, as `login`'s, streamed.

    `start`: the time of the recording's second 0 on the log's clock; None: the first event's.
    A spoken line goes before a chat event of the same time (the streamer spoke; chat answered).
    """
    waiting = iter(spoken)
    line = next(waiting, None)
    zero = start
    index = 0

    def message(s: SpokenLine) -> ChatMessage:
        assert zero is not None
        return ChatMessage(
            id=f"spoken:{index}",
            channel=channel,
            login=login.lower(),
            display_name=login,
            text=s.text,
            ts=zero + s.start,
            roles=frozenset({Role.BROADCASTER}),
            spoken=True,
        )

    for event in events:
        if zero is None:
            zero = event.ts
        while line is not None and zero + line.start <= event.ts:
            yield message(line)
            index += 1
            line = next(waiting, None)
        yield event
    if zero is None:
        zero = 0.0  # an empty log: the lines on the recording's own clock
    while line is not None:
        yield message(line)
        index += 1
        line = next(waiting, None)
