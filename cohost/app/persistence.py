"""The twin's state kept across restarts: saved as `state.json`, restored at start."""

from __future__ import annotations

import json
from pathlib import Path

from cohost.core.files import write_atomic
from cohost.core.state import TwinState

# The twin down for less than this (a crash, an update mid-stream) comes back with every switch
# as the moderators left it; down longer (the next stream), with only whom it ignores. The
# daemon saves the state when a command changes it, every `STATE_HEARTBEAT_S` while it runs
# and when it stops, so the time of the last save is when it was last up.
RESTORE_SWITCHES_S = 30 * 60.0
STATE_HEARTBEAT_S = 60.0
STATE_VERSION = 1
_SWITCHES = ("paused", "voice", "chat", "hold")


def state_dict(
    state: TwinState, *, saved_at: float, defaults: TwinState | None = None
) -> dict[str, object]:
    """The state as JSON, with when it was saved and what the settings made of it at start."""
    base = defaults or TwinState()
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
        # the settings' own values: a switch the settings have changed since is theirs again
        "defaults": {"hold": base.hold, "topic": base.topic},
    }


def save_state(
    state: TwinState, path: Path, *, now: float, defaults: TwinState | None = None
) -> None:
    """Write the state atomically (a crash leaves the old file or the new, never half), 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = state_dict(state, saved_at=now, defaults=defaults)
    write_atomic(path, json.dumps(data, indent=1) + "\n")


def restore_state(state: TwinState, path: Path, *, now: float) -> list[str]:
    """Apply a saved state to `state` (as the settings made it); what came back, as read.

    The ignore list always comes back. The switches (paused, voice, chat, hold), the topic
    and the rate come back only when the twin was down for under `RESTORE_SWITCHES_S`, and
    hold and topic only while the settings still give what they gave then: a streamer who
    sets `COHOST_TURN__HOLD=true` and restarts gets hold on. A missing file is a first run;
    an unreadable one raises ValueError naming it.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable saved state ({exc})") from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: not a saved state of this version")
    ignored = data.get("ignored", [])
    if not isinstance(ignored, list) or not all(isinstance(x, str) for x in ignored):
        raise ValueError(f"{path}: 'ignored' must be a list of logins")
    restored: list[str] = []
    logins = {login.strip().lower() for login in ignored if login.strip()}
    if logins:
        state.ignored |= logins
        restored.append(f"ignoring {len(logins)}")
    saved_at = data.get("saved_at")
    if not isinstance(saved_at, int | float) or not 0 <= now - saved_at <= RESTORE_SWITCHES_S:
        return restored
    then = data.get("defaults")
    then = then if isinstance(then, dict) else {}
    for name in _SWITCHES:
        value = data.get(name)
        if name == "hold" and then.get("hold", state.hold) != state.hold:
            continue  # the settings changed it since: theirs
        if isinstance(value, bool) and value != getattr(state, name):
            setattr(state, name, value)
            if name == "paused":
                restored.append("paused" if value else "not paused")
            else:
                restored.append(f"{name} {'on' if value else 'off'}")
    topic = data.get("topic")
    unchanged = then.get("topic", state.topic) == state.topic
    if isinstance(topic, str) and topic != state.topic and unchanged:
        state.topic = topic
        restored.append(f"topic {topic!r}" if topic else "no topic")
    rate = data.get("rate_per_minute")
    valid = isinstance(rate, int) and not isinstance(rate, bool) and rate > 0
    if valid and rate != state.rate_per_minute:
        state.rate_per_minute = rate
        restored.append(f"rate {rate}/min")
    return restored
