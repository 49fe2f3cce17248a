"""The last gate before anything is said: small named rules, then Twitch-sized messages.

A rule is a function `(text, hits) -> (text, GuardVerdict)`. Rules run in order; the first
"blocked" verdict ends the check. A rule that needs the recalled journal hits (the privacy rule)
takes them from the same call, so it slots into the list like any other.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cohost.core.events import GuardVerdict, Hit
from cohost.core.options import GuardSettings
from cohost.text.fold import (
    BLANK_LETTERS,
    LEADING_INVISIBLE_CATEGORIES,
    ZERO_WIDTH,
    clean_characters,
    skeletons,
)
from cohost.text.sentences import chunk_for_chat

Rule = Callable[[str, Sequence[Hit]], tuple[str, GuardVerdict]]

TWITCH_MAX_LENGTH = 500  # Twitch refuses longer chat messages

_TEMPLATE = re.compile(
    r"<\|\s*im_start\s*\|>\s*(?:system|user|assistant)?"  # ChatML, with the role it opens
    r"|<\|[^|<>\n]{0,40}\|>"  # <|system|>, <|user|>, <|im_end|>, <|endoftext|>, <|eot_id|> ...
    r"|</?s>"  # Zephyr and Llama sequence marks
    r"|\[/?INST\]"
    r"|<</?SYS>>"
    r"|<(?:start|end)_of_turn>"  # Gemma
    r"|</?(?:bos|eos|pad|unk)>",
    re.IGNORECASE,
)

_COMMAND_CHARS = "!/."
_QUOTES = "\"'“”‘’«»„`*_~"
QUOTES_AND_SPACE = " \t\r\n" + _QUOTES


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardResult:
    """What may be said: the text, the chat messages to post, and what the guard did."""

    text: str  # "" when blocked
    messages: list[str]
    verdicts: list[GuardVerdict]
    blocked: bool
    # what delivery calls with each text it posted or spoke (`Guard.said`)
    said: Callable[[str], None] = field(default=lambda text: None, repr=False, compare=False)


@runtime_checkable
class Remembers(Protocol):
    """A rule that reads a text with what was said just before it (a leak cut in two)."""

    def said(self, text: str) -> None:
        """This text went out (posted or spoken): remember it."""
        ...


def _pass(rule: str) -> GuardVerdict:
    return GuardVerdict(rule=rule, action="pass")


def characters_rule(text: str, hits: Sequence[Hit] = ()) -> tuple[str, GuardVerdict]:
    """Remove control, zero-width, bidi and invisible characters and zalgo stacks; collapse
    whitespace."""
    cleaned = clean_characters(text)
    if cleaned.text == text.strip() and not cleaned.stacked:
        return cleaned.text, _pass("characters")
    found = [f"{cleaned.removed} control or invisible characters"] if cleaned.removed else []
    found += [f"{cleaned.stacked} stacked marks"] if cleaned.stacked else []
    detail = f"removed {' and '.join(found)}" if found else ""
    return cleaned.text, GuardVerdict(
        rule="characters", action="changed", detail=detail or "collapsed whitespace"
    )


def strip_template_tokens(text: str, hits: Sequence[Hit] = ()) -> tuple[str, GuardVerdict]:
    """Remove chat-template tokens (Zephyr, ChatML, Llama) that a model or a viewer slipped in."""
    found = _TEMPLATE.findall(text)
    if not found:
        return text, _pass("template_tokens")
    cleaned = " ".join(_TEMPLATE.sub(" ", text).split())
    shown = ", ".join(dict.fromkeys(" ".join(token.split()) for token in found))
    return cleaned, GuardVerdict(
        rule="template_tokens", action="changed", detail=f"removed {shown}"
    )


def cleaned(text: str) -> str:
    """Text after the character and template-token rules, as the rules after them see it."""
    return strip_template_tokens(clean_characters(text).text)[0]


def _invisible(char: str) -> bool:
    """Draws nothing at the start of a text: zero-width, blank letters, marks, selectors."""
    return (
        char in ZERO_WIDTH
        or char in BLANK_LETTERS
        or unicodedata.category(char) in LEADING_INVISIBLE_CATEGORIES
    )


def strip_command_prefix(text: str) -> str:
    """The text without leading `!`, `/` or `.`, even behind spaces, quotes or invisible marks
    (zero-width characters, combining marks, variation selectors), which go with it."""
    while True:
        # What may sit before a command character and still leave it "first" to a chat bot.
        end = 0
        while end < len(text) and (
            text[end].isspace() or text[end] in _QUOTES or _invisible(text[end])
        ):
            end += 1
        rest = text[end:]
        if not rest or rest[0] not in _COMMAND_CHARS:
            return text.strip()
        visible = "".join(c for c in text[:end] if not _invisible(c))
        text = visible + rest.lstrip(_COMMAND_CHARS).lstrip()


def no_command_prefix(text: str, hits: Sequence[Hit] = ()) -> tuple[str, GuardVerdict]:
    """No leading `!`, `/` or `.` (even behind spaces, quotes or zero-width characters)."""
    cleaned = strip_command_prefix(text)
    if cleaned == text.strip():
        return cleaned, _pass("command_prefix")
    if not cleaned.strip(QUOTES_AND_SPACE):
        return "", GuardVerdict(
            rule="command_prefix", action="blocked", detail="nothing left but a command prefix"
        )
    return cleaned, GuardVerdict(
        rule="command_prefix", action="changed", detail="removed a leading command character"
    )


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    parts = phrase.split()
    body = r"\s+".join(re.escape(part) for part in parts)
    # Word boundaries only where the phrase has a word character: ":(" matches in "sad:(".
    before = r"(?<!\w)" if re.match(r"\w", parts[0]) else ""
    after = r"(?!\w)" if re.search(r"\w$", parts[-1]) else ""
    return re.compile(before + body + after)  # both sides casefolded: "ı" is not "i"


JOINED_WORD = 6  # a listed word this long is looked for split across two or three words too
MEMORY = 120  # characters of what passed before that a listed word may start in
SPELLED_OUT = 3  # single letters in a row that are a word spelled out ("z o r b")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"})


def _spelled(skeleton: str) -> list[str]:
    """A skeleton's words as read: digits inside a word of letters as the letters they stand
    for ("z0rbl3flux"), and letters spaced, dotted or dashed out joined ("z.o.r.b")."""
    out: list[str] = []
    run: list[str] = []
    for word in [*re.findall(r"\w+", skeleton), ""]:
        if len(word) == 1:
            run.append(word)
            continue
        out += ["".join(run)] if len(run) >= SPELLED_OUT else run
        run = []
        if word:
            out.append(word if word.isdigit() or word.isalpha() else word.translate(_LEET))
    return out


def blocklist_rule(phrases: Sequence[str], *, fold_accents: bool = False) -> Blocklist:
    """A rule that blocks the whole reply when it says a listed word or phrase.

    Masking one word would leave a sentence built around it, still saying what the streamer
    does not want said; a skipped reply costs nothing, and the trace tells them why. With
    `fold_accents`, an accent on a letter no longer keeps a listed word from matching.
    """

    # an entry that folds to nothing (only marks) cannot be matched: left out, not a crash
    entries = [(p, skeletons(p, fold_accents=fold_accents)[0]) for p in phrases]
    patterns = [(p, _phrase_pattern(folded)) for p, folded in entries if folded.split()]

    # a long single word is also looked for split in two or three ("zorbl eflux")
    joinable = {
        folded: phrase
        for phrase, folded in entries
        if len(folded.split()) == 1 and len(folded) >= JOINED_WORD
    }

    def said(text: str) -> str | None:
        """The listed phrase the text says, if any."""
        texts = skeletons(text, fold_accents=fold_accents)
        read = _spelled(texts[0])  # leetspeak, letters spelled out
        texts = (*texts, " ".join(read))
        split = next(
            (
                joinable[joined]
                for size in (2, 3)
                for i in range(len(read) - size + 1)
                if (joined := "".join(read[i : i + size])) in joinable
            ),
            None,
        )
        if split is not None:
            return split
        for phrase, pattern in patterns:
            if any(pattern.search(folded) for folded in texts):
                return phrase
        return None

    return Blocklist(said)


class Blocklist:
    """The blocklist rule (see `blocklist_rule`), reading each text with what was said just
    before it: a word spelled out a spoken sentence a letter ("z ." "o ." ...), or split across
    two messages, is found in the text that completes it."""

    def __init__(self, says: Callable[[str], str | None]) -> None:
        self._says = says
        self._said = ""  # the last MEMORY characters that went out

    def __call__(self, text: str, hits: Sequence[Hit] = ()) -> tuple[str, GuardVerdict]:
        phrase = self._says(text)
        if phrase is None and self._said and self._says(self._said) is None:
            phrase = self._says(f"{self._said} {text}")
        if phrase is not None:
            return text, GuardVerdict(
                rule="blocklist", action="blocked", detail=f"says blocklisted {phrase!r}"
            )
        return text, _pass("blocklist")

    def said(self, text: str) -> None:
        self._said = f"{self._said} {text}"[-MEMORY:]


def default_rules(settings: GuardSettings) -> list[Rule]:
    """The content rules in order; characters go first, so nothing hides from the rest."""
    return [
        characters_rule,
        strip_template_tokens,
        no_command_prefix,
        blocklist_rule(settings.blocklist, fold_accents=settings.blocklist_accents == "fold"),
    ]


class Guard:
    """Checks a reply with every rule and cuts it into chat messages."""

    def __init__(self, settings: GuardSettings, *, rules: Sequence[Rule] | None = None) -> None:
        """rules: the content rules in order; default_rules(settings) when not given."""
        self.settings = settings
        self.rules = list(default_rules(settings) if rules is None else rules)

    def said(self, text: str) -> None:
        """A text went out: the rules that read what came before it remember it. Checking is
        pure; only what delivery posted or spoke counts as said."""
        for rule in self.rules:
            if isinstance(rule, Remembers):
                rule.said(text)

    def check(self, text: str, hits: Sequence[Hit] = ()) -> GuardResult:
        """The reply as it may be said, or blocked; every rule's verdict in order."""
        verdicts: list[GuardVerdict] = []
        for rule in self.rules:
            text, verdict = rule(text, hits)
            verdicts.append(verdict)
            if verdict.action == "blocked":
                return GuardResult(text="", messages=[], verdicts=verdicts, blocked=True)
            if not text.strip():
                verdicts.append(
                    GuardVerdict(
                        rule="empty", action="blocked", detail=f"nothing left after {verdict.rule}"
                    )
                )
                return GuardResult(text="", messages=[], verdicts=verdicts, blocked=True)
        messages, length_verdicts = self._messages(text)
        verdicts.extend(length_verdicts)
        if len(messages) > 1 or (messages and messages[0] != text):
            # A cut inside a long word can leave a listed word standing alone at the cut
            # ("zorblefluxzorbleflux" in tens): what chat gets is checked again, as sent.
            for number, message in enumerate(messages, 1):
                for rule in self.rules:
                    _, verdict = rule(message, hits)
                    if verdict.action == "blocked":
                        detail = f"message {number} after the split: {verdict.detail}"
                        verdicts.append(dataclasses.replace(verdict, detail=detail))
                        return GuardResult(text="", messages=[], verdicts=verdicts, blocked=True)
        if not messages:
            if not any(v.action == "blocked" for v in verdicts):
                verdicts.append(
                    GuardVerdict(rule="empty", action="blocked", detail="nothing left to post")
                )
            return GuardResult(text="", messages=[], verdicts=verdicts, blocked=True)
        if any(v.action == "changed" for v in length_verdicts):
            text = " ".join(messages)  # say out loud exactly what chat gets
        return GuardResult(
            text=text, messages=messages, verdicts=verdicts, blocked=False, said=self.said
        )

    def _messages(self, text: str) -> tuple[list[str], list[GuardVerdict]]:
        limit = max(1, min(self.settings.max_length, TWITCH_MAX_LENGTH))
        chunks = chunk_for_chat(text, limit)
        verdicts: list[GuardVerdict] = []
        # Every message after a split starts fresh: a sentence there must not run a command.
        messages: list[str] = []
        for number, chunk in enumerate(chunks, 1):
            cleaned = strip_command_prefix(chunk)
            if cleaned != chunk:
                verdicts.append(
                    GuardVerdict(
                        rule="command_prefix",
                        action="changed",
                        detail=f"removed a command character at the start of message {number}",
                    )
                )
            if cleaned.strip(QUOTES_AND_SPACE):
                messages.append(cleaned)
        kept = messages[: max(0, self.settings.max_messages)]
        dropped = len(messages) - len(kept)
        if not dropped:
            split = f"split into {len(kept)} messages"
            verdicts.append(
                GuardVerdict(rule="length", action="changed", detail=split)
                if len(kept) > 1
                else _pass("length")
            )
        else:
            verdicts.append(
                GuardVerdict(
                    rule="length",
                    action="changed" if kept else "blocked",
                    detail=(
                        f"split into {len(messages)} messages; dropped {dropped}"
                        f" beyond max_messages={self.settings.max_messages}"
                    ),
                )
            )
        return kept, verdicts
