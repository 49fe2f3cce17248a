"""Splitting journal entries into chunks the size an embedding model reads well."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cohost.text.sentences import split_sentences

# Bumped whenever the same text would split differently: every entry is then indexed again.
CHUNKER_VERSION = 3  # 2: sentences split by cohost.text.sentences; 3: markup removed
_PARAGRAPH = re.compile(r"\n[ \t]*\n+")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkSpec:
    """How entries are cut: chunks close at a paragraph end once past min_words."""

    min_words: int = 60
    max_words: int = 120
    overlap_words: int = 25  # a last sentence this short is repeated in the next chunk

    def __post_init__(self) -> None:
        if not 1 <= self.min_words <= self.max_words:
            raise ValueError("need 1 <= min_words <= max_words")
        if self.overlap_words < 0 or self.overlap_words >= self.max_words:
            raise ValueError("need 0 <= overlap_words < max_words")


@dataclass(frozen=True, slots=True)
class _Sentence:
    text: str
    words: int
    paragraph: int


def sentences(paragraph: str) -> list[str]:
    """A paragraph's sentences; each line is at least one (journal lines are often thoughts)."""
    found: list[str] = []
    for line in paragraph.splitlines():
        found.extend(part.strip() for part in split_sentences(line) if part.strip())
    return found


def _units(text: str, max_words: int) -> list[_Sentence]:
    units: list[_Sentence] = []
    for number, paragraph in enumerate(_PARAGRAPH.split(text.strip())):
        for sentence in sentences(paragraph):
            words = sentence.split()
            # A run-on "sentence" longer than a chunk is cut into chunk-sized pieces.
            for start in range(0, len(words), max_words):
                piece = words[start : start + max_words]
                units.append(_Sentence(" ".join(piece), len(piece), number))
    return units


def _join(units: list[_Sentence]) -> str:
    out: list[str] = []
    for i, unit in enumerate(units):
        if i:
            out.append("\n\n" if unit.paragraph != units[i - 1].paragraph else " ")
        out.append(unit.text)
    return "".join(out)


def split_text(text: str, spec: ChunkSpec | None = None) -> list[str]:
    """Paragraphs, then sentences, packed into chunks of about min..max words, small overlap."""
    spec = spec or ChunkSpec()
    chunks: list[list[_Sentence]] = []
    current: list[_Sentence] = []
    size = 0
    for unit in _units(text, spec.max_words):
        if current and unit.paragraph != current[-1].paragraph and size >= spec.min_words:
            # A paragraph end past min_words is the natural place to cut; no overlap there.
            chunks.append(current)
            current, size = [], 0
        if current and size + unit.words > spec.max_words:
            chunks.append(current)
            last = current[-1]
            carry = (
                len(current) > 1
                and last.words <= spec.overlap_words
                and last.words + unit.words <= spec.max_words
            )
            current, size = ([last], last.words) if carry else ([], 0)
        current.append(unit)
        size += unit.words
    if current:
        chunks.append(current)
    return [_join(chunk) for chunk in chunks]
