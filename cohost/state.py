"""The twin's live state, changed by `!twin` commands and read by every turn."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True, kw_only=True)
class TwinState:
    """What moderators steer: paused or not, voice and chat switches, topic, ignores, rate."""

    paused: bool = False
    voice: bool = True
    chat: bool = True
    hold: bool = False  # replies wait on the dashboard for the streamer's approval
    topic: str = ""
    ignored: set[str] = field(default_factory=set)
    rate_per_minute: int | None = None  # None: the picker's setting

    @property
    def topic_words(self) -> tuple[str, ...]:
        return tuple(w for w in self.topic.lower().split() if len(w) > 2)


# A restart this soon after the last change (a crash, an update mid-stream) keeps every switch;
# a later one, the next stream, keeps only whom the twin ignores.
RESTORE_SWITCHES_S = 6 * 3600.0
STATE_VERSION = 1


def state_dict(state: TwinState, *, saved_at: float) -> dict[str, object]:
    """The state as JSON, with when it was saved."""
    return {
        "version": STATE_VERSION,
        "saved_at": saved_at,
        "paused": state.paused,
        "voice": state.voice,
        "chat": state.chat,
        "hold": state.hold,
        "topic": state.topic,
        "rate_per_minute": state.rate_per_minute,
        "ignored": sorted(state.ignored),
    }


def save_state(state: TwinState, path: Path, *, now: float) -> None:
    """Write the state atomically (a crash leaves the old file or the new, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps(state_dict(state, saved_at=now), indent=1) + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def restore_state(state: TwinState, path: Path, *, now: float) -> list[str]:
    """Apply a saved state to `state`; what was restored, as a person reads it.

    The ignore list always comes back. The switches (paused, voice, chat, hold, topic, rate)
    come back only when saved within `RESTORE_SWITCHES_S`: after a crash the twin stays as the
    moderators left it, while the next stream starts from the settings. A missing file is a
    first run; an unreadable one is reported and left for a person to look at.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{path}: unreadable saved state ({exc}); move it away to start anew"
        ) from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: not a saved state of this version; move it away")
    restored: list[str] = []
    ignored = {str(login).lower() for login in data.get("ignored", []) if str(login).strip()}
    if ignored:
        state.ignored |= ignored
        restored.append(f"ignoring {len(ignored)}")
    saved_at = data.get("saved_at")
    if not isinstance(saved_at, int | float) or now - saved_at > RESTORE_SWITCHES_S:
        return restored
    for name in ("paused", "voice", "chat", "hold"):
        if isinstance(value := data.get(name), bool) and value != getattr(state, name):
            setattr(state, name, value)
            restored.append(f"{name} {'on' if value else 'off'}")
    if isinstance(topic := data.get("topic"), str) and topic and topic != state.topic:
        state.topic = topic
        restored.append(f"topic {topic!r}")
    rate = data.get("rate_per_minute")
    if isinstance(rate, int) and not isinstance(rate, bool) and rate > 0:
        state.rate_per_minute = rate
        restored.append(f"rate {rate}/min")
    return restored
