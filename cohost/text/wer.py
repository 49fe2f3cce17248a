"""Word error rate: how far a transcript is from what was said."""

from __future__ import annotations

import re

_WORD = re.compile(r"[\w']+")


def wer_words(text: str) -> list[str]:
    """The words a transcript is scored on: case folded, punctuation dropped."""
    return _WORD.findall(text.casefold())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words of the reference (Levenshtein on words)."""
    ref, hyp = wer_words(reference), wer_words(hypothesis)
    if not ref:
        return float(bool(hyp))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1] / len(ref)
