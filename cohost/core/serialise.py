"""cohost's events as JSON: plain data for traces, the bus and JSON Lines, made in one place."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from cohost.core.bus_events import BY_TOPIC, SCHEMA_VERSION, BusEvent
from cohost.core.events import ChatMessage, Decision, TurnTrace
from cohost.core.ports import Bus


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


# ---- bus events: the one wire form --------------------------------------------------------


def bus_payload(event: BusEvent) -> dict[str, Any]:
    """An event as its JSON object on the bus, with the schema's version (`v`)."""
    data: dict[str, Any] = _plain(event)
    data["v"] = SCHEMA_VERSION
    return data


def emit(bus: Bus | None, event: BusEvent) -> None:
    """Publish one event on the bus (nothing without one): the only way cohost publishes."""
    if bus is not None:
        bus.publish(event.TOPIC, bus_payload(event))


_READERS: dict[str, TypeAdapter[Any]] = {}  # one validator per topic, made at first use


def _reader(topic: str, kind: type[BusEvent]) -> TypeAdapter[Any]:
    if topic not in _READERS:
        _READERS[topic] = TypeAdapter(kind)
    return _READERS[topic]


def read_bus_event(topic: str, payload: Mapping[str, Any]) -> BusEvent | None:
    """An event read back from its topic and JSON object; None when the topic is not one of
    cohost's or the object does not fit its schema (a missing field, a wrong type)."""
    kind = BY_TOPIC.get(topic)
    if kind is None:
        return None
    try:
        event: BusEvent = _reader(topic, kind).validate_python(
            {k: v for k, v in payload.items() if k != "v"}
        )
    except ValidationError:
        return None
    return event
