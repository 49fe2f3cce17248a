"""What the journal keeps, checked on every text that leaves: secrets whole, private facts.

The privacy rule (`cohost.pipeline.privacy`) compares a reply with this turn's recalled hits,
and that leaves two ways out. A secret entry is never a hit, yet a LoRA trained on it, a
writing, or a rewriter told it some other way can still say it. And a private entry's short
identifying facts (a street, a clinic, a person's name, a number) pass in a reply of their own:
no run of words is needed to give away where someone lives. `KeptFacts` holds, for every secret
and private entry of the journal:

- its facts: numbers and identifiers with digits ("4471", "mossgerald77"), ordinals ("the
  fourteenth") and names (capitalised words that are not common words), less any that the
  public entries say too: those are no secret;
- for a secret entry, also its content words in order: SECRET_RUN of them said in order,
  other words between them allowed, is the secret said in other clothes.

A text is read the way a person reads it, not as its bytes: case, accents and look-alike
letters folded, digits inside words read as letters, number words as digits (all by
`cohost.text.fold.folded_words`), letters spaced or dotted out joined again ("K e l m s c o t
t", "4.4.7.1"), and two or three words in a row read as one too ("Kelm scott"). A fact of
several words must come in order, at most GAP words apart. The cost is bounded: facts are
looked up in a set per reading, and the ordered-words check runs only for the secret entries
that share enough words with the text.

A text that holds any of it is blocked whole, never trimmed: a fact cannot be cut out of a
sentence and leave the sentence safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cohost.core.events import GuardVerdict, Hit, Tier
from cohost.text.fold import read_words

RULE = "kept"
SECRET_RUN = 3  # content words of a secret entry said in order, each near the last
GAP = 2  # words allowed between two words of a fact of several
SECRET_GAP = 3  # words allowed between two of a secret's words, in the text and in the secret
SECRET_WORDS = 5  # a secret's words in a row (fillers between allowed), two of them content words
PRIVATE_RUN = 8  # a private entry's words in a row, fillers between allowed (the privacy rule's
# run, read through fillers, swaps and respelled numbers)
RUN_GAP = 2  # fillers allowed between two words of a run
RUN_SKIP = 12  # words of the entry left out between two of a run (a run with its middle cut)
MEMORY = 300  # characters passed before this text that a leak may start in (cut in two
# replies, or spelled out one spoken sentence a letter)
MIN_NAME = 3  # a name is at least this many letters
MIN_DIGITS = 2  # a number is a fact with at least this many digits
JOINED_FACT = 5  # a one-word fact this long is also looked for split in two or three words
_YEAR = re.compile(r"^(?:19|20)\d\d$")  # a year is no one's secret

# Words that start sentences or are written capitalised without being anyone's name: a
# capitalised word on this list is never a fact. Everything else capitalised is, unless the
# public entries use it too.
COMMON = frozenset(
    """
    a about after again all also always am an and another any anyone anything are as at away
    back be because been before being best better both but by can cannot could day did do does
    doing done down each even ever every everyone everything feel feeling felt few finally
    first for found from get getting go going gonna good got great had has have having he her
    here him his home honestly how however i if in into is it its just know last later least
    left let like little long look lot made make many maybe me might more most much must my
    need never new next nice no nobody none not nothing now of off oh ok okay on once one only
    or other our out over people please pretty quite rather really right said same saw say see
    she should since so some someone something sometimes soon still stream streaming such sure
    take than thank thanks that the their them then there these they thing things think this
    those though thought today told tomorrow tonight too took two up us very want wanted was
    we week weekend well went were what when where which while who why will wish with without
    would yeah yes yesterday yet you your chat twitch discord youtube monday tuesday wednesday
    thursday friday saturday sunday january february march april may june july august
    september october november december mom dad mum
    work life school job game games day night morning evening sleep food dinner lunch
    breakfast weather traffic money family friends stream chat everyone nobody home house
    car train bus gym practice class meeting call doctor dentist therapy rent bills news
    music weekend holiday vacation birthday party coffee tea bread
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
# Words that name a kind of place in a name ("Harbourside Clinic", "Kelmscott Road"): the name
# is kept whole, and its other words each on their own, but never these alone.
GENERIC = frozenset(
    """
    road rd street st avenue ave lane ln drive dr close way place square court boulevard
    clinic hospital surgery centre center school college university station park hall house
    church cafe bar hotel office building tower bridge hill north south east west new old the
    of and upper lower
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
# Words after a sentence's first word that make it someone acting: "Ines is driving me".
NAME_FOLLOWERS = frozenset(
    {"is", "was", "has", "had", "said", "says", "will", "would", "and", "told"}
    | {"drove", "drives", "came", "comes", "wants", "asked"}
)
_ORDINALS = {
    word: str(n)
    for n, word in enumerate(
        "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh "  # noqa: SIM905
        "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth "
        "twentieth".split()
    )
}
# Letters drawn like two Latin letters: read as the second where folding reads the first.
_SECOND_READING = str.maketrans({"η": "n", "Η": "N", "ɳ": "n"})
_ORDINAL_DIGITS = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]*")
_DIGITS = re.compile(r"\d")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+|\n)\s*$")


def reading(text: str) -> list[str]:
    """The text's words as a person reads them (`cohost.text.fold.read_words`), ordinals
    marked: "the 14th" and "the fourteenth" both read "14 ordinal"."""
    out: list[str] = []
    for word in read_words(_ORDINAL_DIGITS.sub(lambda m: f"{m[1]} ordinal", text)):
        out += [_ORDINALS[word], "ordinal"] if word in _ORDINALS else [word]
    return out


def _joined(words: Sequence[str]) -> set[str]:
    """Each word, and each two and three in a row read as one ("Kelm scott" is "kelmscott")."""
    found = set(words)
    for size in (2, 3):
        found.update("".join(words[i : i + size]) for i in range(len(words) - size + 1))
    return found


@dataclass(frozen=True, slots=True)
class Fact:
    """One identifying fact of an entry, as read: one word or several in order."""

    words: tuple[str, ...]
    entry: str  # the entry's title: for debugging only; no trace names it (a title says a lot)
    tier: Tier

    def said_in(self, words: Sequence[str], joined: set[str]) -> bool:
        if len(self.words) == 1:
            word = self.words[0]
            # a short name is read as a word of its own: "Isa" is no part of "is a"
            return word in joined if len(word) >= JOINED_FACT else word in words
        return _in_order_near(self.words, words)


def _in_order_near(fact: Sequence[str], words: Sequence[str]) -> bool:
    """Whether the words say the fact's words in order, at most GAP words between two."""
    for start, word in enumerate(words):
        if word != fact[0]:
            continue
        at, ok = start, True
        for part in fact[1:]:
            window = words[at + 1 : at + 2 + GAP]
            if part not in window:
                ok = False
                break
            at = at + 1 + window.index(part)
        if ok:
            return True
    return False


def _names(text: str) -> list[list[str]]:
    """Runs of capitalised words that may be names, as written ("Harbourside Clinic")."""
    runs: list[list[str]] = []
    last_end = -2
    for match in _CAPITALISED.finditer(text):
        word = match[0].strip("'’-")
        starts = bool(_SENTENCE_START.search(text[: match.start()]))
        after = text[match.end() :].split(maxsplit=1)
        if (
            len(word) < MIN_NAME
            or word.lower() in COMMON
            or (word.isupper() and len(word) <= 4)  # PIN, ATM: an acronym, no one's name
            # a sentence's first word is a name only where one acts ("Ines is driving") or
            # the text writes it capitalised elsewhere too; else "Work was rough" makes "work"
            or (
                starts
                and not (after and after[0].strip(",.").lower() in NAME_FOLLOWERS)
                and len(re.findall(rf"(?<![.!?]\s)\b{re.escape(word)}\b", text)) < 2
            )
        ):
            last_end = -2
            continue
        if runs and text[last_end : match.start()].strip() == "" and last_end >= 0:
            runs[-1].append(word)
        else:
            runs.append([word])
        last_end = match.end()
    return runs


def _facts_of(text: str) -> list[tuple[str, ...]]:
    """The identifying facts of an entry's text, each as read."""
    facts: list[tuple[str, ...]] = []
    for run in _names(text):
        read = [w for word in run for w in reading(word)]
        if len(read) > 1:
            facts.append(tuple(read))
        facts += [(w,) for w in read if w not in GENERIC and w not in COMMON]
    for word in text.split():
        if (
            len(_DIGITS.findall(word)) >= MIN_DIGITS
            and (read := reading(word))
            and not _YEAR.match(read[0])
        ):
            facts.append(tuple(read))
    read = reading(text)
    # "the fourteenth", "the 14th"; not "first" to "third", which say more than dates
    facts += [
        (read[i - 1], "ordinal")
        for i, w in enumerate(read)
        if w == "ordinal" and i > 0 and read[i - 1] not in {"0", "1", "2", "3"}
    ]
    return facts


def _content(words: Sequence[str]) -> list[str]:
    return [w for w in words if w not in COMMON]


def _ordered_near(
    a: Sequence[str], b: Sequence[str], gap: int = SECRET_GAP, skip: int | None = None
) -> int:
    """The longest chain of b's words that a says in b's order: at most `gap` other words
    between two of them in a (fillers), at most `skip` of b's words left out between two
    (default `gap`)."""
    skip = gap if skip is None else skip
    best = [[0] * len(b) for _ in a]
    longest = 0
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            if x != y:
                continue
            before = [
                best[k][m]
                for k in range(max(0, i - gap - 1), i)
                for m in range(max(0, j - skip - 1), j)
            ]
            best[i][j] = 1 + max(before, default=0)
            longest = max(longest, best[i][j])
    return longest


@dataclass(frozen=True, slots=True)
class _Kept:
    """A kept entry's text as read: all its words, its content words, and their set."""

    title: str
    tier: Tier
    words: tuple[str, ...]
    content: tuple[str, ...]
    vocabulary: frozenset[str]

    @classmethod
    def of(cls, title: str, tier: Tier, text: str) -> _Kept:
        words = tuple(reading(text))
        content = tuple(_content(words))
        return cls(title, tier, words, content, frozenset(content))

    def said_in(self, words: Sequence[str], content: Sequence[str], have: set[str]) -> bool:
        """Whether the words say this entry: a secret's content words or its words in a row,
        a private entry's words in a row; forwards or backwards, fillers between allowed."""
        backwards = words[::-1]
        if self.tier is Tier.SECRET:
            need = min(SECRET_RUN, len(self.content))
            if (
                len(have & self.vocabulary) >= need
                and need
                and (
                    max(
                        _ordered_near(content, self.content),
                        _ordered_near(content[::-1], self.content),
                    )
                    >= need
                )
            ):
                return True
            # five words in a row, a few of the secret's left out at most
            run, least_content, skip = SECRET_WORDS, 2, SECRET_GAP
        else:
            run, least_content, skip = PRIVATE_RUN, 2, RUN_SKIP
        if len(have & self.vocabulary) < min(least_content, len(self.vocabulary)):
            return False
        need = min(run, len(self.words))
        if self._covered(words) >= need:
            return True
        return (
            max(
                _ordered_near(words, self.words, RUN_GAP, skip),
                _ordered_near(backwards, self.words, RUN_GAP, skip),
            )
            >= need
        )

    def _covered(self, words: Sequence[str]) -> int:
        """How many of the words say the entry's own three-word phrases, clauses in any order:
        words the entry never uses (fillers, emotes) are passed over first, and a phrase read
        backwards counts too."""
        own = set(self.words)
        said = [word for word in words if word in own]
        grams = {tuple(self.words[i : i + 3]) for i in range(len(self.words) - 2)}
        covered: set[int] = set()
        for i in range(len(said) - 2):
            gram = tuple(said[i : i + 3])
            if gram in grams or gram[::-1] in grams:
                covered.update(range(i, i + 3))
        return len(covered)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeptEntry:
    """An entry of the journal the guard keeps from every outgoing text."""

    title: str
    text: str
    tier: Tier


@dataclass(frozen=True, slots=True)
class KeptFacts:
    """Every secret entry and every private entry's facts, ready to look for in a text."""

    facts: tuple[Fact, ...] = ()
    texts: tuple[_Kept, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[KeptEntry], public: Iterable[str] = ()) -> KeptFacts:
        """The facts of these entries, less what the public texts say too."""
        said = set()
        for text in public:
            said |= _joined(reading(text))
        facts: dict[tuple[str, ...], Fact] = {}
        texts: list[_Kept] = []
        for entry in entries:
            if entry.tier is Tier.PUBLIC:
                continue
            for fact in _facts_of(entry.text):
                if " ".join(fact) in said or "".join(fact) in said:
                    continue
                facts.setdefault(fact, Fact(words=fact, entry=entry.title, tier=entry.tier))
            texts.append(_Kept.of(entry.title, entry.tier, entry.text))
        return cls(tuple(facts.values()), tuple(texts))

    def __bool__(self) -> bool:
        return bool(self.facts or self.texts)

    def runs(self, words: Sequence[str]) -> dict[str, str]:
        """The kept entries whose text these words say (see `_Kept.said_in`), by index."""
        content = _content(words)
        have = set(content)
        return {
            f"entry:{i}": f"the words of a {kept.tier} entry"
            for i, kept in enumerate(self.texts)
            if kept.said_in(words, content, have)
        }

    def found(self, text: str) -> list[str]:
        """What of the kept text the text says, for a trace: what kind, of what tier; never the
        fact or the entry's title (a title can say as much as the entry)."""
        return list(dict.fromkeys(self.keys(text).values()))

    def keys(self, text: str) -> dict[str, str]:
        """Which facts and entries the text says (a key each, for comparing), with a label
        for people; read both ways where a letter is drawn like two Latin ones (η as h, n)."""
        found = self._keys(text)
        second = text.translate(_SECOND_READING)
        if second != text:
            found |= self._keys(second)
        return found

    def _keys(self, text: str) -> dict[str, str]:
        words = reading(text)
        if not words:
            return {}
        joined = _joined(words)
        out: dict[str, str] = {}
        for fact in self.facts:
            if fact.said_in(words, joined):
                out["fact:" + " ".join(fact.words)] = f"a fact of a {fact.tier} entry"
        out |= self.runs(words)
        return out


def kept_rule(source: Callable[[], KeptFacts], *, memory: int = MEMORY) -> Kept:
    """The guard's rule: any text that says what the journal keeps is blocked whole.

    `source` gives the facts as the journal holds them now (it is asked per text, so a note
    added mid-stream is kept from the next reply on).
    """
    return Kept(source, memory=memory)


class Kept:
    """The kept rule, reading each text with the last `memory` characters that went out
    (`said`): a leak cut across two replies, or spelled out a spoken sentence a letter, is
    found in the text that completes it. Checking is pure: only delivery calls `said`."""

    def __init__(self, source: Callable[[], KeptFacts], *, memory: int = MEMORY) -> None:
        self._source = source
        self._memory = memory
        self._said = ""

    def __call__(self, text: str, hits: Sequence[Hit] = ()) -> tuple[str, GuardVerdict]:
        facts = self._source()
        found = facts.found(text)
        if not found and self._said:
            # only what the text adds counts: what was said alone already is no new leak
            before = set(facts.keys(self._said))
            joined = facts.keys(f"{self._said} {text}")
            found = [
                f"{label}, with what was said before"
                for key, label in joined.items()
                if key not in before
            ]
        if not found:
            return text, GuardVerdict(rule=RULE, action="pass")
        return "", GuardVerdict(rule=RULE, action="blocked", detail="; ".join(dict.fromkeys(found)))

    def said(self, text: str) -> None:
        self._said = f"{self._said} {text}"[-self._memory :]
