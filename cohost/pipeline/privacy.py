"""The guard's privacy rule: a reply never repeats a private journal entry word for word.

Words are compared folded (`cohost.text.fold.folded_words`): Unicode compatibility forms
(NFKC), case and accents folded, small capitals and Cyrillic or Greek look-alikes read as the
Latin letters they look like (on both sides alike), apostrophes and invisible characters inside
words dropped, every other non-letter/digit a word break. In scripts written without spaces
(Chinese, Japanese, Thai …) each character counts as a word, and a text mostly in them needs
twice as many for a run. Digits inside a word of letters read as the letters they stand for
("h0us3"), number words as digits, `&` as "and", and fillers ("uh") are not words. A run spelt
out or run together ("s-h-e s-a-i-d", "shesaid…") is found by its letters alone. So changing
case, punctuation, hyphens, styled or look-alike letters, or slipping zero-width characters in,
does not hide a copied run.

A run is n words in a row from an entry's text or title. A sentence of the entry shorter than
that, of `SHORT_SENTENCE_WORDS` words or more and with two words that carry a topic, is a run
too when the reply says it as a sentence (whole, or at either end of one of its sentences): a
short entry is one such sentence. Public hits may be quoted; secret hits should never get this
far and, if one does, any run of it blocks the reply outright.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from cohost.core.events import GuardVerdict, Hit, Tier, TurnTrace
from cohost.text.fold import folded_words, unspaced, whole_words
from cohost.text.sentences import content_words, sentence_spans

RULE = "privacy"
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?…])")
_SPACES = re.compile(r"[ \t]{2,}")

# A sentence this long or longer is protected whole even when it is shorter than a run.
SHORT_SENTENCE_WORDS = 5
UNSPACED_FACTOR = 2  # a run in a script without spaces is this many times as many characters
_MORE_ENDS = re.compile(r"[。！？]+|…+|\.{3,}")
_TRIM_ROUNDS = 4  # cutting runs joins the words around them: look again, this many times
# Sounds, not words: a run with "uh" slipped into it is still the run.
FILLERS = frozenset({"uh", "uhh", "um", "umm", "uhm", "er", "erm", "hmm", "mm", "ah", "eh"})
# A run spelt out or run together ("s-h-e s-a-i-d", "shesaid…") shows in the letters alone,
# once they are this long: no chance match between two texts is.
JOINED_LETTERS = 25

Mode = Literal["drop", "trim"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """Consecutive words of the reply found in a private (or secret) hit."""

    start: int  # character offsets in the reply
    end: int
    words: int
    entry_id: str
    title: str
    tier: Tier


def speakable(chunks: Sequence[str], text: str, spoken: int, n: int = 8) -> int:
    """How many of `chunks` (the next unspoken ones of the streamed `text`, in order) may be said.

    A chunk may be said once n - 1 whole words follow it: any run of n private words through
    it would show by then. `spoken`: the words of `text` already said, before the chunks.
    """
    after = whole_words(text) - spoken
    ready = 0
    for chunk in chunks:
        after -= len(folded_words(chunk))
        if after < n - 1:
            break
        ready += 1
    return ready


@lru_cache(maxsize=1024)
def run_length(text: str, n: int) -> int:
    """Words in a row that leak this text: n, or twice n for a text mostly without spaces."""
    return n * UNSPACED_FACTOR if _mostly_unspaced(text) else n


def longest_run(hits: Sequence[Hit], n: int) -> int:
    """The longest run any of these (non-public) hits needs: how far speech keeps behind."""
    return max((run_length(text, n) for hit in hits for text in _texts(hit)), default=n)


def _mostly_unspaced(text: str) -> bool:
    found = folded_words(text)
    return sum(e - s == 1 and unspaced(text[s]) for _, s, e in found) * 2 > len(found)


def _said(text: str) -> list[tuple[str, int, int]]:
    """The words of a text that carry it: fillers ("uh") dropped."""
    return [word for word in folded_words(text) if word[0] not in FILLERS]


def _grams(text: str, n: int) -> set[tuple[str, ...]]:
    seq = [w for w, _, _ in _said(text)]
    return {tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)}


@lru_cache(maxsize=256)
def _patterns(text: str, n: int) -> tuple[frozenset[tuple[str, ...]], frozenset[tuple[str, ...]]]:
    """A text's runs, and its short sentences protected whole."""
    size = run_length(text, n)
    grams = _grams(text, size)
    if size > n:
        # the text's own words in a spaced script (English in a Japanese entry) need only n
        spaced: list[str] = []
        for word, start, end in [*folded_words(text), ("", 0, 0)]:
            if word and not (end - start == 1 and unspaced(text[start])):
                spaced.append(word)
                continue
            grams |= {tuple(spaced[i : i + n]) for i in range(len(spaced) - n + 1)}
            spaced = []
    short = set()
    for a, b in _sentence_spans(text):
        sentence = text[a:b]
        found = tuple(w for w, _, _ in _said(sentence))
        own = run_length(sentence, n)
        if not min(SHORT_SENTENCE_WORDS * own // n, own) <= len(found) < own:
            continue
        if own == n and len(content_words(sentence)) < 2:
            continue  # "I don't know what to do." is everyone's sentence, not the entry's
        short.add(found)
    return frozenset(grams), frozenset(short)


@lru_cache(maxsize=256)
def _seam(before: str, after: str, n: int) -> frozenset[tuple[str, ...]]:
    """The runs that cross from the end of one chunk of an entry into the start of another."""
    size = run_length(before, n)
    end = [w for w, _, _ in _said(before)][-(size - 1) :]
    start = [w for w, _, _ in _said(after)][: size - 1]
    joined = end + start
    return frozenset(tuple(joined[i : i + size]) for i in range(len(joined) - size + 1))


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences as the privacy rule reads them: also ended by the full stops of Chinese and
    Japanese with no space after, and by an ellipsis whatever follows it."""
    spans = []
    for a, b in sentence_spans(text):
        start = a
        for end in [m.end() for m in _MORE_ENDS.finditer(text, a, b)] + [b]:
            while start < end and text[start].isspace():
                start += 1
            if start < end:
                spans.append((start, end))
            start = end
    return spans


def _texts(hit: Hit) -> tuple[str, ...]:
    return (hit.text, hit.title) if hit.title else (hit.text,)


def _sentence_edges(reply: str, seq: list[tuple[str, int, int]]) -> tuple[set[int], set[int]]:
    """The reply's words that begin a sentence, and those that end one (by index)."""
    firsts, lasts = set(), set()
    spans = iter(_sentence_spans(reply))
    span = next(spans, None)
    previous = -1
    for i, (_, start, _) in enumerate(seq):
        while span is not None and start >= span[1]:
            span = next(spans, None)
        if span is None:
            break
        if previous < span[0] <= start:
            firsts.add(i)
            if i:
                lasts.add(i - 1)
        previous = start
    if seq:
        lasts.add(len(seq) - 1)
    return firsts, lasts


def find_private_runs(reply: str, hits: Sequence[Hit], n: int = 8) -> list[Run]:
    """Every run of private words in the reply, in order (see the module's docstring)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    owner: dict[tuple[str, ...], Hit] = {}
    short: dict[tuple[str, ...], Hit] = {}
    private = [hit for hit in hits if hit.tier is not Tier.PUBLIC]
    for hit in private:
        for text in _texts(hit):
            grams, sentences = _patterns(text, n)
            for table, patterns in ((owner, grams), (short, sentences)):
                for gram in patterns:
                    # Secret beats private when both hold the same words.
                    if gram not in table or hit.tier is Tier.SECRET:
                        table[gram] = hit
    for first, second in itertools.permutations(private, 2):
        # two chunks of one entry: a run may cross where the chunker cut it
        if first.entry_id == second.entry_id:
            for gram in _seam(first.text, second.text, n):
                owner.setdefault(gram, first)
    if not owner and not short:
        return []
    seq = _said(reply)
    sizes = sorted({len(gram) for gram in owner})
    short_sizes = sorted({len(gram) for gram in short}, reverse=True)
    firsts, lasts = _sentence_edges(reply, seq) if short else (set(), set())
    runs: list[Run] = []
    i = 0
    while i < len(seq):
        end = i
        found: Hit | None = None
        for size in sizes:
            found = owner.get(tuple(w for w, _, _ in seq[i : i + size]))
            if found is not None:
                # extend while the next window is still private text
                end = i + size
                while (
                    end < len(seq)
                    and tuple(w for w, _, _ in seq[end - size + 1 : end + 1]) in owner
                ):
                    end += 1
                break
        else:
            for size in short_sizes:
                if i + size > len(seq) or (i not in firsts and i + size - 1 not in lasts):
                    continue  # a short sentence leaks as a sentence, not as words inside one
                if (found := short.get(tuple(w for w, _, _ in seq[i : i + size]))) is not None:
                    end = i + size
                    break
        if found is None:
            i += 1
            continue
        runs.append(
            Run(
                start=seq[i][1],
                end=seq[end - 1][2],
                words=end - i,
                entry_id=found.entry_id,
                title=found.title,
                tier=found.tier,
            )
        )
        i = end
    return runs + _joined_runs(seq, owner, runs)


def _joined_runs(
    seq: list[tuple[str, int, int]], owner: dict[tuple[str, ...], Hit], found: list[Run]
) -> list[Run]:
    """Runs spelt out or run together: a run's letters, found in the reply's letters alone."""
    letters: list[str] = []
    word_at: list[int] = []  # the reply's word each letter belongs to
    for i, (word, _, _) in enumerate(seq):
        letters.append(word)
        word_at.extend([i] * len(word))
    joined = "".join(letters)
    taken = {
        i for run in found for i, (_, start, _) in enumerate(seq) if run.start <= start < run.end
    }
    spans: dict[tuple[int, int], Hit] = {}
    for gram, hit in owner.items():
        needle = "".join(gram)
        if len(needle) < JOINED_LETTERS:
            continue
        at = joined.find(needle)
        while at >= 0:
            first, last = word_at[at], word_at[at + len(needle) - 1]
            if not taken & set(range(first, last + 1)):
                spans[first, last] = hit
            at = joined.find(needle, at + 1)
    merged: list[tuple[int, int, Hit]] = []
    for (first, last), hit in sorted(spans.items()):
        if merged and first <= merged[-1][1]:  # overlapping windows of one run: one run
            start, end, owner_hit = merged.pop()
            merged.append((start, max(end, last), owner_hit))
        else:
            merged.append((first, last, hit))
    return [
        Run(
            start=seq[first][1],
            end=seq[last][2],
            words=last - first + 1,
            entry_id=hit.entry_id,
            title=hit.title,
            tier=hit.tier,
        )
        for first, last, hit in merged
    ]


def remove_private_runs(reply: str, runs: Sequence[Run]) -> str:
    """The reply without the runs' words (and the punctuation right after them), tidied."""
    out: list[str] = []
    pos = 0
    for run in sorted(runs, key=lambda r: r.start):
        if run.start < pos:
            continue
        out.append(reply[pos : run.start])
        pos = run.end
        # The run's own closing punctuation goes with it ("June." or "June,").
        while pos < len(reply) and not reply[pos].isspace() and not reply[pos].isalnum():
            pos += 1
    out.append(reply[pos:])
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", "".join(out))
    return _SPACES.sub(" ", text).strip()


def describe(runs: Sequence[Run]) -> str:
    """What was found, by entry title and word count; never the private words themselves."""
    by_entry: dict[str, list[Run]] = {}
    for run in runs:
        by_entry.setdefault(run.entry_id, []).append(run)
    parts = []
    for group in by_entry.values():
        first = group[0]
        name = "a secret entry" if first.tier is Tier.SECRET else f"entry {first.title!r}"
        total = sum(r.words for r in group)
        parts.append(f"{len(group)} run(s), {total} words, verbatim from {name}")
    return "; ".join(parts)


def privacy_rule(
    reply: str, hits: Sequence[Hit], *, n: int = 8, mode: Mode = "trim", min_words: int = 3
) -> tuple[str, GuardVerdict]:
    """The reply as it may be said, and the verdict: pass, changed (runs cut out) or blocked."""
    runs = find_private_runs(reply, hits, n)
    if not runs:
        return reply, GuardVerdict(rule=RULE, action="pass")
    detail = describe(runs)
    if mode == "drop" or any(r.tier is Tier.SECRET for r in runs):
        return "", GuardVerdict(rule=RULE, action="blocked", detail=detail)
    trimmed = reply
    for _ in range(_TRIM_ROUNDS):
        trimmed = remove_private_runs(trimmed, runs)
        # the words either side of a cut now stand together, and may be a run themselves
        if not (runs := find_private_runs(trimmed, hits, n)):
            break
    if runs:
        return "", GuardVerdict(rule=RULE, action="blocked", detail=f"{detail}; still after cuts")
    if len(folded_words(trimmed)) < min_words:
        return "", GuardVerdict(rule=RULE, action="blocked", detail=f"{detail}; too little left")
    return trimmed, GuardVerdict(rule=RULE, action="changed", detail=f"{detail}; cut out")


def privacy_rule_for(
    *, n: int = 8, mode: Mode = "trim"
) -> Callable[[str, Sequence[Hit]], tuple[str, GuardVerdict]]:
    """The rule as the guard's rule list takes it: `(text, hits) -> (text, verdict)`."""

    def privacy(text: str, hits: Sequence[Hit] = ()) -> tuple[str, GuardVerdict]:
        return privacy_rule(text, hits, n=n, mode=mode)

    return privacy


def secret_texts_never_in(texts: Iterable[str], secrets: Iterable[str], *, n: int = 8) -> bool:
    """True when no text holds n consecutive words of any secret (folded as the rule folds)."""
    grams: set[tuple[str, ...]] = set()
    for secret in secrets:
        grams |= _grams(secret, n)
    return not any(_grams(text, n) & grams for text in texts)


def public_reason(outcome: str, reason: str, blocked_rules: Iterable[str]) -> str:
    """A turn's reason as the bus and the dashboard may show it.

    A blocked turn's reason quotes the guard's verdicts, and a privacy verdict names the
    entry a reply would have repeated ("verbatim from entry 'Divorce lawyer meeting'"): such
    a reason is given by rule only.
    """
    if outcome != "blocked":
        return reason
    return f"blocked by the guard ({', '.join(sorted(set(blocked_rules)))})"


def trace_public_reason(trace: TurnTrace) -> str:
    """`public_reason` of a turn's trace: why it ended so, as a page or the bus may say it."""
    blocked = (v.rule for v in trace.guard if v.action == "blocked")
    return public_reason(trace.outcome, trace.reason, blocked)
