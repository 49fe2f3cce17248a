"""The twin's live state, changed by `!twin` commands and read by every turn."""

from __future__ import annotations

from dataclasses import dataclass, field


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
