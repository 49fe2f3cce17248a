"""Turn traces and decisions as JSON: one object per line, readable without cohost.

A turn is written when it ends. A turn held for approval (outcome "held") is written again once
the streamer approves or rejects it, or it expires: the later line for a `turn_id` stands, and
its `decided` field says what happened. Readers that count turns keep the last line per id.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import logging
import os
from pathlib import Path
from typing import IO, Any

from cohost.events import ChatMessage, Decision, TurnTrace

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name.lower() if isinstance(value, int) else value.value
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def message_dict(message: ChatMessage) -> dict[str, Any]:
    """A chat message as plain JSON types."""
    data: dict[str, Any] = _plain(message)
    return data


def decision_dict(decision: Decision) -> dict[str, Any]:
    """A decision as plain JSON types, its score parts as a mapping."""
    return {
        "message": message_dict(decision.message),
        "picked": decision.picked,
        "score": round(decision.score, 4),
        "parts": {name: round(value, 4) for name, value in decision.parts},
        "reason": decision.reason,
        "category": decision.category,
    }


def trace_dict(trace: TurnTrace) -> dict[str, Any]:
    """A whole turn as plain JSON types; stage times relative to the turn's first stage."""
    data: dict[str, Any] = _plain(trace)
    data["decision"] = decision_dict(trace.decision)
    data["window"] = [{"login": m.login, "text": m.text, "ts": m.ts} for m in trace.window]
    origin = min((s.start for s in trace.stages), default=0.0)
    data["stages"] = [
        {
            "name": s.name,
            "start_ms": round((s.start - origin) * 1000, 3),
            "end_ms": round((s.end - origin) * 1000, 3),
            "ms": round(s.seconds * 1000, 3),
        }
        for s in trace.stages
    ]
    return data


# Characters that str.splitlines() and some readers take as line ends; JSON may escape them.
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def json_line(data: object) -> str:
    """One JSON Lines record: readable UTF-8, with no character any reader takes as a line end."""
    return json.dumps(data, ensure_ascii=False).translate(_LINE_BREAKS) + "\n"


class TraceWriter:
    """Appends traces as JSON lines, flushed per turn so a crash loses at most one.

    A trace holds what the journal gave the turn, private entries included (the fused prompt
    too): the file is the owner's alone (0600), as the journal's `.tid` files are.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with contextlib.suppress(OSError):  # a file someone else owns stays as it is
            os.fchmod(fd, 0o600)  # a file from before (an older cohost, the same day) too
        self._file: IO[str] = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, trace: TurnTrace) -> None:
        self._file.write(json_line(trace_dict(trace)))
        self._file.flush()

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            # a full disk refuses the last buffered trace again; the file is closed all the same
            log.exception("closing the trace file %s failed", self.path)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
