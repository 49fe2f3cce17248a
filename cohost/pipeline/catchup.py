"""Questions that wait for chat to calm: the twin catches up on them when the flood is over.

When chat floods, the picker's rate rules (`rate`, `gap`) hold back questions worth answering.
`CatchUp` keeps the best few of them (`PickerSettings.queue_size`), drops any older than
`queue_fresh_s`, and hands the best one back once chat has been calm (fewer than
`queue_calm_per_minute` messages a minute, counted over `CALM_WINDOW_S`) for `queue_calm_s`.
It is sans-I/O: it is told when messages arrive and what time it is; the conductor asks the
picker again before the twin answers (the rate rules, cooldowns and duplicates still apply).

Chat is busy at time t when at least k messages arrived in (t - W, t], k = ceil(rate * W / 60).
The last k arrivals are enough to tell when that was last true, so `heard` is O(1).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from cohost.core.events import ChatMessage, Decision
from cohost.core.options import PickerSettings

CALM_WINDOW_S = 30.0  # chat's rate is counted over this long
HELD_BY_RATE = frozenset({"rate", "gap"})  # what the queue keeps: held by the rate rules only
WORTH_WAITING = frozenset({"question", "direct"})  # a question, or words to the twin


@dataclass(frozen=True, slots=True)
class Dropped:
    """A waiting question that will never be answered, and why."""

    decision: Decision
    reason: str


class CatchUp:
    """A small queue of questions held back while chat was busy (see the module)."""

    def __init__(
        self,
        *,
        size: int,
        fresh_s: float,
        calm_per_minute: float,
        calm_s: float,
        window_s: float = CALM_WINDOW_S,
    ) -> None:
        if size < 1:
            raise ValueError("a catch-up queue holds at least one question")
        if fresh_s <= 0 or calm_per_minute <= 0 or calm_s < 0 or window_s <= 0:
            raise ValueError("freshness, calm rate and window must be positive, calm_s >= 0")
        self.size = size
        self.fresh_s = fresh_s
        self.calm_s = calm_s
        self._window_s = window_s
        self._busy_count = max(1, math.ceil(calm_per_minute * window_s / 60.0 - 1e-9))
        self._recent: deque[float] = deque(maxlen=self._busy_count)
        self._busy_until = -math.inf
        self._waiting: list[Decision] = []

    @classmethod
    def for_settings(cls, settings: PickerSettings) -> CatchUp | None:
        """The queue the picker's settings ask for; None when `queue_size` is 0."""
        if settings.queue_size <= 0:
            return None
        return cls(
            size=settings.queue_size,
            fresh_s=settings.queue_fresh_s,
            calm_per_minute=settings.queue_calm_per_minute,
            calm_s=settings.queue_calm_s,
        )

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def waiting(self) -> tuple[Decision, ...]:
        """What waits, best first."""
        return tuple(sorted(self._waiting, key=_rank, reverse=True))

    def heard(self, ts: float) -> None:
        """A chat message arrived at `ts` (in time order)."""
        recent = self._recent
        recent.append(ts)
        if len(recent) == self._busy_count and recent[-1] - recent[0] < self._window_s:
            # busy from recent[-1] until the oldest of these leaves the window
            self._busy_until = max(self._busy_until, recent[0] + self._window_s)

    def calm_since(self) -> float:
        """When chat last stopped being busy (-inf: never busy)."""
        return self._busy_until

    def is_calm(self, now: float) -> bool:
        """Whether chat has been calm for `calm_s` by `now`."""
        return now >= self._busy_until + self.calm_s

    def offer(self, decision: Decision, now: float) -> tuple[bool, list[Dropped]]:
        """Keep a decision held back by the rate rules if it is worth waiting for.

        Returns whether it waits now, and what was dropped to make room (or went stale).
        One question per viewer waits: a better one from them replaces the one before.
        """
        dropped = self.expire(now)
        if decision.category not in HELD_BY_RATE:
            return False, dropped
        if WORTH_WAITING.isdisjoint(name for name, _ in decision.parts):
            return False, dropped
        message = decision.message
        if now - message.ts > self.fresh_s:
            return False, dropped
        waiting = self._waiting
        for i, other in enumerate(waiting):
            if other.message.id == message.id:
                return True, dropped  # already waits
            if other.message.login == message.login:
                if _rank(other) >= _rank(decision):
                    return False, dropped
                del waiting[i]
                dropped.append(Dropped(other, f"{message.login} asked something better since"))
                break
        waiting.append(decision)
        if len(waiting) > self.size:
            worst = min(waiting, key=_rank)
            waiting.remove(worst)
            dropped.append(Dropped(worst, f"the queue is full: {self.size} better questions wait"))
            if worst is decision:
                return False, dropped
        return True, dropped

    def expire(self, now: float) -> list[Dropped]:
        """Drop what has waited past `fresh_s`."""
        stale = [d for d in self._waiting if now - d.message.ts > self.fresh_s]
        if not stale:
            return []
        self._waiting = [d for d in self._waiting if now - d.message.ts <= self.fresh_s]
        return [
            Dropped(
                d,
                f"it waited {now - d.message.ts:.0f} s for chat to calm "
                f"(the limit is {self.fresh_s:g} s)",
            )
            for d in stale
        ]

    def due(self, now: float) -> tuple[Decision | None, list[Dropped]]:
        """The best fresh question, taken out of the queue, once chat has been calm long
        enough (None otherwise); and what went stale."""
        dropped = self.expire(now)
        if not self._waiting or not self.is_calm(now):
            return None, dropped
        best = max(self._waiting, key=_rank)
        self._waiting.remove(best)
        return best, dropped

    def put_back(self, decision: Decision) -> None:
        """A question taken by `due` that the rate rules still hold: it waits on."""
        if all(d.message.id != decision.message.id for d in self._waiting):
            self._waiting.append(decision)

    def remove(self, gone: Callable[[ChatMessage], bool]) -> int:
        """Take out what moderation removed from chat; how many went."""
        before = len(self._waiting)
        self._waiting = [d for d in self._waiting if not gone(d.message)]
        return before - len(self._waiting)

    def clear(self) -> None:
        """Nothing waits any more."""
        self._waiting.clear()


def _rank(decision: Decision) -> tuple[float, float]:
    """Better first: the higher score, then the fresher message."""
    return decision.score, decision.message.ts
