"""Recall: what the journal knows that bears on the picked message.

Ranking. A chunk's cosine similarity `s` to the query is weighted by the age of its entry:

    score = s * (a + (1 - a) * 0.5 ** (age_days / half_life_days))

`a` (the floor, 0..1) is the share of its score a very old entry keeps; a new entry keeps all of
it, one `half_life_days` old keeps `a + (1 - a) / 2`. A half-life of 0 turns weighting off.
The threshold `min_score` applies to the similarity itself, before weighting: whether a chunk is
about the message at all does not depend on its age; age only reorders the relevant ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace

from cohost.core.errors import Transient
from cohost.core.events import ChatMessage, Hit, Tier
from cohost.core.options import JournalSettings
from cohost.core.ports import Clock, Journal

log = logging.getLogger(__name__)

DAY = 86_400.0
OVERFETCH = 3  # candidates per wanted hit, so recency can promote a slightly weaker match


def build_query(
    message: ChatMessage,
    window: Sequence[ChatMessage] = (),
    topic: str = "",
    *,
    window_lines: int = 3,
    max_chars: int = 1000,
) -> str:
    """The recall query: the picked message first, then a few recent lines, then the topic."""
    parts = [message.text.strip()]
    recent = [m for m in window if m.id != message.id and m.text.strip()]
    if window_lines > 0:
        parts += [m.text.strip() for m in recent[-window_lines:]]
    if topic.strip():
        parts.append(topic.strip())
    # Models truncate long input anyway (MiniLM reads ~256 tokens); keep the message whole.
    return "\n".join(p for p in parts if p)[:max_chars]


def recency_weight(age_s: float, *, half_life_days: float, floor: float) -> float:
    """The factor a similarity is multiplied by for an entry this many seconds old."""
    if half_life_days <= 0:
        return 1.0
    age_days = max(0.0, age_s) / DAY  # an entry from the future (clock skew) counts as new
    return floor + (1.0 - floor) * float(0.5 ** (age_days / half_life_days))


def rank(
    hits: Sequence[Hit],
    *,
    k: int,
    min_score: float,
    recency_half_life_days: float,
    now: float,
    recency_floor: float = 0.7,
) -> list[Hit]:
    """Drop secret and weak hits, weight the rest by recency, keep the best k entries.

    Each entry counts once, as its best chunk: a long entry must not fill the prompt (or a
    search's answer) with its chunks and push every other entry out. Scores are replaced by
    the weighted ones.
    """
    best: dict[str, Hit] = {}
    for hit in hits:
        if hit.tier is Tier.SECRET or hit.score < min_score:
            continue
        weight = recency_weight(
            now - hit.created, half_life_days=recency_half_life_days, floor=recency_floor
        )
        weighted = replace(hit, score=hit.score * weight)
        if hit.entry_id not in best or weighted.score > best[hit.entry_id].score:
            best[hit.entry_id] = weighted
    return sorted(best.values(), key=lambda h: h.score, reverse=True)[:k]


async def recall(
    journal: Journal,
    query: str,
    *,
    k: int,
    min_score: float,
    recency_half_life_days: float,
    now: float,
    recency_floor: float = 0.7,
) -> list[Hit]:
    """The k best journal entries for the query (a chunk each), recency-weighted; [] on failure."""
    if k <= 0 or not query.strip():
        return []
    try:
        candidates = await journal.search(query, k=k * OVERFETCH)
    except Transient as exc:
        # The index is derived and optional: a turn goes on without it.
        log.warning("journal recall failed, answering without it: %s", exc)
        return []
    except Exception:
        # A broken embedding model or index (a bug, an untranslated error) must not silence
        # the twin either: logged in full, and the reply goes on without the journal.
        log.exception("journal recall failed unexpectedly, answering without it")
        return []
    return rank(
        candidates,
        k=k,
        min_score=min_score,
        recency_half_life_days=recency_half_life_days,
        now=now,
        recency_floor=recency_floor,
    )


class RankedJournal:
    """The Journal port with recall's threshold, recency weighting and time limit applied."""

    def __init__(
        self,
        journal: Journal,
        clock: Clock,
        *,
        min_score: float,
        recency_half_life_days: float,
        recency_floor: float = 0.7,
        timeout_s: float | None = None,
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._min_score = min_score
        self._half_life = recency_half_life_days
        self._floor = recency_floor
        self._timeout_s = timeout_s

    @classmethod
    def from_settings(
        cls, journal: Journal, clock: Clock, settings: JournalSettings
    ) -> RankedJournal:
        """Wrapped as the journal settings say."""
        return cls(
            journal,
            clock,
            min_score=settings.recall_min_score,
            recency_half_life_days=settings.recency_half_life_days,
            recency_floor=settings.recency_floor,
            timeout_s=settings.recall_timeout_s,
        )

    async def search(self, query: str, *, k: int) -> list[Hit]:
        """The k best entries (a chunk each), ranked; [] when the journal fails or is too slow."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await recall(
                    self._journal,
                    query,
                    k=k,
                    min_score=self._min_score,
                    recency_half_life_days=self._half_life,
                    recency_floor=self._floor,
                    now=self._clock.now(),
                )
        except TimeoutError:
            log.warning("journal recall took over %.1f s; answering without it", self._timeout_s)
            return []
