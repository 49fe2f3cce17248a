"""The last gate before anything is said: small named rules, then Twitch-sized messages.

A rule is a function `(text, hits) -> (text, GuardVerdict)`. Rules run in order; the first
"blocked" verdict ends the check. A rule that needs the recalled journal hits (the privacy rule)
takes them from the same call, so it slots into the list like any other.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from cohost.core.events import GuardVerdict, Hit
from cohost.core.options import GuardSettings
from cohost.text.sentences import chunk_for_chat

Rule = Callable[[str, Sequence[Hit]], tuple[str, GuardVerdict]]

TWITCH_MAX_LENGTH = 500  # Twitch refuses longer chat messages

_ZWJ = "\u200d"
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})  # control, format (zero-width, bidi), surrogate
# Letters that render as nothing; used to post blank-looking or look-alike messages.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u00ad")
_EMOJI_BEFORE_JOINER = frozenset({"So", "Sk", "Mn"})  # emoji, skin tone, variation selector

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
# What may sit before a command character and still leave it "first" to a chat bot.
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad\u180e")
_LEADING = re.compile(r"^[\s\"'“”‘’«»„`*_~\u200b-\u200f\u2060\ufeff\u00ad\u180e]*")
QUOTES_AND_SPACE = " \t\r\n\"'“”‘’«»„`*_~"


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardResult:
    """What may be said: the text, the chat messages to post, and what the guard did."""

    text: str  # "" when blocked
    messages: list[str]
    verdicts: list[GuardVerdict]
    blocked: bool


def _pass(rule: str) -> GuardVerdict:
    return GuardVerdict(rule=rule, action="pass")


def _emoji_joiner(text: str, i: int) -> bool:
    before = text[i - 1] if i > 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    return (
        bool(before and after)
        and unicodedata.category(before) in _EMOJI_BEFORE_JOINER
        and unicodedata.category(after) == "So"
    )


def _clusters(text: str) -> Iterator[str]:
    """The text as characters each with the combining marks that follow it."""
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.category(text[j]) in _MARKS:
            j += 1
        yield text[i:j]
        i = j


def _unstacked(text: str) -> tuple[str, int]:
    """The text with zalgo stacks taken down, and how many marks went.

    A Latin or Cyrillic letter under `_ZALGO_MARKS` combining marks or more (a Greek one under
    one more: polytonic Greek writes three, as in ᾄ) keeps none of them: such towers are
    drawn over whatever is above and below the caption on stream. Fewer marks spell (ñ, ặ)
    and stay, and so do other scripts' marks. Only the letters taken down change: the rest
    of the text keeps its exact code points.
    """
    out: list[str] = []
    dropped = 0
    for cluster in _clusters(text):
        decomposed = unicodedata.normalize("NFD", cluster)
        base, marks = decomposed[0], len(decomposed) - 1
        needed = _ZALGO_MARKS + 1 if "\u0370" <= base <= "\u03ff" else _ZALGO_MARKS
        if len(cluster) > 1 and marks >= needed and ord(base) < _ALPHABETIC_END:
            out.append(base)
            dropped += marks
        else:
            out.append(cluster)
    return ("".join(out), dropped) if dropped else (text, 0)


def clean_characters(text: str, hits: Sequence[Hit] = ()) -> tuple[str, GuardVerdict]:
    """Remove control, zero-width, bidi and invisible characters and zalgo stacks; collapse
    whitespace."""
    text, stacked = _unstacked(text)
    kept: list[str] = []
    removed = 0
    for i, char in enumerate(text):
        if char.isspace():
            kept.append(" ")
        elif char in _INVISIBLE or (
            unicodedata.category(char) in _REMOVED_CATEGORIES
            and not (char == _ZWJ and _emoji_joiner(text, i))
        ):
            removed += 1
        else:
            kept.append(char)
    cleaned = " ".join("".join(kept).split())
    if cleaned == text.strip() and not stacked:
        return cleaned, _pass("characters")
    found = [f"{removed} control or invisible characters"] if removed else []
    found += [f"{stacked} stacked marks"] if stacked else []
    detail = f"removed {' and '.join(found)}" if found else ""
    return cleaned, GuardVerdict(
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
    return strip_template_tokens(clean_characters(text)[0])[0]


def strip_command_prefix(text: str) -> str:
    """The text without leading `!`, `/` or `.`, even behind spaces, quotes or zero-width marks."""
    while True:
        lead = _LEADING.match(text)
        end = lead.end() if lead else 0
        rest = text[end:]
        if not rest or rest[0] not in _COMMAND_CHARS:
            return text.strip()
        visible = "".join(c for c in text[:end] if c not in _ZERO_WIDTH)
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


# Letters drawn alike in Latin, Cyrillic and Greek. A word that mixes scripts is a spoof: it is
# read in the script most of its letters are in ("ѕlur" with a Cyrillic s reads "slur", "cука"
# with a Latin c reads "сука"). A word in one script made wholly of look-alikes is read in the
# script of the text around it: in an English reply "неск" is "heck" dressed in Cyrillic, while
# in a Russian one "но" stays a word, not a spoof of "ho"; alone, a word stays as it is.
# Applied after casefolding, so each maps small letters (capitals fold to them).
_CYRILLIC_LATIN = dict(zip("авекмнорстухіјѕԁԛԝӏ", "abekmhopctyxijsdqwl", strict=True))
_GREEK_LATIN = dict(zip("αβεζηικμνορτυχ", "abezhikmvoptux", strict=True))
_TO_LATIN = str.maketrans({**_CYRILLIC_LATIN, **_GREEK_LATIN})
# Every look-alike read as the Latin letter it looks like, whatever the text around it: for
# comparing two texts folded alike (the privacy rule), not for reading one.
LOOKALIKES_TO_LATIN = _TO_LATIN
# "Fancy text" small capitals, which NFKD leaves alone, read as the letters they style.
SMALL_CAPITALS = str.maketrans(
    dict(zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘꞯʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnopqrstuvwyz", strict=True))
)
_TO_CYRILLIC = str.maketrans(
    {latin: cyr for cyr, latin in _CYRILLIC_LATIN.items() if cyr in "авекмнорстухіѕ"}
)
_TO_GREEK = str.maketrans(
    {latin: greek for greek, latin in _GREEK_LATIN.items() if greek in "αβεικνορτυχ"}
)
_WORD = re.compile(r"\w+")
_MARKS = frozenset({"Mn", "Me"})
_ZALGO_MARKS = 3  # a letter under this many marks is spam, not spelling (Vietnamese uses 2)
_ALPHABETIC_END = 0x0530  # Latin, Greek, Cyrillic: scripts whose marks are only decoration


def _fold_marks(decomposed: str) -> str:
    """Keep accents that belong to a letter; drop zalgo stacks and marks that compose nothing.

    A Latin, Greek or Cyrillic letter under `_ZALGO_MARKS` marks or more loses them all; under
    fewer, it keeps those that compose with it (ñ, ü, ặ, й stay themselves, so "año" never
    reads as "ano") and loses the rest (overlays, enclosing marks, joiners). Other scripts
    keep every mark: there they spell. A single accent on a letter therefore still hides a
    blocklisted word from the fold ("slür"); telling that from a real word needs the language,
    so the streamer chooses (`GuardSettings.blocklist_accents`: "fold" drops every accent).
    """
    out: list[str] = []
    for cluster in _clusters(decomposed):
        base, marks = cluster[0], cluster[1:]
        if not marks or ord(base) >= _ALPHABETIC_END:
            out.append(cluster)
        elif len(marks) < _ZALGO_MARKS:
            composed = unicodedata.normalize("NFC", cluster)
            out.append("".join(c for c in composed if unicodedata.category(c) not in _MARKS))
        else:
            out.append(base)
    return "".join(out)


_LOOKALIKE = (
    frozenset(_CYRILLIC_LATIN)
    | frozenset(_GREEK_LATIN)
    | frozenset(_CYRILLIC_LATIN.values())
    | frozenset(_GREEK_LATIN.values())
)


def _script(char: str) -> str:
    if "a" <= char <= "z":
        return "latin"
    if "\u0400" <= char <= "\u04ff":
        return "cyrillic"
    if "\u0370" <= char <= "\u03ff":
        return "greek"
    return ""


_SCRIPTS = ("latin", "cyrillic", "greek")
_TABLES = {"latin": _TO_LATIN, "cyrillic": _TO_CYRILLIC, "greek": _TO_GREEK}


def _letters(text: str) -> Counter[str]:
    """How many letters of each of the three scripts the text has."""
    return Counter(script for char in text if (script := _script(char)))


def _unspoof(match: re.Match[str], around: Counter[str] | None) -> str:
    """A word that spoofs another script, read in the script it poses as.

    A word mixing scripts is read in the script its telling letters belong to: those with no
    look-alike elsewhere (л, r, λ), so "cлoвo" is Cyrillic however many Latin letters stand in
    it; without any, the script with the most letters wins, Latin on a tie. A word in one
    script made wholly of look-alikes is read in the script most letters of the rest of the
    text (`around`, this word included) are in, when that is another one; without `around`,
    it stays as it is.
    """
    word = match.group()
    telling = dict.fromkeys(_SCRIPTS, 0)
    letters = dict(telling)
    for char in word:
        if script := _script(char):
            letters[script] += 1
            if char not in _LOOKALIKE:
                telling[script] += 1
    scripts = [name for name in _SCRIPTS if letters[name]]
    if len(scripts) == 1:
        own = scripts[0]
        if telling[own] or around is None:
            return word  # a letter only its own script has: a word, not a spoof
        rest = {name: around[name] - letters[name] for name in _SCRIPTS}
        main = max(_SCRIPTS, key=lambda name: rest[name])
        if main == own or sorted(rest.values())[-2] == rest[main]:
            return word  # the text around is in its script, or in none clearly
        table = _TABLES[main]
        if not all(ord(char) in table for char in word if _script(char)):
            return word  # a letter with no look-alike in that script
        return word.translate(table)
    if not scripts:
        return word  # none of these scripts
    script = max(_SCRIPTS, key=lambda name: (telling[name], letters[name]))
    return word.translate(_TABLES[script])


def skeleton(text: str, *, by_context: bool = True) -> str:
    """Text as a blocklist sees it: styled letters, zalgo and look-alike spoofs folded.

    Case folds first (so "İ" brings no stray mark), fullwidth and styled letters become plain
    (NFKD, and small capitals), marks are folded (`_fold_marks`), and a word mixing Latin,
    Cyrillic and Greek look-alikes is read in its main script (`_unspoof`); with `by_context`,
    a word made wholly of look-alikes is read in the script of the text around it. For matching
    only: what is said keeps its own letters.
    """
    return _read_spoofs(_folded(text), by_context=by_context)


def _folded(text: str) -> str:
    """The first half of `skeleton`: case, styled letters and marks folded."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    decomposed = decomposed.translate(SMALL_CAPITALS)
    return unicodedata.normalize("NFC", _fold_marks(decomposed))


def _read_spoofs(folded: str, *, by_context: bool) -> str:
    """The second half of `skeleton`: every word read in the script it poses as."""
    around = _letters(folded) if by_context else None
    return _WORD.sub(lambda match: _unspoof(match, around), folded)


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    parts = phrase.split()
    body = r"\s+".join(re.escape(part) for part in parts)
    # Word boundaries only where the phrase has a word character: ":(" matches in "sad:(".
    before = r"(?<!\w)" if re.match(r"\w", parts[0]) else ""
    after = r"(?!\w)" if re.search(r"\w$", parts[-1]) else ""
    return re.compile(before + body + after)  # both sides casefolded: "ı" is not "i"


def _without_accents(folded: str) -> str:
    """A skeleton without the marks on Latin, Greek and Cyrillic letters ("slür": "slur").

    Other scripts keep theirs: there they spell (Japanese dakuten, Devanagari vowel signs).
    """
    out = [
        cluster[0] if ord(cluster[0]) < _ALPHABETIC_END else cluster
        for cluster in _clusters(unicodedata.normalize("NFD", folded))
    ]
    return unicodedata.normalize("NFC", "".join(out))


# An overlay mark (strike-through, slash) or two or more marks stacked on one letter.
_MARK_BREAK = re.compile(r"[\u0334-\u0338\u20d2-\u20d6]+|[\u0300-\u036f]{2,}")


def blocklist_rule(phrases: Sequence[str], *, fold_accents: bool = False) -> Rule:
    """A rule that blocks the whole reply when it says a listed word or phrase.

    Masking one word would leave a sentence built around it, still saying what the streamer
    does not want said; a skipped reply costs nothing, and the trace tells them why. With
    `fold_accents`, an accent on a letter no longer keeps a listed word from matching.
    """

    def readings(text: str) -> tuple[str, ...]:
        # Both readings of a one-script word of look-alikes: as its own script (a listed
        # Russian word in an English reply) and as the text around it (a Cyrillic "неск"
        # posing as "heck"); the text is folded once for both.
        folded = _folded(text)
        read: tuple[str, ...] = (
            _read_spoofs(folded, by_context=True),
            _read_spoofs(folded, by_context=False),
        )
        # a strike-through or a stack of marks between two words shows a break to the eye
        # ("systeḿ̶zorbleflux"), though folding the marks away joins the words
        broken = _MARK_BREAK.sub(" ", unicodedata.normalize("NFD", text))
        if broken != unicodedata.normalize("NFD", text):
            read = (*read, _read_spoofs(_folded(broken), by_context=True))
        return tuple(map(_without_accents, read)) if fold_accents else read

    # an entry that folds to nothing (only marks) cannot be matched: left out, not a crash
    entries = [(p, readings(p)[0]) for p in phrases]
    patterns = [(p, _phrase_pattern(folded)) for p, folded in entries if folded.split()]

    def blocklist(text: str, hits: Sequence[Hit] = ()) -> tuple[str, GuardVerdict]:
        texts = readings(text)
        for phrase, pattern in patterns:
            if any(pattern.search(folded) for folded in texts):
                return text, GuardVerdict(
                    rule="blocklist", action="blocked", detail=f"says blocklisted {phrase!r}"
                )
        return text, _pass("blocklist")

    return blocklist


def default_rules(settings: GuardSettings) -> list[Rule]:
    """The content rules in order; characters go first, so nothing hides from the rest."""
    return [
        clean_characters,
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
        return GuardResult(text=text, messages=messages, verdicts=verdicts, blocked=False)

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
