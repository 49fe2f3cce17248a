"""The recall stage: the query it builds, the threshold, recency weighting, failures."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace

import pytest

from cohost.core.clock import VirtualClock
from cohost.core.errors import JournalUnavailable
from cohost.core.events import Hit, Tier
from cohost.core.options import JournalSettings
from cohost.pipeline.recall import (
    DAY,
    OVERFETCH,
    RankedJournal,
    build_query,
    rank,
    recall,
    recency_weight,
)
from tests.fakes import message

NOW = 1_800_000_000.0


def hit(entry_id: str, score: float, *, age_days: float = 0.0, tier: Tier = Tier.PRIVATE) -> Hit:
    return Hit(
        entry_id=entry_id,
        title=entry_id,
        text=f"text of {entry_id}",
        score=score,
        tier=tier,
        created=NOW - age_days * DAY,
    )


class FakeJournal:
    """Returns canned hits and records what it was asked."""

    def __init__(
        self, hits: list[Hit], *, fail: bool = False, hang: bool = False, crash: bool = False
    ) -> None:
        self.hits = hits
        self.fail = fail
        self.hang = hang
        self.crash = crash
        self.asked: list[tuple[str, int]] = []

    async def search(self, query: str, *, k: int) -> list[Hit]:
        self.asked.append((query, k))
        if self.hang:
            await asyncio.Event().wait()
        if self.fail:
            raise JournalUnavailable("the Qdrant server is down")
        if self.crash:
            raise RuntimeError("CUDA error: the embedding model fell over")
        return self.hits[:k]


def test_the_query_puts_the_message_first_then_recent_lines_then_the_topic() -> None:
    window = [message(f"line {i}", ts=float(i), login=f"u{i}") for i in range(6)]
    picked = message("@twin what game is next?", ts=10.0)
    query = build_query(picked, [*window, picked], "speedrunning Celeste", window_lines=2)
    assert query.split("\n") == [
        "@twin what game is next?",
        "line 4",
        "line 5",
        "speedrunning Celeste",
    ]


def test_the_query_without_window_or_topic_is_the_message() -> None:
    assert build_query(message("  hello there "), [], "") == "hello there"
    long = message("word " * 500)
    assert len(build_query(long, [], "topic")) == 1000


def test_recency_weight_follows_the_documented_formula() -> None:
    assert recency_weight(0, half_life_days=30, floor=0.6) == 1.0
    assert math.isclose(recency_weight(30 * DAY, half_life_days=30, floor=0.6), 0.8)
    assert math.isclose(recency_weight(60 * DAY, half_life_days=30, floor=0.6), 0.7)
    assert math.isclose(recency_weight(1e6 * DAY, half_life_days=30, floor=0.6), 0.6)
    assert recency_weight(-5 * DAY, half_life_days=30, floor=0.6) == 1.0  # clock skew
    assert recency_weight(400 * DAY, half_life_days=0, floor=0.6) == 1.0  # weighting off


def test_rank_thresholds_on_similarity_and_orders_by_weighted_score() -> None:
    hits = [
        hit("old-strong", 0.65, age_days=365),
        hit("new-good", 0.60),
        hit("new-weak", 0.29),
        hit("old-weak", 0.31, age_days=3650),
        hit("secret", 0.99, tier=Tier.SECRET),
    ]
    ranked = rank(hits, k=5, min_score=0.3, recency_half_life_days=90, now=NOW, recency_floor=0.7)
    assert [h.entry_id for h in ranked] == ["new-good", "old-strong", "old-weak"]
    old = ranked[1]
    assert math.isclose(old.score, 0.65 * recency_weight(365 * DAY, half_life_days=90, floor=0.7))
    assert ranked[0].score == 0.60
    # Without recency the stronger match wins again.
    plain = rank(hits, k=1, min_score=0.3, recency_half_life_days=0, now=NOW)
    assert [h.entry_id for h in plain] == ["old-strong"]


def test_rank_keeps_one_hit_per_entry_its_best_chunk() -> None:
    # issue #20: one entry came back four times, once per chunk
    chunks = [replace(hit("long", s), text=f"chunk {s}") for s in (0.5, 0.8, 0.6, 0.7)]
    ranked = rank(
        [*chunks, hit("other", 0.65)], k=3, min_score=0.3, recency_half_life_days=0, now=NOW
    )
    assert [(h.entry_id, h.text) for h in ranked] == [
        ("long", "chunk 0.8"),
        ("other", "text of other"),
    ]


async def test_recall_fills_k_with_different_entries() -> None:
    journal = FakeJournal(
        [hit("a", 0.9), hit("a", 0.85), hit("b", 0.8), hit("a", 0.7), hit("c", 0.6)]
    )
    hits = await recall(journal, "q", k=3, min_score=0.3, recency_half_life_days=0, now=NOW)
    assert [h.entry_id for h in hits] == ["a", "b", "c"]


async def test_recall_overfetches_ranks_and_keeps_k() -> None:
    journal = FakeJournal([hit(f"e{i}", 0.9 - i * 0.05, age_days=i * 100) for i in range(10)])
    hits = await recall(journal, "query", k=2, min_score=0.3, recency_half_life_days=100, now=NOW)
    assert journal.asked == [("query", 2 * OVERFETCH)]
    assert [h.entry_id for h in hits] == ["e0", "e1"]
    assert hits[0].score >= hits[1].score


async def test_recall_goes_on_without_the_journal_when_it_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = FakeJournal([hit("e", 0.9)], fail=True)
    assert await recall(journal, "q", k=3, min_score=0.0, recency_half_life_days=0, now=NOW) == []
    assert "journal recall failed" in caplog.text


async def test_recall_goes_on_without_the_journal_when_it_breaks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # not a known failure but a bug or an untranslated error: logged in full, never fatal
    journal = FakeJournal([hit("e", 0.9)], crash=True)
    assert await recall(journal, "q", k=3, min_score=0.0, recency_half_life_days=0, now=NOW) == []
    [record] = [r for r in caplog.records if "recall failed unexpectedly" in r.getMessage()]
    assert record.exc_info is not None


async def test_recall_of_nothing_asks_nothing() -> None:
    journal = FakeJournal([hit("e", 0.9)])
    assert await recall(journal, " ", k=3, min_score=0, recency_half_life_days=0, now=NOW) == []
    assert await recall(journal, "q", k=0, min_score=0, recency_half_life_days=0, now=NOW) == []
    assert journal.asked == []


async def test_the_ranked_journal_applies_the_settings_and_the_clock() -> None:
    journal = FakeJournal([hit("old", 0.9, age_days=400), hit("new", 0.8), hit("weak", 0.1)])
    settings = JournalSettings(recall_min_score=0.3, recency_half_life_days=30, recency_floor=0.5)
    ranked = RankedJournal.from_settings(journal, VirtualClock(NOW), settings)
    hits = await ranked.search("q", k=3)
    assert [h.entry_id for h in hits] == ["new", "old"]
    assert math.isclose(
        hits[1].score, 0.9 * recency_weight(400 * DAY, half_life_days=30, floor=0.5)
    )


async def test_the_ranked_journal_gives_up_after_its_time_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ranked = RankedJournal(
        FakeJournal([], hang=True),
        VirtualClock(NOW),
        min_score=0.0,
        recency_half_life_days=0,
        timeout_s=0.01,
    )
    assert await ranked.search("q", k=3) == []
    assert "answering without it" in caplog.text
