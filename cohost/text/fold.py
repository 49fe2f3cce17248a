"""Text folding: the forms in which cohost compares text that chat or a model may dress up.

One form per purpose, all built here from the same character sets and look-alike tables:
- `clean_characters`: the text as a viewer sees it, without control, zero-width, bidi and
  invisible characters or zalgo stacks (the guard's first rule; what is said is this text).
- `skeleton` and `skeletons`: the text as a blocklist reads it (case, styled letters, marks
  and look-alike spoofs folded, each word read in the script it poses as).
- `folded_words` and `whole_words`: words as the privacy rule compares them (everything a
  copied run could hide behind folded away, with offsets into the original).
- `words` and `same_text_key`: case-folded words and whole texts, for plain comparisons
  (quality checks, the Markov twin, the sink's duplicate rule).
- `word_set` and `alnum_key`: the picker's lowercase words and copypasta keys.

Every look-alike table is in the section `Look-alikes` below, and nowhere else.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from confusable_homoglyphs import confusables

# ---- characters that draw nothing ------------------------------------------------------------

# Format characters that take no room; a chat bot skips them before a command character.
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad\u180e")
# Letters that render as nothing; used to post blank-looking or look-alike messages.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u00ad")
_INVISIBLE = BLANK_LETTERS
# What draws nothing at the start of a text (no letter for a mark to sit on): a chat client
# skips these before a command character too. Variation selectors are category Mn.
LEADING_INVISIBLE_CATEGORIES = frozenset({"Mn", "Me", "Cf"})
_ZWJ = "\u200d"
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})  # control, format (zero-width, bidi), surrogate
_EMOJI_BEFORE_JOINER = frozenset({"So", "Sk", "Mn"})  # emoji, skin tone, variation selector
_MARKS = frozenset({"Mn", "Me"})
_ZALGO_MARKS = 3  # a letter under this many marks is spam, not spelling (Vietnamese uses 2)
_ALPHABETIC_END = 0x0530  # Latin, Greek, Cyrillic: scripts whose marks are only decoration


@dataclass(frozen=True, slots=True, kw_only=True)
class Cleaned:
    """A text without what draws nothing, and how much went."""

    text: str
    removed: int  # control, format and invisible characters
    stacked: int  # combining marks of zalgo stacks


def _clusters(text: str) -> Iterator[str]:
    """The text as characters each with the combining marks that follow it."""
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.category(text[j]) in _MARKS:
            j += 1
        yield text[i:j]
        i = j


def _emoji_joiner(text: str, i: int) -> bool:
    before = text[i - 1] if i > 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    return (
        bool(before and after)
        and unicodedata.category(before) in _EMOJI_BEFORE_JOINER
        and unicodedata.category(after) == "So"
    )


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


def clean_characters(text: str) -> Cleaned:
    """The text without control, zero-width, bidi and invisible characters or zalgo stacks,
    its whitespace collapsed; the joiners inside emoji sequences stay."""
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
    return Cleaned(text=" ".join("".join(kept).split()), removed=removed, stacked=stacked)


# ---- look-alikes -----------------------------------------------------------------------------
# Unicode's confusables (UTS #39, as the `confusable-homoglyphs` package ships its data): every
# character drawn like a Latin letter, read as that letter (small: applied after case folding).
# It lists the look-alikes a font designer would (ҽ, һ, ϲ, ⲟ, Ꭵ ...); letters that people use
# as look-alikes though no font draws them quite alike (в for b, н for h, м for m) are added
# below by hand.


def _tr39_to_latin() -> dict[str, str]:
    data: dict[str, list[dict[str, str]]] = confusables.confusables_data
    found: dict[str, str] = {}
    for char, glyphs in data.items():
        if len(char) != 1 or char.isascii():
            continue
        latin = next(
            (g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalpha()),
            None,
        )
        if latin is not None:
            found[char] = latin.lower()
            small = char.casefold()  # text is case folded first: Ꭵ is ꭵ by then
            if len(small) == 1 and not small.isascii():
                found.setdefault(small, latin.lower())
    return found


_TR39_LATIN = _tr39_to_latin()


def _of_script(prefix: str) -> dict[str, str]:
    """The confusables of one script (by character name), small letters only."""
    return {
        char: latin
        for char, latin in _TR39_LATIN.items()
        if unicodedata.name(char, "").startswith(prefix) and char == char.casefold()
    }


# Letters drawn alike in Latin, Cyrillic and Greek, small letters only (applied after case
# folding, so capitals fold to them first): Unicode's, and the casual ones after them.
_CYRILLIC_LATIN = {
    **_of_script("CYRILLIC"),
    **dict(zip("авекмнорстухіјѕԁԛԝӏг", "abekmhopctyxijsdqwlr", strict=True)),
}
_GREEK_LATIN = {
    **_of_script("GREEK"),
    **dict(zip("αβεζηικμνορτυχ", "abezhikmvoptux", strict=True)),
}
# Look-alikes from scripts a blocklist word is never written in mixed with Latin (Coptic,
# Cherokee, Armenian, Lisu, ...): read as Latin wherever they stand.
_OTHER_LATIN = {
    char: latin
    for char, latin in _TR39_LATIN.items()
    if char == char.casefold()
    and not unicodedata.name(char, "").startswith(("LATIN", "CYRILLIC", "GREEK"))
    and unicodedata.category(char).startswith("L")
}
# "Fancy text" small capitals, which NFKD leaves alone, read as the letters they style.
_SMALL_CAPITALS = dict(zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘꞯʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnopqrstuvwyz", strict=True))
# Look-alikes beyond Cyrillic and Greek, read as the Latin letter they draw; the blocklist
# leaves these alone (a dotless i is another letter in Turkish), the privacy rule does not.
_MORE_LOOKALIKES = {
    "ı": "i", "ɩ": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "օ": "o", "ս": "u", "ո": "n", "հ": "h",
    # regional indicator symbols, which draw as boxed letters when no flag pairs them
    **{chr(0x1F1E6 + i): chr(ord("a") + i) for i in range(26)},
}  # fmt: skip

_UNSTYLED = str.maketrans({**_SMALL_CAPITALS, **_OTHER_LATIN})
# Look-alikes that compatibility folding would turn into another letter first (the lunate
# sigma ϲ, drawn as c, folds to σ, drawn as o): read before folding.
_BEFORE_FOLDING = str.maketrans(
    {
        char: latin
        for char, latin in _TR39_LATIN.items()
        # only where folding leads to another non-ASCII letter: a styled or fullwidth Latin
        # letter or digit (𝐈, Ｉ, 𝟏) folds to itself, not to what it looks like
        if not unicodedata.normalize("NFKD", char).isascii()
        and unicodedata.normalize("NFKD", char).casefold() not in (char.casefold(), latin)
    }
)
_TO_LATIN = str.maketrans({**_CYRILLIC_LATIN, **_GREEK_LATIN})
_TO_CYRILLIC = str.maketrans(
    {latin: cyr for cyr, latin in _CYRILLIC_LATIN.items() if cyr in "авекмнорстухіѕ"}
)
_TO_GREEK = str.maketrans(
    {latin: greek for greek, latin in _GREEK_LATIN.items() if greek in "αβεικνορτυχ"}
)
# Every look-alike read as the Latin letter it looks like, whatever the text around it: for
# comparing two texts folded alike (the privacy rule), not for reading one. No table's output
# is another's input, so one translation does what applying them in turn would.
_ALL_TO_LATIN = str.maketrans(
    {**_TR39_LATIN, **_SMALL_CAPITALS, **_CYRILLIC_LATIN, **_GREEK_LATIN, **_MORE_LOOKALIKES}
)
_LOOKALIKE = (
    frozenset(_CYRILLIC_LATIN)
    | frozenset(_GREEK_LATIN)
    | frozenset(_CYRILLIC_LATIN.values())
    | frozenset(_GREEK_LATIN.values())
)

# ---- skeletons: text as a blocklist reads it -------------------------------------------------
# A word that mixes scripts is a spoof: it is read in the script most of its letters are in
# ("ѕlur" with a Cyrillic s reads "slur", "cука" with a Latin c reads "сука"). A word in one
# script made wholly of look-alikes is read in the script of the text around it: in an English
# reply "неск" is "heck" dressed in Cyrillic, while in a Russian one "но" stays a word, not a
# spoof of "ho"; alone, a word stays as it is.

_WORD = re.compile(r"\w+")
_SCRIPTS = ("latin", "cyrillic", "greek")
_TABLES = {"latin": _TO_LATIN, "cyrillic": _TO_CYRILLIC, "greek": _TO_GREEK}
# An overlay mark (strike-through, slash) or two or more marks stacked on one letter.
_MARK_BREAK = re.compile(r"[\u0334-\u0338\u20d2-\u20d6]+|[\u0300-\u036f]{2,}")


def _fold_marks(decomposed: str) -> str:
    """Keep accents that belong to a letter; drop zalgo stacks and marks that compose nothing.

    A Latin, Greek or Cyrillic letter under `_ZALGO_MARKS` marks or more loses them all; under
    fewer, it keeps those that compose with it (ñ, ü, ặ, й stay themselves, so "año" never
    reads as "ano") and loses the rest (overlays, enclosing marks, joiners). Other scripts
    keep every mark: there they spell. A single accent on a letter therefore still hides a
    blocklisted word from the fold ("slür"); telling that from a real word needs the language,
    so the streamer chooses (`skeletons(fold_accents=True)` drops every accent).
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


def _script(char: str) -> str:
    if "a" <= char <= "z":
        return "latin"
    if "\u0400" <= char <= "\u04ff":
        return "cyrillic"
    if "\u0370" <= char <= "\u03ff":
        return "greek"
    return ""


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


def _folded(text: str) -> str:
    """The first half of `skeleton`: case, styled letters and marks folded."""
    text = text.translate(_BEFORE_FOLDING)
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    decomposed = decomposed.translate(_UNSTYLED)
    return unicodedata.normalize("NFC", _fold_marks(decomposed))


def _read_spoofs(folded: str, *, by_context: bool) -> str:
    """The second half of `skeleton`: every word read in the script it poses as."""
    around = _letters(folded) if by_context else None
    return _WORD.sub(lambda match: _unspoof(match, around), folded)


def _without_accents(folded: str) -> str:
    """A skeleton without the marks on Latin, Greek and Cyrillic letters ("slür": "slur").

    Other scripts keep theirs: there they spell (Japanese dakuten, Devanagari vowel signs).
    """
    out = [
        cluster[0] if ord(cluster[0]) < _ALPHABETIC_END else cluster
        for cluster in _clusters(unicodedata.normalize("NFD", folded))
    ]
    return unicodedata.normalize("NFC", "".join(out))


def skeleton(text: str, *, by_context: bool = True) -> str:
    """Text as a blocklist sees it: styled letters, zalgo and look-alike spoofs folded.

    Case folds first (so "İ" brings no stray mark), fullwidth and styled letters become plain
    (NFKD, and small capitals), marks are folded (`_fold_marks`), and a word mixing Latin,
    Cyrillic and Greek look-alikes is read in its main script (`_unspoof`); with `by_context`,
    a word made wholly of look-alikes is read in the script of the text around it. For matching
    only: what is said keeps its own letters.
    """
    return _read_spoofs(_folded(text), by_context=by_context)


def skeletons(text: str, *, fold_accents: bool = False) -> tuple[str, ...]:
    """Every skeleton a blocklist must search; the first is `skeleton(text)`.

    Both readings of a one-script word of look-alikes: as the text around it (a Cyrillic
    "неск" posing as "heck") and as its own script (a listed Russian word in an English
    reply); and, where a strike-through or a stack of marks shows a break between two words
    ("systeḿ̶zorbleflux") that folding the marks away would close, the text read with that
    break. With `fold_accents`, accents on Latin, Greek and Cyrillic letters go from each.
    """
    folded = _folded(text)
    read: tuple[str, ...] = (
        _read_spoofs(folded, by_context=True),
        _read_spoofs(folded, by_context=False),
    )
    decomposed = unicodedata.normalize("NFD", text)
    broken = _MARK_BREAK.sub(" ", decomposed)
    if broken != decomposed:
        read = (*read, _read_spoofs(_folded(broken), by_context=True))
    return tuple(map(_without_accents, read)) if fold_accents else read


# ---- folded words: text as the privacy rule compares it ---------------------------------------

_APOSTROPHES = frozenset("'’ʼ`´")
_SKIPPED_CATEGORIES = _MARKS | {"Cf"}
# Scripts written without spaces between words: each character is a word.
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width katakana
    (0x20000, 0x3FFFF),  # CJK extensions B and on
)
# Digits inside a word of letters stand for the letters they look like ("h0us3", "k1ds").
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"})
# Numbers said as words and written as digits are the same words ("2 kids", "two kids").
_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_NUMBERS = {word: str(n) for n, word in enumerate(_NUMBER_WORDS.split())}


@lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    """One character with compatibility forms, case, accents and look-alikes folded."""
    decomposed = unicodedata.normalize("NFKD", ch.translate(_BEFORE_FOLDING))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", bare).casefold().translate(_ALL_TO_LATIN)


@lru_cache(maxsize=4096)
def _skipped(ch: str) -> bool:
    """Whether a character inside a word is no part of it: invisible, a format character, or a
    mark (accents fold away anyway; a grapheme joiner or variation selector draws nothing)."""
    return ch in _INVISIBLE or unicodedata.category(ch) in _SKIPPED_CATEGORIES


@lru_cache(maxsize=4096)
def unspaced(ch: str) -> bool:
    """Whether the character is of a script written without spaces (Chinese, Japanese, Thai …)."""
    code = ord(ch)
    return any(low <= code <= high for low, high in _UNSPACED)


def folded_words(text: str) -> list[tuple[str, int, int]]:
    """The folded words of a text, each with its start and end offset in the original.

    Compatibility forms, case, accents, small capitals and look-alikes fold to plain Latin;
    apostrophes and invisible characters inside a word are dropped; every other character
    that is no letter or digit breaks words. In scripts written without spaces each character
    is a word. Digits inside a word of letters read as the letters they stand for ("h0us3"),
    number words as digits, and `&` as "and".
    """
    found: list[tuple[str, int, int]] = []
    current: list[str] = []
    start = 0

    def close(end: int) -> None:
        word = "".join(current)
        if not word.isdigit() and not word.isalpha():
            word = word.translate(_LEET)
        found.append((_NUMBERS.get(word, word), start, end))
        current.clear()

    for i, ch in enumerate(text):
        if (ch in _APOSTROPHES or _skipped(ch)) and current:
            continue  # "don't" and "dont" are one word, and so are "law\u00adyer" and "lawyer"
        if unspaced(ch) or ch == "&":
            if current:
                close(i)
            found.append(("and" if ch == "&" else _fold(ch), i, i + 1))
            continue
        folded = _fold(ch)
        if folded and all(c.isalnum() for c in folded):
            if not current:
                start = i
            current.append(folded)
            continue
        if current:
            close(i)
        # A character that folds to letters plus a break (rare: ligatures, ㈜) breaks the word.
    if current:
        close(len(text))
    return found


SPELLED_OUT = 3  # single letters or digits in a row that are one word spelled out


def read_words(text: str) -> list[str]:
    """The folded words of a text as a person reads them: `folded_words`, and letters spaced,
    dotted or dashed out ("z o r b", "4.4.7.1", "K-e-l-m") joined into the word they spell."""
    out: list[str] = []
    spelled: list[str] = []

    def flush() -> None:
        if len(spelled) >= SPELLED_OUT:
            out.extend(word for word, _, _ in folded_words("".join(spelled)))
        else:
            out.extend(spelled)
        spelled.clear()

    for word, _, _ in folded_words(text):
        if len(word) == 1:
            spelled.append(word)
        else:
            flush()
            out.append(word)
    flush()
    return out


def whole_words(text: str) -> int:
    """How many folded words a streamed text holds for sure: one touching its end may grow."""
    found = folded_words(text)
    return len(found) - (bool(found) and found[-1][2] == len(text))


# ---- plain forms -----------------------------------------------------------------------------

_WORD_WITH_APOSTROPHES = re.compile(r"\w+(?:['’]\w+)*")
_NON_ALNUM = re.compile(r"[\W_]+")


def words(text: str) -> list[str]:
    """The words of a text, case-folded, without punctuation (apostrophes inside words kept)."""
    return [w.replace("’", "'") for w in _WORD_WITH_APOSTROPHES.findall(text.casefold())]


def same_text_key(text: str) -> str:
    """Texts equal up to case and spacing have the same key (as Twitch compares them)."""
    return " ".join(text.casefold().split())


def word_set(text: str) -> frozenset[str]:
    """The distinct words of a text (runs of letters, digits and `_`), lowercased."""
    return frozenset(_WORD.findall(text.lower()))


def alnum_key(text: str) -> str:
    """The text's letters and digits alone, lowercased: spacing and punctuation do not count."""
    return _NON_ALNUM.sub("", text.lower())
