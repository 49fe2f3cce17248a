"""Regulars: returning chatters known per channel, welcomed back, and given to the twin.

What it keeps of a chatter (`Regular`): when they were first and last seen, in how many streams,
how many messages, and a few short public lines of theirs. A line is kept only when chat saw
it in the channel (never a whisper: cohost reads none), it is no command, no bot's line, no
notice or spoken line, short, and it passes the journal guard unchanged. The store that keeps
the records on disk is the app's (`cohost.app.chatters.Regulars`); this module decides.

Welcomes are calm by construction: one per chatter per stream at most, at most one each
`cooldown_s` and `per_minute` a minute, a few names together, and a chatter still waiting after
`wait_s` is let go. A stream is one run of cohost, or chat after `stream_gap_s` of quiet.

In the twin's own words (`greeting: twin`) a welcome must never cut an answer short, so the
session asks for it in two ways: a chatter whose own line the picker answers is welcomed in
that answer (`fold`: their turn's context says they are back), and anyone else's welcome waits
for a quiet moment, when no turn runs and none is about to (see `cohost.session`).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cohost.core.events import ChatMessage, Decision, Hit, Role, Tier
from cohost.core.options import RegularsSettings

MINUTE = 60.0
DAY = 86_400.0
_LINK = re.compile(r"https?://|www\.|\.(com|net|org|tv|gg|ly)\b", re.IGNORECASE)
CONTEXT_ID = "regulars"  # a context hit's entry id starts so; never a journal file's name
# A twin-styled welcome's score: as a thank-you's, so a pick that comes while the twin says it
# waits as next up rather than cutting it short (it is short).
WELCOME_SCORE = 10.0
WELCOME_NOTICE = "welcome"  # the notice kind of a welcome turn's message: never threaded
FOLDED_KEPT = 256  # messages whose answer carries a welcome, remembered for their turn


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    """One welcome back: whom it names, and what is said."""

    channel: str
    logins: tuple[str, ...]
    names: tuple[str, ...]
    text: str  # the template, filled in
    ts: float

    @property
    def description(self) -> str:
        """What happened, as a line a twin model answers (its message in `twin` mode)."""
        verb = "is" if len(self.names) == 1 else "are"
        return f"{_names(self.names)} {verb} back in chat for the first time this stream."

    def decision(self) -> Decision:
        """A twin-styled welcome as a picked message: a notice, which nothing threads under."""
        first = self.logins[0]
        message = ChatMessage(
            id=f"{WELCOME_NOTICE}:{first}:{self.ts:.3f}",
            channel=self.channel,
            login=first,
            display_name=self.names[0],
            text=self.description,
            ts=self.ts,
            notice=WELCOME_NOTICE,
        )
        return Decision(
            message=message,
            picked=True,
            score=WELCOME_SCORE,
            parts=(("welcome", WELCOME_SCORE),),
            reason=f"a welcome back: {self.description}",
            category="welcome",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Regular:
    """What the twin keeps about one chatter in one channel."""

    login: str
    user_id: str = ""
    display_name: str = ""
    first_seen: float
    last_seen: float
    streams: int = 1
    messages: int = 0
    notes: tuple[str, ...] = ()  # their own public lines, oldest first
    stream: float = 0.0  # when the stream they were last counted in began


class RegularsStore(Protocol):
    """Where the records live (`cohost.app.chatters.Regulars`)."""

    def get(self, login: str) -> Regular | None:
        """The chatter's record, or None."""
        ...

    def put(self, regular: Regular) -> None:
        """Keep (or replace) a record; written out soon, not necessarily now."""
        ...

    def remove(self, login: str, user_ids: Collection[str] = ()) -> Regular | None:
        """Erase the chatter (by login, or any of these user ids) now; what was kept."""
        ...


def keepable(
    message: ChatMessage,
    *,
    max_chars: int,
    allowed: Callable[[str], bool],
    command_prefix: str = "!",
) -> str | None:
    """The message's text as a note worth keeping, or None."""
    text = " ".join(message.text.split())
    if (
        message.spoken
        or message.notice is not None
        or message.emote_only
        or message.action
        or not text
        or len(text) > max_chars
        or len(text.split()) < 3
        or text.startswith(("!", "/", ".", command_prefix))
        or _LINK.search(text)
    ):
        return None
    return text if allowed(text) else None


class Regulars:
    """Who returns to a channel: records kept, welcomes decided, context for the turn."""

    def __init__(
        self,
        settings: RegularsSettings,
        stores: Mapping[str, RegularsStore],
        *,
        allowed: Callable[[str], bool] = lambda _: True,
        skip: Collection[str] = (),
        command_prefix: str = "!twin",
    ) -> None:
        """stores: one per channel where regulars are on (its login, lowercase).
        allowed: whether a line may be kept (the journal guard lets it through unchanged).
        skip: logins never kept (the twin's own account, other bots)."""
        self.settings = settings
        self.stores = {channel.lower(): store for channel, store in stores.items()}
        self._allowed = allowed
        self._skip = frozenset(login.lower() for login in skip)
        self._prefix = command_prefix
        self._stream: dict[str, float] = {}  # channel -> when its stream began
        self._last_chat: dict[str, float] = {}
        self._welcomed: set[tuple[str, str]] = set()  # (channel, login), this stream
        self._waiting: list[tuple[float, str, str, str]] = []  # (since, channel, login, name)
        self._said: list[float] = []  # when welcomes were said, this last minute
        self._folded: dict[str, str] = {}  # message id -> login: its answer welcomes them

    def hear(self, message: ChatMessage) -> Regular | None:
        """Count a chat line; the chatter's record as it was before it (None: new, or off)."""
        store = self.stores.get(message.channel.lower())
        login = message.login.lower()
        if store is None or not login or login in self._skip:
            return None
        if message.role is Role.BROADCASTER or login == message.channel.lower():
            return None  # the channel is the broadcaster's login
        if message.spoken or message.notice is not None:
            return None
        channel, now = message.channel.lower(), message.ts
        last = self._last_chat.get(channel)
        if last is None or now - last >= self.settings.stream_gap_s:
            self._stream[channel] = now
            self._welcomed = {w for w in self._welcomed if w[0] != channel}
        self._last_chat[channel] = max(now, last or now)
        stream = self._stream[channel]
        before = store.get(login)
        note = keepable(
            message,
            max_chars=self.settings.note_chars,
            allowed=self._allowed,
            command_prefix=self._prefix,
        )
        store.put(self._updated(before, message, stream, note))
        if (
            before is not None
            and before.stream < stream
            and before.streams >= self.settings.min_streams
            and not message.first_msg  # Twitch says they never chatted here
            and (channel, login) not in self._welcomed
        ):
            self._welcomed.add((channel, login))
            name = message.display_name or login
            self._waiting.append((now, channel, login, name))
        return before

    def _updated(
        self, before: Regular | None, message: ChatMessage, stream: float, note: str | None
    ) -> Regular:
        if before is None:
            before = Regular(
                login=message.login.lower(),
                first_seen=message.ts,
                last_seen=message.ts,
                streams=0,
            )
        notes = before.notes
        if note is not None and self.settings.notes > 0 and note not in notes:
            notes = (*notes, note)[-self.settings.notes :]
        return dataclasses.replace(
            before,
            user_id=message.user_id or before.user_id,
            display_name=message.display_name or before.display_name,
            last_seen=max(before.last_seen, message.ts),
            streams=before.streams + (1 if before.stream < stream or before.streams == 0 else 0),
            messages=before.messages + 1,
            notes=notes if self.settings.notes > 0 else (),
            stream=stream,
        )

    def waiting(self, login: str) -> bool:
        """Whether this chatter waits for a welcome."""
        return any(w[2] == login.lower() for w in self._waiting)

    def fold(self, message: ChatMessage, *, held: bool = False) -> bool:
        """The twin answers this message: if its chatter waits for a welcome, the answer is it
        (their turn's context says they are back), and no welcome of its own is said.
        held: their welcome was taken (`welcome_due`) but waits to be said."""
        login = message.login.lower()
        if not (held or self.waiting(login)) or message.channel.lower() not in self.stores:
            return False
        self._waiting = [w for w in self._waiting if w[2] != login]
        self._folded[message.id] = login
        while len(self._folded) > FOLDED_KEPT:
            del self._folded[next(iter(self._folded))]
        return True

    def welcome_due(self, now: float) -> Welcome | None:
        """The welcome to say now, or None: calm whatever the flood."""
        settings = self.settings
        self._waiting = [w for w in self._waiting if now - w[0] <= settings.wait_s]
        self._said = [t for t in self._said if now - t < MINUTE]
        if not self._waiting or settings.greeting == "off":
            return None
        if self._said and now - self._said[-1] < settings.cooldown_s:
            return None
        if len(self._said) >= settings.per_minute:
            return None
        channel = self._waiting[0][1]
        taken = [w for w in self._waiting if w[1] == channel][: settings.names_per_greeting]
        self._waiting = [w for w in self._waiting if w not in taken]
        self._said.append(now)
        names = tuple(name for *_, name in taken)
        return Welcome(
            channel=channel,
            logins=tuple(login for _, _, login, _ in taken),
            names=names,
            text=settings.template.format(names=_names(names)),
            ts=now,
        )

    def without(self, welcome: Welcome, login: str) -> Welcome | None:
        """The welcome without this chatter (welcomed otherwise); None when it names no one."""
        kept = [(lg, n) for lg, n in zip(welcome.logins, welcome.names, strict=True) if lg != login]
        if not kept:
            return None
        names = tuple(n for _, n in kept)
        return dataclasses.replace(
            welcome,
            logins=tuple(lg for lg, _ in kept),
            names=names,
            text=self.settings.template.format(names=_names(names)),
        )

    def context(self, message: ChatMessage) -> list[Hit]:
        """What the twin may know about who wrote the message: public facts, as a hit."""
        store = self.stores.get(message.channel.lower())
        login = message.login.lower()
        regular = store.get(login) if store is not None else None
        if regular is None or regular.streams < self.settings.min_streams + 1:
            return []  # new to the channel this stream: nothing to tell yet
        name = regular.display_name or regular.login
        said = [f"“{n}”" for n in regular.notes if n != " ".join(message.text.split())]
        text = (
            f"{name} is a regular here: seen in {regular.streams} streams since "
            f"{_day(regular.first_seen)}, {regular.messages} messages"
        )
        if said:
            text += "; things they said before: " + "; ".join(said)
        if self._folded.get(message.id) == login:
            text += f". {name} is back in chat for the first time this stream: welcome them back"
        return [
            Hit(
                entry_id=f"{CONTEXT_ID}-{login}",
                title=f"{name} in chat",
                text=text,
                score=1.0,
                tier=Tier.PUBLIC,
                created=regular.last_seen,
                tags=("regulars",),
            )
        ]

    def forget(self, login: str, user_ids: Collection[str] = ()) -> Regular | None:
        """Erase a chatter from every store; what was kept about them, if anything."""
        login = login.lower()
        self._waiting = [w for w in self._waiting if w[2] != login]
        self._folded = {m: who for m, who in self._folded.items() if who != login}
        found = None
        for store in self.stores.values():
            found = store.remove(login, user_ids) or found
        return found


def _names(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))
