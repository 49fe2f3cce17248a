"""What real rewriter models leak into a reply, found and, where safe, repaired (pure).

A small instruction model asked for the twin's next chat line writes back pieces of the prompt
it was given (code fences, `## Recent chat`, "Write twin's message now"), speaker labels
(`ana: lol`), the same words over and over, or a paragraph where the twin says a line. Each
check below is a function `(text, ...) -> Finding`: the flaw it found, if any, and the text as
repaired, or "" when nothing safe is left. `QualityCheck.review` runs them in order on a whole
reply; `SpeechGate` asks the same of each streamed chunk before it is spoken.

Repairs only take away: lines and sentences that are the prompt's or another speaker's, the
twin's own label, repeats after their first occurrence, sentences past the length cap. What is
left is the model's own words, never a rewrite of them.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cohost.core.events import Flaw, SimLine
from cohost.text.fold import words
from cohost.text.render import (
    FALLBACK_NAME,
    FUSION_FILE,
    PROMPTS_DIR,
    FusionTemplate,
    clean_name,
    load_fusion_template,
)
from cohost.text.sentences import sentence_spans

# The length cap: a reply may be REPLY_CAP_FACTOR times the twin's longest simulated line, and
# never less than REPLY_CAP_MIN characters. The twin's own lines say how long it talks; the
# factor leaves room for a fact from the journal, and the floor for a twin of one-word lines.
REPLY_CAP_FACTOR = 2.5
REPLY_CAP_MIN = 150
# A sentence of the prompt's instructions is known by its first ECHO_WORDS words: enough that
# no chat line says them by chance ("let them decide what is" ...), few enough to catch a
# paraphrase that starts alike. A reply's sentence that is only the first ECHO_OPENING words
# or more of one is known too ("Write ana's message now."): cut short, it is still an echo.
# Shorter sentences ("Your material:") are never looked for.
ECHO_WORDS = 5
ECHO_OPENING = 4
LABEL_WORDS = 2  # a template's label of this many words or more ("Do not repeat:") is its own
# Runaway repetition: the same word said this many times in a row (an emote wall of four is
# still chat style), a phrase of two words or more three times in a row, a phrase of
# SCATTERED_WORDS words three times anywhere (each within a sentence), or a sentence of three
# words or more twice.
RUN_ONE_WORD = 5
RUN_PHRASE = 3
SCATTERED_WORDS = 3
LONGEST_PHRASE = 12

_FENCE = re.compile(r"(?:`{3,}|~{3,})[\w+-]*")
_HEADING = re.compile(r"^[ \t]*#{1,6}(?:[ \t]|$)")
# "**Summary:**" or "__Answer__:" before a line's words: Markdown's structure, never chat's
_BOLD_HEADING = re.compile(r"^[ \t]*(?:\*\*|__)[^*_\n:]{1,30}(?::(?:\*\*|__)|(?:\*\*|__):)[ \t]*")
# How render_fusion marks a note, and writes an empty block: the prompt's, never the twin's.
_NOTE_MARK = re.compile(r"\[(?:public|private)(?:,[^\]\n]{0,30})?\]", re.IGNORECASE)
_EMPTY_BLOCKS = frozenset(
    {
        "(no notes)",
        "(nothing before it)",
        "(nothing yet)",
        "(no simulation)",
        "(no line)",
        "(nothing noted about this)",
    }
)
_TEMPLATE_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+(?P<name>\S.*?)[ \t]*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Where a template's instruction sentences start: a blank line, a list item or a heading.
_BLOCKS = re.compile(r"\n[ \t]*\n|\n(?=[ \t]*(?:[-*][ \t]|#))")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_EDGE_PUNCTUATION = "\"'“”‘’«»,.;:!?()"
_TRAILING = " \t\n,;:-–—"
_MARKUP = r"(?:\*{1,2}|_{1,2})?"  # bold or italics, as models write a label
# A sentence about the reply's form is the prompt's, however it is worded: "No more than 3
# sentences.", "(about 40 characters, 8 words)", "like ana's own simulated line". The length is
# filled in per turn, so no template sentence holds it; a count needs a bound before it, and
# the sentence must be short, so that "I said it in about 5 words, chat" stays.
_COUNT = r"(?:\d+|one|two|three|four|five|six|a few|a couple of)"
_FORM_TALK = re.compile(
    r"(?i)(?:\b(?:no more than|not more than|under|about|at most|up to|max(?:imum)?|less than"
    rf"|fewer than|within|around|exactly)\s+{_COUNT}\s+(?:short\s+)?"
    r"(?:characters?|chars|words?|sentences?|lines?)\b"
    r"|\bsimulated\s+(?:twin\s+)?lines?\b|\bno\s+(?:markdown|hashtags|name in front)\b)"
)
# "(about 40 characters, 8 words)": the aside alone goes, the words around it are the reply
_FORM_ASIDE = re.compile(r"(?i)[ \t]*\(\s*(?:about\s+)?\d+\s+(?:characters?|words?)\b[^)\n]*\)")
# A template line that labels a slot: "Do not repeat: {said}", "Something {twin} might say: {style}"
_TEMPLATE_LABEL = re.compile(
    r"(?m)^[ \t]*(?P<label>(?:[^{}\n:]|\{twin\})+):[ \t]*\{(?!twin\})\w+\}"
)
# An aside about the reply's own line ("(no mention of twin's line)", "(no reply)")
_LINE_ASIDE = re.compile(
    r"(?im)(?:^[ \t]*[-*])?[ \t]*"
    r"\(\s*(?:no|without)\b[^()\n]{0,40}?\b(?:line|reply|message|mention)s?\b[^()\n]*\)"
)
FORM_TALK_WORDS = 12  # a longer sentence that mentions a count is the twin's own
# Where a sentence is finished: its last mark, or a closing one after it, or an emoji
_FINISHED = re.compile(r"(?:[.!?…]+[\"'”’)\]]*|[\U0001F000-\U0001FAFF\u2600-\u27BF])\s*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One check's verdict: the flaw it found (None: none) and the text as repaired."""

    flaw: Flaw | None
    text: str  # as given when nothing was found; "" when nothing usable is left
    detail: str = ""  # for people: what was found and what was done

    @property
    def usable(self) -> bool:
        return bool(self.text.strip())


def _clean(text: str) -> Finding:
    return Finding(flaw=None, text=text)


def _tidy(text: str) -> str:
    """A repaired text: no blank lines, no spaces at the ends of lines."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


# ---- the prompt's own structure -------------------------------------------------------------


def _word_pattern(word: str) -> str:
    core = re.escape(word.strip(_EDGE_PUNCTUATION)).replace(re.escape("{twin}"), r"@?[\w.-]+")
    edge = f"[{re.escape(_EDGE_PUNCTUATION)}]*"
    return f"{edge}{core}{edge}"


def _echo_patterns(words_: Sequence[str]) -> list[str]:
    """A sentence that holds the first ECHO_WORDS words, or is only its first ECHO_OPENING."""
    parts = [_word_pattern(word) for word in words_]
    found: list[str] = []
    if len(parts) >= ECHO_WORDS:
        found.append(r"(?<!\w)" + r"\s+".join(parts[:ECHO_WORDS]))
    if len(parts) >= ECHO_OPENING:
        optional = ""
        for part in reversed(parts[ECHO_OPENING:ECHO_WORDS]):
            optional = rf"(?:\s+{part}{optional})?"
        found.append(r"^\W*" + r"\s+".join(parts[:ECHO_OPENING]) + optional + r"\W*$")
    return found


def _instruction_patterns(text: str) -> list[str]:
    """How each instruction sentence of a template shows when a reply repeats it."""
    patterns: list[str] = []
    for block in _BLOCKS.split(_TEMPLATE_HEADING.sub("", text)):  # a heading is no sentence
        flat = " ".join(block.split())
        if not flat:
            continue
        flat = re.sub(r"^[-*]\s+", "", flat)
        for sentence in _SENTENCE_END.split(flat):
            kept: list[str] = []
            for word in sentence.split():
                if any(name != "twin" for name in _PLACEHOLDER.findall(word)):
                    # the rest is filled in per turn: data, not the template's words
                    break
                if word.strip(_EDGE_PUNCTUATION):
                    kept.append(word)
            patterns += _echo_patterns(kept)
    # A few words and a colon before a slot are a label ("Do not repeat: {said}"), which a
    # reply has no business opening a sentence with, however short.
    for match in _TEMPLATE_LABEL.finditer(text):
        label = match["label"].split()
        if len(label) >= LABEL_WORDS:
            parts = [_word_pattern(word) for word in label]
            patterns.append(r"(?:^|(?<=[\s*-]))" + r"\s+".join(parts) + r"\s*:")
    return patterns


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptMarkers:
    """What of a fusion template a reply must never repeat: its section names, its sentences."""

    sections: tuple[str, ...]  # "Notes", "Recent chat", ... as the template's headings say
    instructions: re.Pattern[str] | None  # the opening words of each instruction sentence

    @classmethod
    def from_template(cls, template: FusionTemplate) -> PromptMarkers:
        """The markers of one template: read from it, so an edited template is still known."""
        text = f"{template.system}\n\n{template.user}"
        sections = tuple(
            dict.fromkeys(m["name"].strip("*_ :") for m in _TEMPLATE_HEADING.finditer(text))
        )
        phrases = _instruction_patterns(text)
        pattern = re.compile("|".join(phrases), re.IGNORECASE) if phrases else None
        return cls(sections=tuple(s for s in sections if s), instructions=pattern)

    def section_line(self) -> re.Pattern[str] | None:
        """A line that is a section's name, alone or as a label ("Recent chat:", "**Notes**")."""
        if not self.sections:
            return None
        names = "|".join(re.escape(name) for name in sorted(self.sections, key=len, reverse=True))
        return re.compile(
            rf"^[ \t]*{_MARKUP}(?:{names}){_MARKUP}[ \t]*(?:[:：].*)?$", re.IGNORECASE
        )

    @classmethod
    def merged(cls, markers: Iterable[PromptMarkers]) -> PromptMarkers:
        """The markers of several templates together."""
        many = list(markers)
        sections = tuple(dict.fromkeys(name for m in many for name in m.sections))
        patterns = [m.instructions.pattern for m in many if m.instructions is not None]
        pattern = re.compile("|".join(patterns), re.IGNORECASE) if patterns else None
        return cls(sections=sections, instructions=pattern)


@functools.cache
def default_markers() -> PromptMarkers:
    """The markers of every bundled fusion template (`prompts/fusion*.md`) together.

    Whichever of them the rewriter is given, a reply that repeats any of them repeats a prompt.
    """
    files = sorted(PROMPTS_DIR.glob("fusion*.md")) or [FUSION_FILE]
    return PromptMarkers.merged(
        PromptMarkers.from_template(load_fusion_template(path)) for path in files
    )


# A small model echoes "You are twin, …" as "You're twin, …": read contractions spelled out.
_CONTRACTIONS = {"'re": " are", "'m": " am", "n't": " not", "'ll": " will", "'ve": " have"}
_CONTRACTION = re.compile(r"(?i)(?<=\w)(?:['’](?:re|m|ll|ve)|n['’]t)\b")


def _spelled_out(text: str) -> str:
    def spell(match: re.Match[str]) -> str:
        return _CONTRACTIONS[match.group(0).lower().replace("’", "'")]

    return _CONTRACTION.sub(spell, text)


def prompt_echo(text: str, markers: PromptMarkers | None = None) -> Finding:
    """Code fences, Markdown headings, the template's section names and instruction sentences.

    Heading and section-name lines go whole (what follows a heading on its line is the
    prompt's too); a fence goes with its info string ("```text"); a sentence that opens like
    one of the template's instructions goes. The lines between fences stay for the checks
    after this one: a copied chat line there has a speaker label.
    """
    markers = markers or default_markers()
    section = markers.section_line()
    found: list[str] = []
    kept: list[str] = []
    for line in text.splitlines():
        bare = line.strip()
        if _HEADING.match(line):
            found.append("a heading")
        elif section is not None and section.match(line):
            found.append("a section name")
        elif _NOTE_MARK.search(line) or bare.lstrip("-* ").casefold() in _EMPTY_BLOCKS:
            found.append("a note or block of the prompt")
        elif _FENCE.search(line):
            found.append("a code fence")
            kept.append(_FENCE.sub(" ", line))
        else:
            kept.append(line)
    rest = "\n".join(kept)
    if markers.instructions is not None:
        pattern = markers.instructions
        spans = [
            (a, b)
            for a, b in sentence_spans(rest)
            if pattern.search(rest[a:b]) or pattern.search(_spelled_out(rest[a:b]))
        ]
        if spans:
            found.append("the prompt's instructions")
            for a, b in reversed(spans):
                rest = rest[:a] + rest[b:]
    for aside in (_FORM_ASIDE, _LINE_ASIDE):
        if aside.search(rest):
            found.append("words about the reply's form")
            rest = aside.sub("", rest)
    form = [
        (a, b)
        for a, b in sentence_spans(rest)
        if len(rest[a:b].split()) <= FORM_TALK_WORDS and _FORM_TALK.search(rest[a:b])
    ]
    if form:
        found.append("words about the reply's form")
        for a, b in reversed(form):
            rest = rest[:a] + rest[b:]
    if not found:
        return _clean(text)
    what = ", ".join(dict.fromkeys(found))
    return Finding(flaw=Flaw.PROMPT_ECHO, text=_tidy(rest), detail=f"took out {what}")


def bold_heading(text: str) -> Finding:
    """ "**Summary:**" before a line's words: the heading goes, the words stay.

    Run after the labels: a speaker's name in bold is a label, and whose words follow matters.
    """
    lines = text.splitlines()
    if not any(_BOLD_HEADING.match(line) for line in lines):
        return _clean(text)
    kept = "\n".join(_BOLD_HEADING.sub("", line, count=1) for line in lines)
    return Finding(flaw=Flaw.PROMPT_ECHO, text=_tidy(kept), detail="took out a bold heading")


# ---- speaker labels -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Label:
    """A speaker label found in a reply: whose it is, and where it ends."""

    name: str
    twin: bool
    end: int  # where the labelled words start


def _label_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    unique = {name.casefold().lstrip("@") for name in names if name and name.strip("@")}
    if not unique:
        return None
    alternatives = "|".join(re.escape(name) for name in sorted(unique, key=len, reverse=True))
    # "name:" with Markdown bold around either part; a digit or a slash after the colon makes
    # it a time or an address ("10:30", "https://"), never a label
    return re.compile(
        rf"[\"“]?[ \t]*{_MARKUP}(?P<name>{alternatives}){_MARKUP}"
        rf"[ \t]*[:：]{_MARKUP}(?![\d/])[ \t]*",
        re.IGNORECASE,
    )


def label_at(
    text: str, start: int, twin_names: Iterable[str], other_names: Iterable[str] = ()
) -> Label | None:
    """The speaker label at `start` of the text, if one of these names is there as a label."""
    twins = {name.casefold().lstrip("@") for name in twin_names if name}
    pattern = _label_pattern([*twins, *other_names])
    match = pattern.match(text, start) if pattern is not None else None
    if match is None:
        return None
    name = match["name"]
    return Label(name=name, twin=name.casefold() in twins, end=match.end())


def speaker_labels(
    text: str, twin_names: Iterable[str], other_names: Iterable[str] = ()
) -> Finding:
    """`name:` at the start of the reply, of a line or of a sentence.

    The twin's own label goes and its words stay. Another speaker's label starts words that
    are theirs, not the twin's: they go, up to the end of the line or the twin's next label.
    A colon after any other word ("PSA: ...", "10:30", "https://...") and an address
    ("@ana: welcome") are words. `cohost.pipeline.shape.ReplyShaper` already takes labels off
    line starts as the reply streams; this sees the whole reply, so it finds them at sentence
    starts too.
    """
    twins, others = list(twin_names), list(other_names)
    cuts: list[tuple[int, int]] = []
    found: list[str] = []
    theirs: int | None = None  # where another speaker's words began, while they run
    line_end = -1
    for start, _ in sentence_spans(text):
        if theirs is not None and start > line_end:
            cuts.append((theirs, line_end))  # their line ended: the next one is not theirs
            theirs = None
        label = label_at(text, start, twins, others)
        if label is None:
            continue
        if label.twin:
            if theirs is not None:
                cuts.append((theirs, start))
                theirs = None
            cuts.append((start, label.end))
            found.append(f"the label {label.name!r}")
        else:
            found.append(f"a line for {label.name!r}")
            if theirs is None:
                theirs = start
                end = text.find("\n", start)
                line_end = len(text) if end < 0 else end
    if theirs is not None:
        cuts.append((theirs, line_end))
    if not cuts:
        return _clean(text)
    for a, b in reversed(cuts):
        text = text[:a] + text[b:]
    what = ", ".join(dict.fromkeys(found))
    return Finding(flaw=Flaw.LABEL, text=_tidy(text), detail=f"took out {what}")


# ---- runaway repetition ---------------------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """The words of the text, folded, each with where it starts and ends; marks alone skipped."""
    out: list[tuple[str, int, int]] = []
    for match in re.finditer(r"\S+", text):
        # "I'm" is two words here ("i", "m"): "I'm sorry, I'm sorry, I'm sorry" says three
        # words three times, as a reader counts them
        for key in re.split(r"['’]", " ".join(words(match.group()))):
            for part in key.split():
                out.append((part, match.start(), match.end()))
    return out


def _repeated_sentences(text: str) -> list[tuple[int, int]]:
    """Spans of sentences that say again what an earlier one said, when that is a runaway."""
    spans = sentence_spans(text)
    keys = [" ".join(words(text[a:b])) for a, b in spans]
    counts = Counter(key for key in keys if key)
    seen: set[str] = set()
    again: list[tuple[int, int]] = []
    for (a, b), key in zip(spans, keys, strict=True):
        if not key:
            continue
        if key in seen and (len(key.split()) >= RUN_PHRASE or counts[key] >= RUN_PHRASE):
            again.append((a, b))
        seen.add(key)
    return again


def _first_run(keys: Sequence[str]) -> tuple[int, int] | None:
    """(start, length) of the earliest phrase said again and again in a row, if any."""
    for i in range(len(keys)):
        for n in range(1, LONGEST_PHRASE + 1):
            unit = keys[i : i + n]
            if len(unit) < n:
                break
            needed = RUN_ONE_WORD if n == 1 else RUN_PHRASE
            repeats = 1
            while keys[i + repeats * n : i + (repeats + 1) * n] == unit:
                repeats += 1
            if repeats >= needed:
                return i, n
    return None


def _scattered(text: str, tokens: Sequence[tuple[str, int, int]]) -> tuple[int, int] | None:
    """(start, length) of the first phrase of SCATTERED_WORDS words said three times anywhere.

    A phrase lies within one sentence: "... is here. Sentence ..." across two is no phrase.
    """
    n = SCATTERED_WORDS
    ends = [b for _, b in sentence_spans(text)]
    sentence = [bisect.bisect_left(ends, end) for _, _, end in tokens]
    counts: Counter[tuple[str, ...]] = Counter()
    first: dict[tuple[str, ...], int] = {}
    last: dict[tuple[str, ...], int] = {}
    for i in range(len(tokens) - n + 1):
        if sentence[i] != sentence[i + n - 1]:
            continue
        gram = tuple(key for key, _, _ in tokens[i : i + n])
        if i - last.get(gram, -n) < n:
            continue  # overlaps the last one ("ha ha ha ha" is a run, not this)
        counts[gram] += 1
        first.setdefault(gram, i)
        last[gram] = i
        if counts[gram] >= RUN_PHRASE:
            return first[gram], n
    return None


def runaway(text: str) -> Finding:
    """The same words over and over: cut to their first occurrence.

    A sentence said again goes (its first saying stays); a phrase repeated in a row, or one of
    SCATTERED_WORDS words three times anywhere, ends the reply after its first occurrence: a
    model stuck in a loop says nothing new after it.
    """
    found: list[str] = []
    again = _repeated_sentences(text)
    if again:
        found.append("a sentence said again")
        for a, b in reversed(again):
            text = text[:a] + text[b:]
        text = _tidy(text)
    tokens = _tokens(text)
    keys = [key for key, _, _ in tokens]
    run = _first_run(keys) or _scattered(text, tokens)
    if run is not None:
        start, n = run
        # how long, never which words: a loop over a private note must not show in a trace
        found.append(f"a phrase of {n} word{'s' if n > 1 else ''} again and again")
        text = text[: tokens[start + n - 1][2]].rstrip(_TRAILING)
    if not found:
        return _clean(text)
    return Finding(flaw=Flaw.RUNAWAY, text=_tidy(text), detail="; ".join(found))


# ---- length ---------------------------------------------------------------------------------


def reply_cap(sim_lines: Sequence[SimLine]) -> int:
    """The longest reply that sounds like the twin: see REPLY_CAP_FACTOR."""
    longest = max((len(line.text) for line in sim_lines if line.is_twin), default=0)
    return max(math.ceil(REPLY_CAP_FACTOR * longest), REPLY_CAP_MIN)


def too_long(text: str, cap: int) -> Finding:
    """Longer than `cap` characters: cut at the last sentence end before it, never mid-word.

    A first sentence that already runs past the cap leaves nothing safe to cut: unusable.
    """
    if len(text.strip()) <= cap:
        return _clean(text)
    ends = [b for _, b in sentence_spans(text) if b <= cap]
    kept = text[: ends[-1]] if ends else ""
    detail = f"{len(text)} characters, over the cap of {cap}"
    if kept.strip():
        detail += f"; cut to {len(kept.strip())} at a sentence end"
    return Finding(flaw=Flaw.TOO_LONG, text=_tidy(kept), detail=detail)


def unfinished(text: str) -> Finding:
    """A reply that stopped at its cap: the last sentence goes when no mark ends it.

    Only for a reply known to be cut (`cohost.core.errors.ReplyCut`): chat often ends a finished
    line with no mark at all, so an unmarked end alone says nothing.
    """
    if not text.strip() or _FINISHED.search(text):
        return _clean(text)
    spans = sentence_spans(text)
    kept = text[: spans[-1][0]] if spans else ""
    detail = "stopped at its cap mid-sentence; took out the unfinished end"
    return Finding(flaw=Flaw.CUT, text=_tidy(kept), detail=detail)


# ---- a whole reply, and a streamed one ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Review:
    """A reply after every check: the text to use ("" when unusable) and what was found."""

    text: str
    flaws: tuple[Flaw, ...] = ()
    details: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return bool(self.text.strip())

    @property
    def clean(self) -> bool:
        return self.usable and not self.flaws


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityCheck:
    """The checks for one turn: who may be named in a label, and how long the twin talks."""

    twin_names: tuple[str, ...]
    other_names: tuple[str, ...] = ()
    cap: int = REPLY_CAP_MIN
    markers: PromptMarkers = field(default_factory=default_markers)

    @classmethod
    def for_turn(
        cls,
        twin: str,
        sim_lines: Sequence[SimLine],
        others: Iterable[str] = (),
        *,
        markers: PromptMarkers | None = None,
    ) -> QualityCheck:
        """The checks for a turn of `twin`, with these simulated lines and these other speakers."""
        speakers = [line.speaker for line in sim_lines if not line.is_twin]
        return cls(
            twin_names=tuple(dict.fromkeys((twin, clean_name(twin)))),
            other_names=tuple(dict.fromkeys((*others, *speakers, FALLBACK_NAME))),
            cap=reply_cap(sim_lines),
            markers=markers or default_markers(),
        )

    def labels(self, text: str) -> Finding:
        return speaker_labels(text, self.twin_names, self.other_names)

    def review(self, text: str, *, cut: bool = False) -> Review:
        """Every check in order on the whole reply; each works on what the one before left.

        `cut`: the reply stopped at its token or time cap (see `unfinished`).
        """
        flaws: list[Flaw] = []
        details: list[str] = []
        steps = (
            *((unfinished,) if cut else ()),
            lambda t: prompt_echo(t, self.markers),
            self.labels,
            bold_heading,
            runaway,
            lambda t: too_long(t, self.cap),
        )
        for step in steps:
            finding = step(text)
            if finding.flaw is not None:
                flaws.append(finding.flaw)
                details.append(f"{finding.flaw}: {finding.detail}")
                text = finding.text
            if not finding.usable:
                return Review(text="", flaws=tuple(flaws), details=tuple(details))
        if flaws:
            text = " ".join(text.split())  # lines taken out: what is left is one chat message
        return Review(text=text, flaws=tuple(flaws), details=tuple(details))


class SpeechGate:
    """Which streamed chunks of a reply may be spoken, decided as each arrives.

    A chunk that is the prompt's or another speaker's is not said (a repairable one is said
    repaired); once the reply runs away or past the length cap, nothing more of it is said.
    What is spoken is then what the whole reply's review keeps, as far as the stream showed.
    """

    def __init__(self, check: QualityCheck) -> None:
        self._check = check
        self._said: list[str] = []
        self._chars = 0
        self._theirs = False  # inside words another speaker's label began
        self.stopped = False
        self.flaws: list[Flaw] = []  # what the chunks held back had

    def admit(self, chunk: str) -> str:
        """The chunk as it may be spoken; "" when it must not be."""
        if self.stopped:
            return ""
        text = chunk
        echo = prompt_echo(text, self._check.markers)
        if echo.flaw is not None:
            self.flaws.append(echo.flaw)
            text = echo.text
        if not echo.usable:
            return ""
        label = label_at(text, 0, self._check.twin_names, self._check.other_names)
        if label is not None:
            self._theirs = not label.twin  # a label starts someone's words: theirs or the twin's
        if self._theirs:
            # another speaker's words go on until the twin's label; a chunk cannot show a line
            # break, so the voice may say less than chat here, never more
            self.flaws.append(Flaw.LABEL)
            return ""
        labels = self._check.labels(text)
        if labels.flaw is not None:
            self.flaws.append(labels.flaw)
            text = labels.text
        if not labels.usable:
            return ""
        heading = bold_heading(text)
        if heading.flaw is not None:
            self.flaws.append(heading.flaw)
            text = heading.text
        if not heading.usable:
            return ""
        text = " ".join(text.split())
        if runaway(" ".join((*self._said, text))).flaw is not None:
            self.flaws.append(Flaw.RUNAWAY)
            self.stopped = True
            return ""
        if self._chars + len(text) > self._check.cap:
            self.flaws.append(Flaw.TOO_LONG)
            self.stopped = True
            return ""
        self._said.append(text)
        self._chars += len(text) + 1
        return text
