"""A lexical embedder by feature hashing: fast, deterministic, offline, and NOT semantic.

It matches shared words and word pairs, not meaning ("dog" is not near "puppy"). It serves the
fast tests and stands in when sentence-transformers is not installed; say so wherever it is used.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import unicodedata
from collections.abc import Sequence

_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _bucket(feature: str, dimension: int) -> tuple[int, float]:
    # blake2b, not hash(): Python salts str hashes per process, vectors must be stable.
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
    return digest % dimension, (1.0 if (digest >> 63) & 1 else -1.0)


class HashingEmbedder:
    """Word and word-pair counts hashed into `dimension` signed buckets, unit length (lexical)."""

    name = "hashing-lexical"

    def __init__(self, dimension: int = 256, *, pair_weight: float = 0.5) -> None:
        if dimension < 2:
            raise ValueError("dimension must be at least 2")
        self._dimension = dimension
        self._pair_weight = pair_weight

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text; an empty text gets a fixed unit vector of its own."""
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[float]:
        vector = [0.0] * self._dimension
        words = _words(text)
        features = [(w, 1.0) for w in words]
        features += [(f"{a} {b}", self._pair_weight) for a, b in itertools.pairwise(words)]
        for feature, weight in features or [("\x00empty", 1.0)]:
            slot, sign = _bucket(feature, self._dimension)
            vector[slot] += sign * weight
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:  # every feature cancelled out; rare, but a zero vector has no cosine
            vector[0], norm = 1.0, 1.0
        return [v / norm for v in vector]
