"""A chat sink that keeps Twitch's rules, over any raw sender (Helix, a fake, the console).

Twitch's rules and what this sink does about each (stated choices):
- 20 messages per 30 s (100 when the bot is a moderator or the broadcaster, as the badges on
  its own echoed messages show; a VIP badge is not counted on), a 30-minute lockout when
  exceeded. The limiter remembers when each of the last messages went out and lets
  a new one go only when fewer than the limit went out in the last 30 s (plus a margin for
  network jitter): so no 30 s window ever holds more than the limit, not even right after a
  burst, which a plain refilling bucket would allow. A message that finds the limit reached
  WAITS on the clock, up to `max_wait_s` from when it was handed over, then is DROPPED and
  counted: a late or missing reply is far better than a lockout, and a reply older than that
  is stale in chat anyway. Messages go out in the order they were handed over.
- An identical message within 30 s is dropped by Twitch; this sink drops it first (compared
  without case or spacing differences) and counts it. It never appends an invisible character
  to slip past the rule: the twin repeating itself that fast is a fault to see, not to hide.
- 500 characters per message: longer text is split between sentences
  (`chunk_for_chat`); only the first part is threaded to `reply_to`.
- A leading `!`, `/` or `.` would run a chat command (`/ban x`): they are stripped, and a part
  with nothing left is dropped and counted.
- A send Twitch refuses (`is_sent=False`) is logged and counted, never retried (a retry of a
  refused message is the same message again); the rest of that reply is abandoned, since
  it would read out of context. A Transient error from the sender is treated the same way.
Times come from the clock's `now()`, so tests and replay run on a virtual clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from dataclasses import dataclass, fields
from typing import Protocol

from cohost.core.errors import Transient
from cohost.core.events import Role, SendResult
from cohost.core.options import ChatSinkSettings
from cohost.core.ports import Clock
from cohost.pipeline.guard import QUOTES_AND_SPACE, strip_command_prefix
from cohost.text.fold import same_text_key
from cohost.text.sentences import chunk_for_chat

log = logging.getLogger(__name__)

WINDOW_S = 30.0
LIMIT = 20
MODERATOR_LIMIT = 100
DUPLICATE_S = 30.0
MAX_CHARS = 500
TURN_ALLOWANCE_S = 5.0  # from a pick to its reply reaching the sink, generously (see figures)
_MIN_SLEEP_S = 0.001  # float rounding must never make the waiting loop spin without time passing


class RawSender(Protocol):
    """Posts one message as is; knows nothing of Twitch's rules."""

    async def send_raw(self, text: str, *, reply_to: str | None) -> SendResult:
        """Send this text, threaded to reply_to when given."""
        ...


@dataclass(slots=True, kw_only=True)
class SinkCounters:
    """What happened to every message handed to the sink, for metrics."""

    sent: int = 0
    dropped_rate: int = 0  # waited max_wait_s for the rate limit, then dropped
    dropped_duplicate: int = 0  # the same text went out less than 30 s ago
    dropped_empty: int = 0  # nothing left after stripping command characters
    rejected: int = 0  # the sender said is_sent=False
    failed: int = 0  # the sender raised a Transient error
    abandoned: int = 0  # later parts of a reply whose earlier part was refused
    split: int = 0  # replies that needed more than one message
    neutralised: int = 0  # parts that lost a leading command character

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class TwitchRules:
    """The `ChatSink` that keeps Twitch's rate, duplicate, length and command rules."""

    def __init__(
        self,
        sender: RawSender,
        clock: Clock,
        *,
        moderator: bool = False,
        max_wait_s: float = 10.0,
        margin_s: float = 1.0,
    ) -> None:
        if max_wait_s < 0 or margin_s < 0:
            raise ValueError("max_wait_s and margin_s cannot be negative")
        self.sender = sender
        self.clock = clock
        self.moderator = moderator  # the bot's own badges change it at run time
        self.max_wait_s = max_wait_s
        self.window_s = WINDOW_S + margin_s
        self.duplicate_s = DUPLICATE_S + margin_s
        self.counters = SinkCounters()
        self.rejections: Counter[str] = Counter()  # drop_reason -> how often
        self._sent_at: deque[float] = deque(maxlen=MODERATOR_LIMIT)
        self._recent: dict[str, float] = {}  # text key -> when it last went out
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, sender: RawSender, clock: Clock, settings: ChatSinkSettings
    ) -> TwitchRules:
        """A sink configured from `Settings.sink`."""
        return cls(
            sender,
            clock,
            moderator=settings.moderator,
            max_wait_s=settings.max_wait_s,
            margin_s=settings.margin_s,
        )

    def bot_roles_seen(self, roles: frozenset[Role]) -> None:
        """The bot's badges on its own message: modded or unmodded, the rate limit follows.

        What Twitch shows beats the setting both ways: a bot unmodded mid-stream drops to 20
        messages per 30 s at once, instead of being refused for going over.
        """
        moderator = bool(roles & {Role.MODERATOR, Role.BROADCASTER})
        if moderator != self.moderator:
            log.info("chat: the bot is %s: %d messages per 30 s",
                     "a moderator" if moderator else "no longer a moderator",
                     MODERATOR_LIMIT if moderator else LIMIT)  # fmt: skip
        self.moderator = moderator

    @property
    def limit(self) -> int:
        """Messages allowed per window now."""
        return MODERATOR_LIMIT if self.moderator else LIMIT

    async def send(self, text: str, *, reply_to: str | None = None) -> bool:
        """Post text within the rules (split, stripped, rate-limited; see the module docstring).

        False when none of it went out; the counters say why.
        """
        return bool(await self.post(text, reply_to=reply_to))

    async def post(self, text: str, *, reply_to: str | None = None) -> list[str]:
        """Like `send`, returning the messages that Twitch accepted, in order."""
        deadline = self.clock.now() + self.max_wait_s
        parts = chunk_for_chat(text, MAX_CHARS)
        if len(parts) > 1:
            self.counters.split += 1
        posted: list[str] = []
        async with self._lock:
            for i, raw in enumerate(parts):
                part = strip_command_prefix(raw)
                if part != raw:
                    self.counters.neutralised += 1
                if not part.strip(QUOTES_AND_SPACE):
                    self.counters.dropped_empty += 1
                    log.info("chat message dropped: nothing left after command characters")
                    continue
                if not await self._wait_for_slot(deadline):
                    self.counters.dropped_rate += 1
                    log.warning("chat message dropped: rate limit (%d per window)", self.limit)
                    continue
                now = self.clock.now()
                key = same_text_key(part)
                self._forget_old(now)
                if key in self._recent:
                    self.counters.dropped_duplicate += 1
                    log.info("chat message dropped: the same text went out %.1f s ago",
                             now - self._recent[key])  # fmt: skip
                    continue
                # The first message that goes out carries the thread.
                thread = reply_to if not posted else None
                if not await self._send_one(part, thread, now, key):
                    self.counters.abandoned += len(parts) - i - 1
                    break
                posted.append(part)
        return posted

    async def _send_one(self, part: str, reply_to: str | None, now: float, key: str) -> bool:
        # Twitch counts what reaches it, refused or not: every attempt takes a slot.
        self._sent_at.append(now)
        self._recent[key] = now
        try:
            result = await self.sender.send_raw(part, reply_to=reply_to)
        except Transient as exc:
            self.counters.failed += 1
            log.warning("chat message not sent: %s", exc)
            return False
        if not result.is_sent:
            self.counters.rejected += 1
            reason = result.drop_reason or "unknown"
            self.rejections[reason] += 1
            log.warning("chat message refused by Twitch: %s", reason)
            return False
        self.counters.sent += 1
        return True

    def _free_at(self, now: float) -> float:
        """When the next message may go (now, or when enough old sends leave the window)."""
        sent = self._sent_at
        while sent and sent[0] + self.window_s <= now:
            sent.popleft()
        if len(sent) < self.limit:
            return now
        return sent[len(sent) - self.limit] + self.window_s

    def can_post_soon(self, turn_s: float = TURN_ALLOWANCE_S) -> bool:
        """Whether a reply picked now could still go out (the rate limit only).

        It reaches the sink `turn_s` or so from now, and may wait `max_wait_s` there.
        """
        now = self.clock.now()
        return self._free_at(now) <= now + turn_s + self.max_wait_s

    async def _wait_for_slot(self, deadline: float) -> bool:
        """Sleep until a message may go without breaking the limit; False past the deadline."""
        while True:
            now = self.clock.now()
            free_at = self._free_at(now)
            if free_at <= now:
                return True
            if free_at > deadline:
                return False
            await self.clock.sleep(max(free_at - now, _MIN_SLEEP_S))

    def _forget_old(self, now: float) -> None:
        old = [k for k, t in self._recent.items() if t + self.duplicate_s <= now]
        for k in old:
            del self._recent[k]
