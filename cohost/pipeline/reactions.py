"""Thanking the stream's supporters: raids, follows, subs, resubs, gift subs and cheers.

Pure and clock-driven: events go in with the time they arrived (`take`), thank-yous come out
when they are due (`due(now)`); whoever owns the clock asks. What it decides:
- Each kind is batched on its own: the first event opens a batch, and what arrives within
  `batch_s` joins it. A gift bomb of 50 (one community-gift notice and 50 single gifts) or a
  raid of 500 followed by a wave of follows is one thank-you per kind, never one per event.
- At most one thank-you per kind each `cooldown_s`: a batch that closes inside the cooldown
  waits for its end, and what arrives meanwhile joins it.
- A community gift's single gifts that straggle in after their gifter was thanked are part of
  the gift already thanked, not a new one.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from cohost.core.events import ChatMessage, Decision, Follow, SourceEvent, UserNotice
from cohost.core.options import ReactionSettings, ReactionsSettings

# How many supporters a thank-you names before "and N others".
NAMED = 3
# A twin-styled thank-you's score: as a `!twin ask`, it is answered whatever the picker thinks.
THANKS_SCORE = 10.0


class ReactionKind(enum.StrEnum):
    """The stream events the twin thanks, one setting each."""

    RAID = "raid"
    FOLLOW = "follow"
    SUB = "sub"
    RESUB = "resub"
    GIFT = "gift"
    CHEER = "cheer"


_NOTICE_KINDS = {
    "raid": ReactionKind.RAID,
    "sub": ReactionKind.SUB,
    "resub": ReactionKind.RESUB,
    "subgift": ReactionKind.GIFT,
    "submysterygift": ReactionKind.GIFT,
}

# What happened, as a line a twin model answers (its message in `twin` mode).
_DESCRIPTIONS = {
    ReactionKind.RAID: "{names} raided the channel with {amount} viewer{plural}.",
    ReactionKind.FOLLOW: "{names} just followed the channel.",
    ReactionKind.SUB: "{names} just subscribed.",
    ReactionKind.RESUB: "{names} resubscribed.",
    ReactionKind.GIFT: "{names} gifted {amount} sub{plural}.",
    ReactionKind.CHEER: "{names} cheered {amount} bit{plural}.",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Support:
    """One stream event worth thanking, whatever source it came from."""

    kind: ReactionKind
    id: str
    channel: str
    login: str
    display_name: str
    user_id: str
    ts: float
    amount: int  # raid: viewers; cheer: bits; sub, resub: months; a single gift: 1
    text: str = ""  # the viewer's own words, if any
    system_text: str = ""  # Twitch's line for it
    bomb: bool = False  # a community gift of `amount` subs (0: its size is not known)
    in_bomb: bool = False  # one sub of a community gift
    message: ChatMessage | None = None  # a cheer: the chat message that carried it

    @property
    def name(self) -> str:
        return self.display_name or self.login or "an anonymous supporter"


def _who(event: Follow | ChatMessage | UserNotice) -> dict[str, Any]:
    """The fields every support shares: who gave it, where and when."""
    return {
        "id": event.id,
        "channel": event.channel,
        "login": event.login,
        "display_name": event.display_name,
        "user_id": event.user_id,
        "ts": event.ts,
    }


def support_of(event: SourceEvent) -> Support | None:
    """The support an event stands for, or None (chat without bits, moderation, ...)."""
    if isinstance(event, Follow):
        return Support(kind=ReactionKind.FOLLOW, amount=1, **_who(event))
    if isinstance(event, ChatMessage):
        if event.bits <= 0:
            return None
        return Support(
            kind=ReactionKind.CHEER,
            amount=event.bits,
            text=event.text,
            message=event,
            **_who(event),
        )
    if not isinstance(event, UserNotice) or (kind := _NOTICE_KINDS.get(event.kind)) is None:
        return None
    bomb = event.kind == "submysterygift"
    amount = {
        ReactionKind.RAID: event.viewers,
        ReactionKind.SUB: max(event.months, 1),
        ReactionKind.RESUB: max(event.months, 1),
    }.get(kind, event.gifts if bomb else 1)
    return Support(
        kind=kind,
        amount=amount,
        text=event.text.strip(),
        system_text=event.system_text.strip(),
        bomb=bomb,
        in_bomb=event.in_community_gift,
        **_who(event),
    )


def names_of(names: tuple[str, ...]) -> str:
    """'ana', 'ana and bo', 'ana, bo and cy', 'ana, bo, cy and 4 others'."""
    if len(names) <= 1:
        return names[0] if names else ""
    if len(names) <= NAMED:
        return f"{', '.join(names[:-1])} and {names[-1]}"
    others = len(names) - NAMED
    return f"{', '.join(names[:NAMED])} and {others} other{'s' if others != 1 else ''}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Thanks:
    """One thank-you for a batch of one kind of support."""

    kind: ReactionKind
    mode: str  # "template" or "twin"
    names: tuple[str, ...]  # display names, first supporter first, each once
    count: int  # supporters
    amount: int  # viewers, bits, gifts, months (the longest), or follows
    text: str  # the template as said
    description: str  # what happened, as a line (a twin turn's message)
    supports: tuple[Support, ...]
    ts: float  # when it came due

    @property
    def first(self) -> Support:
        return self.supports[0]


@dataclass(slots=True)
class _Batch:
    opened: float
    supports: list[Support] = field(default_factory=list)


def _gift_total(supports: list[Support]) -> int:
    """Subs gifted: each gifter's single gifts, and per community gift its size or its subs."""
    total = 0
    gifters: dict[str, tuple[int, int]] = {}  # login -> (sizes announced, community subs seen)
    for s in supports:
        if s.bomb:
            announced, seen = gifters.get(s.login, (0, 0))
            gifters[s.login] = (announced + s.amount, seen)
        elif s.in_bomb:
            announced, seen = gifters.get(s.login, (0, 0))
            gifters[s.login] = (announced, seen + 1)
        else:
            total += 1
    return total + sum(max(announced, seen) for announced, seen in gifters.values())


def _amount(kind: ReactionKind, supports: list[Support]) -> int:
    if kind is ReactionKind.GIFT:
        return _gift_total(supports)
    if kind is ReactionKind.RESUB:
        return max(s.amount for s in supports)
    if kind in (ReactionKind.SUB, ReactionKind.FOLLOW):
        return len(supports)
    return sum(s.amount for s in supports)


def render(template: str, *, names: str, count: int, amount: int) -> str:
    """A template with its fields filled; unknown fields are left as written."""
    values = {
        "names": names,
        "count": str(count),
        "amount": str(amount),
        "plural": "" if amount == 1 else "s",
    }
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


class Reactions:
    """Batches and cooldowns of the thank-yous, per kind; see the module docstring."""

    def __init__(self, settings: ReactionsSettings) -> None:
        self.settings = settings
        self._batches: dict[ReactionKind, _Batch] = {}
        self._last: dict[ReactionKind, float] = {}  # when each kind was last thanked
        self._bombs_thanked: dict[str, float] = {}  # gifter login -> when their gift was thanked
        self.absorbed = 0  # supports that joined a thank-you already given

    def options(self, kind: ReactionKind) -> ReactionSettings:
        option: ReactionSettings = getattr(self.settings, kind.value)
        return option

    def wanted(self, support: Support) -> bool:
        """Whether this support is thanked at all (its kind on, and big enough)."""
        option = self.options(support.kind)
        if option.mode == "off":
            return False
        if support.kind in (ReactionKind.RAID, ReactionKind.CHEER):
            return support.amount >= option.min_amount
        return True

    def claims(self, support: Support) -> bool:
        """Whether the thank-you stands instead of the picker's answer to it.

        A notice or follow thanked in any mode is not also answered; a cheer is chat, and in
        `template` mode its words still go to the picker (a question with bits is a question).
        """
        if not self.wanted(support):
            return False
        return support.kind is not ReactionKind.CHEER or self.options(support.kind).mode == "twin"

    def take(self, support: Support, now: float) -> bool:
        """Count one support in; False when it is not thanked (off, too small, thanked)."""
        if not self.wanted(support):
            return False
        kind = support.kind
        batch = self._batches.get(kind)
        if batch is None:
            thanked = self._bombs_thanked.get(support.login)
            cooldown = self.options(kind).cooldown_s
            if support.in_bomb and thanked is not None and now - thanked < max(cooldown, 60.0):
                self.absorbed += 1  # a straggler of a community gift thanked already
                return True
            batch = self._batches[kind] = _Batch(opened=now)
        batch.supports.append(support)
        return True

    def _due_at(self, kind: ReactionKind, batch: _Batch) -> float:
        option = self.options(kind)
        last = self._last.get(kind)
        after_cooldown = batch.opened if last is None else last + option.cooldown_s
        return max(batch.opened + option.batch_s, after_cooldown)

    def next_due(self) -> float | None:
        """When the next thank-you is due (None: nothing waits)."""
        times = [self._due_at(kind, batch) for kind, batch in self._batches.items()]
        return min(times, default=None)

    def due(self, now: float) -> list[Thanks]:
        """The thank-yous due by `now`, in the order their batches opened."""
        ready = [kind for kind, batch in self._batches.items() if self._due_at(kind, batch) <= now]
        return [self._close(kind, now) for kind in ready]

    def flush(self, now: float) -> list[Thanks]:
        """Every thank-you still waiting, due or not (the source ended)."""
        return [self._close(kind, now) for kind in list(self._batches)]

    def _close(self, kind: ReactionKind, now: float) -> Thanks:
        batch = self._batches.pop(kind)
        self._last[kind] = now
        supports = batch.supports
        if kind is ReactionKind.GIFT:
            for s in supports:
                if s.bomb or s.in_bomb:
                    self._bombs_thanked[s.login] = now
        names = tuple(dict.fromkeys(s.name for s in supports))
        amount = _amount(kind, supports)
        named = names_of(names)
        option = self.options(kind)
        description = render(_DESCRIPTIONS[kind], names=named, count=len(names), amount=amount)
        if len(supports) == 1 and supports[0].text:
            description = f'{description} {supports[0].name} said: "{supports[0].text}"'
        return Thanks(
            kind=kind,
            mode=option.mode,
            names=names,
            count=len(names),
            amount=amount,
            text=render(option.template, names=named, count=len(names), amount=amount),
            description=description,
            supports=tuple(supports),
            ts=now,
        )


def thanks_decision(thanks: Thanks) -> Decision:
    """A twin-styled thank-you as a picked message: what happened, as Twitch's line for it.

    One cheer keeps its chat message's id (the reply threads under it); anything else is a
    notice, which Twitch threads nothing under.
    """
    first = thanks.first
    single = len(thanks.supports) == 1
    if single and first.message is not None:
        message = dataclasses.replace(first.message, text=thanks.description)
    else:
        message = ChatMessage(
            id=first.id if single else f"thanks:{thanks.kind.value}:{first.id}",
            channel=first.channel,
            login=first.login,
            display_name=first.name,
            text=thanks.description,
            ts=thanks.ts,
            user_id=first.user_id,
            notice=thanks.kind.value,
        )
    return Decision(
        message=message,
        picked=True,
        score=THANKS_SCORE,
        parts=(("support", THANKS_SCORE),),
        reason=f"a thank-you ({thanks.kind.value}): {thanks.description}",
        category="thanks",
    )
