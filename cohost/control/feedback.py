"""Feedback on the twin's replies (`!twin good|bad`, the dashboard), kept as JSON lines.

Each line is one verdict on one reply, with the context the reply was made from, so that a
later step can turn them into DPO preference pairs (a good reply is `chosen`, a bad one or an
alternative it was picked over is `rejected`, the rendered window + message is the prompt).
Fields of a line (version `v` = 1):
- `v`: record format version.
- `ts`: when the verdict was given, seconds since the epoch.
- `verdict`: "good" or "bad".  `login`: who gave it (lowercase).
- `turn_id`: the turn that made the reply.
- `reply`: the reply as the guard passed it.  `sent`: the chat messages it went out as.
- `message`: the message answered: `id`, `login`, `display_name`, `text`, `ts`.
- `window`: the recent chat the turn saw, oldest first: `login`, `text`, `ts`.
- `sim_lines`: the simulated conversation: `speaker`, `text`, `is_twin`.
- `hits`: the journal entries recalled: `entry_id`, `title`, `tier`, `score`. Never their text:
  private entries must not leave the journal through a training set.
- `alternatives`: other candidate replies this one was picked over (may be empty).
Lines are appended whole (one write, flushed and fsynced), so a crash loses at most the line
being written; a torn or foreign line is skipped and counted by `read()`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cohost.core.events import ChatMessage
from cohost.core.files import append_durably
from cohost.core.ports import Clock

FORMAT_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class FeedbackMessage(_Record):
    """The chat message a reply answered."""

    id: str = ""
    login: str = ""
    display_name: str = ""
    text: str = ""
    ts: float = 0.0


class FeedbackLine(_Record):
    """One line of the recent chat a turn saw."""

    login: str
    text: str
    ts: float = 0.0


class FeedbackSimLine(_Record):
    """One line of the simulated conversation."""

    speaker: str
    text: str
    is_twin: bool


class FeedbackHit(_Record):
    """A recalled journal entry, by reference only (never its text)."""

    entry_id: str
    title: str
    tier: str
    score: float = 0.0


class FeedbackRecord(_Record):
    """One verdict on one reply, with its prompt context (see the module docstring)."""

    v: int = FORMAT_VERSION
    ts: float
    verdict: Literal["good", "bad"]
    login: str
    turn_id: str = ""
    reply: str
    sent: list[str] = Field(default_factory=list)
    message: FeedbackMessage = Field(default_factory=FeedbackMessage)
    window: list[FeedbackLine] = Field(default_factory=list)
    sim_lines: list[FeedbackSimLine] = Field(default_factory=list)
    hits: list[FeedbackHit] = Field(default_factory=list)
    alternatives: list[str] = Field(default_factory=list)


def _window_lines(window: Sequence[ChatMessage | Mapping[str, Any]]) -> list[FeedbackLine]:
    lines = []
    for m in window:
        if isinstance(m, ChatMessage):
            lines.append(FeedbackLine(login=m.login, text=m.text, ts=m.ts))
        else:
            lines.append(FeedbackLine.model_validate(m))
    return lines


def record_from_trace(
    trace: Mapping[str, Any],
    *,
    verdict: Literal["good", "bad"],
    login: str,
    ts: float,
    alternatives: Sequence[str] = (),
    window: Sequence[ChatMessage | Mapping[str, Any]] | None = None,
) -> FeedbackRecord:
    """A feedback record from a turn trace as `cohost.app.traces.trace_dict` writes it.

    The window comes from `window`, else from the trace's own "window" key when it has one.
    Hits keep their reference fields only; their text is never copied.
    """
    decision = trace.get("decision") or {}
    raw_window = window if window is not None else trace.get("window") or []
    return FeedbackRecord(
        ts=ts,
        verdict=verdict,
        login=login.lower(),
        turn_id=str(trace.get("turn_id", "")),
        reply=str(trace.get("reply", "")),
        sent=list(trace.get("sent") or []),
        message=FeedbackMessage.model_validate(decision.get("message") or {}),
        window=_window_lines(raw_window),
        sim_lines=[FeedbackSimLine.model_validate(s) for s in trace.get("sim_lines") or []],
        hits=[
            FeedbackHit(
                entry_id=str(h.get("entry_id", "")),
                title=str(h.get("title", "")),
                tier=str(h.get("tier", "")),
                score=float(h.get("score", 0.0)),
            )
            for h in trace.get("hits") or []
        ],
        alternatives=list(alternatives),
    )


class FeedbackStore:
    """Appends feedback records to one JSON-lines file and reads them back."""

    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        self.path = path
        self._clock = clock
        self.malformed = 0  # lines the last read() skipped

    def record(
        self,
        trace_dict: Mapping[str, Any],
        verdict: Literal["good", "bad"],
        login: str,
        alternatives: Sequence[str] = (),
        *,
        window: Sequence[ChatMessage | Mapping[str, Any]] | None = None,
    ) -> FeedbackRecord:
        """Store one verdict on the reply of this trace; returns what was written."""
        ts = self._clock.now() if self._clock is not None else time.time()
        rec = record_from_trace(
            trace_dict,
            verdict=verdict,
            login=login,
            ts=ts,
            alternatives=alternatives,
            window=window,
        )
        self.append(rec)
        return rec

    def append(self, rec: FeedbackRecord) -> None:
        """Write one record as one line: a single append, flushed to the disk."""
        append_durably(self.path, (rec.model_dump_json() + "\n").encode("utf-8"))

    def read(self) -> Iterator[FeedbackRecord]:
        """Every record in the file, in order; malformed lines are skipped and counted."""
        self.malformed = 0
        if not self.path.exists():
            return
        with self.path.open("rb") as file:
            for raw in file:
                if not raw.strip():
                    continue
                try:
                    yield FeedbackRecord.model_validate_json(raw)
                except ValidationError:
                    self.malformed += 1
