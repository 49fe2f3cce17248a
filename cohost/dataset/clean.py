"""Cleaning rules for training lines: what is dropped or scrubbed, and how often each rule acted.

Every rule can be switched off and every action is counted in a `Tally`. Per-line rules are
sans-I/O (`LineRules.check`); moderation needs look-ahead, so `ModerationBuffer` holds lines
for a bounded time (and count) until no later deletion, timeout or ban can still target them.
Bot-like lines are told by their text, not their sender: a music bot's "Now Playing: ...", and
adverts (a link with an invitation, or a long line its sender posts again after the duplicate
window, as a moderator's timer does).
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict, deque
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

from cohost.core.events import ChatMessage, Moderation

RULES: tuple[str, ...] = (
    "bots",  # lines from known bots
    "botlike",  # music-bot announcements and repeated adverts, whoever posts them
    "commands",  # !commands
    "moderated",  # lines later deleted (CLEARMSG) or whose sender was timed out or banned
    "context",  # lines that lack context: attachments, bare links, "look at this"
    "short",  # very short lines
    "duplicates",  # a line repeated shortly after itself; an example written twice
    "personal",  # e-mail addresses, phone numbers, street addresses -> placeholders
)
RULE_HELP: dict[str, str] = {
    "bots": "lines from known bots",
    "botlike": "bot-like lines: music-bot announcements ('Now Playing'), repeated adverts",
    "commands": "chat commands (!command)",
    "moderated": "lines later deleted, or whose sender was timed out or banned",
    "context": "lines that lack context (attachments, bare links, 'look at this')",
    "short": "very short lines",
    "duplicates": "a line repeated soon after itself, and repeated examples",
    "personal": "e-mail addresses, phone numbers and street addresses (scrubbed, not dropped)",
}

_ATTACHMENT = re.compile(
    r"[\[(<{]\s*(?:image|img|photo|picture|pic|attachment|attached|file|video|gif|sticker|"
    r"screenshot|media(?: omitted)?|audio|voice (?:message|note))s?\s*[\])>}]"
    r"|\b[\w-]+\.(?:png|jpe?g|gif|webp|bmp|mp4|mov|webm)\b"
    r"|\b(?:image|video|media|file) omitted\b",
    re.IGNORECASE,
)
_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|gg|tv|io|be|ly)/\S*"
)
# Words that point at something the text does not hold: a clip, a picture, the stream itself.
DEFAULT_CONTEXT_PATTERNS: tuple[str, ...] = (
    r"\b(?:look|looking|lookin) at (?:this|that|these|those)\b",
    r"\bcheck (?:this|that|these|it) out\b",
    r"\b(?:watch|see) this\b",
    r"\b(?:this|that) (?:clip|pic|picture|image|photo|video|vid|screenshot|meme|gif|link)\b",
    r"\b(?:see|look|read) (?:above|below)\b",
    r"\b(?:the )?(?:link|pic|clip|image) (?:above|below)\b",
    r"^\s*\^+\s*(?:this)?\s*$",
)

# A music bot's announcements: the song now playing, a request queued.
DEFAULT_MUSIC_PATTERNS: tuple[str, ...] = (
    r"^\W*(?:now|currently) playing\s*(?:[:|>~\u2013\u2014-]|\u2192)",
    r"^\W*[\u266a\u266b\U0001f3b5\U0001f3b6]+\s*(?:now |currently )?playing\b",
    r"^\W*(?:current|last) song\s*[:|-]",
    r"\b(?:song|track)\b.{0,160}\b(?:has been |was )?(?:added|queued) to the (?:song ?)?queue\b",
)
# An invitation beside a link: "join our Discord", "go to jackbox.tv", "use code".
_INVITE = re.compile(
    r"\b(?:join|follow|subscribe|donate|visit|go to|head (?:over )?to|check out|sign up|"
    r"use (?:my |the |our )?code|merch|giveaway)\b",
    re.IGNORECASE,
)

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_PHONE = re.compile(
    r"(?<![\w.+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{2,4})(?:[\s.-]?\d{2,4}){2,4}(?![\w.])"
)
_STREET = re.compile(
    r"\b(?P<number>\d{1,5}[A-Za-z]?)\s+(?P<name>(?:[A-Za-z][A-Za-z'-]*\.?\s+){1,3})"
    r"(?P<kind>street|st|avenue|ave|boulevard|blvd|terrace|strasse|straße|crescent|"
    r"road|rd|lane|ln|drive|dr|court|ct|close|way|place|pl)\b\.?",
    re.IGNORECASE,
)
# Words that only ever name a street. The others (drive, road, court, ...) are everyday words
# too ("4 wheel drive"), so with them the address needs its shape: a house number of three or
# more digits or with a letter (1600, 221B), or a name and kind written in capitals (12 Oak Drive).
_STREET_WORDS = frozenset(
    {
        "street",
        "st",
        "avenue",
        "ave",
        "boulevard",
        "blvd",
        "terrace",
        "strasse",
        "straße",
        "crescent",
    }
)
# Words no street is named by: "17 just starting to drive", "2 way street", "5 hour road trip".
_NOT_A_STREET_NAME = re.compile(
    r"(?:a|an|the|to|of|on|in|at|by|for|from|with|and|or|but|my|your|his|her|our|their|its|"
    r"this|that|i|you|he|she|we|they|it|is|are|was|were|be|am|just|still|only|now|then|more|"
    r"less|very|so|not|no|all|some|any|ways?|hours?|hrs?|minutes?|mins?|days?|weeks?|months?|"
    r"years?|times?|miles?|km|meters?|foot|feet|lanes?)\.?",
    re.IGNORECASE,
)
PLACEHOLDERS: dict[str, str] = {"email": "<email>", "phone": "<phone>", "address": "<address>"}
_SPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    # A long bare number (a bit count, a year range) is not a phone number: it needs 9-15
    # digits and either a leading + or separators between its groups.
    if not 9 <= digits <= 15 or not (text.startswith("+") or re.search(r"[\s.()-]", text)):
        return text
    return PLACEHOLDERS["phone"]


def _address(match: re.Match[str]) -> str:
    text = match.group(0)
    names = match.group("name").split()
    if any(_NOT_A_STREET_NAME.fullmatch(name) for name in names):
        return text
    kind = match.group("kind")
    if kind.casefold() in _STREET_WORDS:
        return PLACEHOLDERS["address"]
    number = match.group("number")
    shaped = len(number) >= 3 or number[-1].isalpha()
    written = kind[0].isupper() and all(name[0].isupper() for name in names)
    return PLACEHOLDERS["address"] if shaped or written else text


def scrub_personal(text: str) -> tuple[str, Counter[str]]:
    """The text with e-mail addresses, phone numbers and street addresses as placeholders."""
    found: Counter[str] = Counter()
    if "@" in text:
        text, n = _EMAIL.subn(PLACEHOLDERS["email"], text)
        found["email"] += n
    if _DIGIT.search(text):  # phone numbers and street numbers both need one
        phones = text.count(PLACEHOLDERS["phone"])
        text = _PHONE.sub(_phone, text)
        found["phone"] += text.count(PLACEHOLDERS["phone"]) - phones
        addresses = text.count(PLACEHOLDERS["address"])
        text = _STREET.sub(_address, text)
        found["address"] += text.count(PLACEHOLDERS["address"]) - addresses
    return text, +found


def is_bare_link(text: str) -> bool:
    """A line that is nothing but links."""
    if "." not in text:
        return False
    rest = _URL.sub(" ", text)
    return rest != text and not rest.strip(" \t<>()[]\"'.,!?:;-")


def normalise(text: str) -> str:
    """Text as compared for duplicates: case and spacing folded."""
    return _SPACE.sub(" ", text).strip().casefold()


@dataclass(slots=True, kw_only=True)
class Tally:
    """What the rules did: lines removed and lines changed per rule, and more per-kind detail."""

    removed: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    detail: Counter[str] = field(default_factory=Counter)  # e.g. personal.email, context.link

    def merge(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        self.removed.update(other.removed)
        self.changed.update(other.changed)
        self.detail.update(other.detail)


class LineRules:
    """The per-line rules (all but moderation); `check` says what happens to one line."""

    def __init__(
        self,
        *,
        enabled: Collection[str] = RULES,
        bots: Iterable[str] = (),
        min_chars: int = 2,
        context_patterns: Iterable[str] = DEFAULT_CONTEXT_PATTERNS,
        duplicate_lookback: int = 200,
        music_patterns: Iterable[str] = DEFAULT_MUSIC_PATTERNS,
        advert_min_words: int = 6,
        advert_memory: int = 10_000,
    ) -> None:
        unknown = set(enabled) - set(RULES)
        if unknown:
            raise ValueError(f"unknown rule(s) {sorted(unknown)}; known: {', '.join(RULES)}")
        self.enabled = frozenset(enabled)
        self.bots = frozenset(b.strip().casefold() for b in bots if b.strip())
        self.min_chars = min_chars
        self.context = _alternation(context_patterns, "context")
        self.music = _alternation(music_patterns, "music")
        self.advert_min_words = advert_min_words
        self._recent: deque[str] = deque(maxlen=duplicate_lookback)
        self._recent_counts: Counter[str] = Counter()
        # Long lines per sender and the line count when last posted, oldest forgotten first:
        # a timer's advert comes back long after the duplicate lookback. Kept across logs.
        self._posted: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._posted_max = advert_memory
        self._lines = 0
        self.tally = Tally()

    def reset(self) -> None:
        """Forget the recent lines (a new log or writing starts)."""
        self._recent.clear()
        self._recent_counts.clear()

    def check(self, login: str, text: str) -> str | None:
        """The line's text as it goes on (maybe scrubbed), or None when a rule removes it."""
        on = self.enabled
        stripped = text.strip()
        self._lines += 1
        if "bots" in on and login.casefold() in self.bots:
            return self._drop("bots")
        if "botlike" in on and self.music is not None and self.music.search(stripped):
            self.tally.detail["botlike.music"] += 1
            return self._drop("botlike")
        if "commands" in on and stripped.startswith("!"):
            return self._drop("commands")
        if "context" in on:
            reason = self._lacks_context(stripped)
            if reason:
                self.tally.detail[f"context.{reason}"] += 1
                return self._drop("context")
        if "short" in on and len(stripped) < self.min_chars:
            return self._drop("short")
        if "duplicates" in on and self._seen(normalise(stripped)):
            return self._drop("duplicates")
        if "botlike" in on:
            reason = self._advert(login, stripped)
            if reason:
                self.tally.detail[f"botlike.{reason}"] += 1
                return self._drop("botlike")
        if "personal" in on:
            scrubbed, found = scrub_personal(text)
            if found:
                self.tally.changed["personal"] += 1
                for kind, n in found.items():
                    self.tally.detail[f"personal.{kind}"] += n
                return scrubbed
        return text

    def _drop(self, rule: str) -> str | None:
        self.tally.removed[rule] += 1
        return None

    def _lacks_context(self, text: str) -> str:
        if _ATTACHMENT.search(text):
            return "attachment"
        if is_bare_link(text):
            return "link"
        if self.context is not None and self.context.search(text):
            return "reference"
        return ""

    def _advert(self, login: str, text: str) -> str:
        has_link = _URL.search(text) is not None
        if has_link and _INVITE.search(text):
            return "advert"
        if not has_link and len(text.split()) < self.advert_min_words:
            return ""  # short lines come back by chance ("LUL", "gg"); not a timer
        key = (login.casefold(), normalise(text))
        last = self._posted.pop(key, None)
        self._posted[key] = self._lines
        if len(self._posted) > self._posted_max:
            self._posted.popitem(last=False)
        # Sooner than that it is a duplicate (its own rule, which may be off), not a timer.
        lookback = self._recent.maxlen or 0
        return "repeat" if last is not None and self._lines - last > lookback else ""

    def _seen(self, key: str) -> bool:
        if not key:
            return False
        if self._recent_counts[key]:
            return True
        if len(self._recent) == self._recent.maxlen:
            old = self._recent[0]
            self._recent_counts[old] -= 1
            if not self._recent_counts[old]:
                del self._recent_counts[old]
        self._recent.append(key)
        self._recent_counts[key] += 1
        return False


def _alternation(patterns: Iterable[str], what: str) -> re.Pattern[str] | None:
    """The patterns as one case-blind regex (one scan of a line instead of one per pattern)."""
    listed = list(patterns)
    for pattern in listed:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad {what} pattern {pattern!r}: {exc}") from None
    if not listed:
        return None
    return re.compile("|".join(f"(?:{p})" for p in listed), re.IGNORECASE | re.MULTILINE)


@dataclass(slots=True)
class _Held:
    message: ChatMessage
    removed: bool = False


class ModerationBuffer:
    """Holds lines until no later moderation can target them; deleted and banned lines go.

    A line is released once a later event is `hold_s` newer than it, or when more than
    `max_lines` wait (memory stays bounded on any log). With `enabled` false nothing waits.
    """

    def __init__(self, *, hold_s: float, max_lines: int, enabled: bool = True) -> None:
        self.hold_s = hold_s
        self.max_lines = max_lines
        self.enabled = enabled
        self.removed = 0
        self.detail: Counter[str] = Counter()
        self._held: deque[_Held] = deque()
        self._by_id: dict[str, _Held] = {}

    def add(self, message: ChatMessage) -> Iterator[ChatMessage]:
        """Hold one line; yields the lines that are now safe, oldest first."""
        if not self.enabled:
            yield message
            return
        held = _Held(message)
        self._held.append(held)
        if message.id:
            self._by_id[message.id] = held
        yield from self._release(message.ts)

    def moderate(self, event: Moderation) -> Iterator[ChatMessage]:
        """Apply one moderation event to the held lines; yields the lines now safe."""
        if self.enabled:
            if event.kind == "delete":
                self._delete(event)
            elif event.kind in ("timeout", "ban") and event.target_login:
                login = event.target_login.casefold()
                for held in self._held:
                    if not held.removed and held.message.login.casefold() == login:
                        self._remove(held, event.kind)
        yield from self._release(event.ts)

    def flush(self) -> Iterator[ChatMessage]:
        """Every line still held (the log ended)."""
        while self._held:
            yield from self._pop()

    def _delete(self, event: Moderation) -> None:
        target = self._by_id.get(event.target_message_id or "")
        if target is None and event.text:  # no ids in this log: match sender and text
            login = (event.target_login or "").casefold()
            target = next(
                (
                    h
                    for h in reversed(self._held)
                    if h.message.text == event.text
                    and (not login or h.message.login.casefold() == login)
                ),
                None,
            )
        if target is not None and not target.removed:
            self._remove(target, "delete")

    def _remove(self, held: _Held, kind: str) -> None:
        held.removed = True
        self.removed += 1
        self.detail[f"moderated.{kind}"] += 1

    def _release(self, now: float) -> Iterator[ChatMessage]:
        while self._held and (
            len(self._held) > self.max_lines or self._held[0].message.ts < now - self.hold_s
        ):
            yield from self._pop()

    def _pop(self) -> Iterator[ChatMessage]:
        held = self._held.popleft()
        if held.message.id and self._by_id.get(held.message.id) is held:
            del self._by_id[held.message.id]
        if not held.removed:
            yield held.message
