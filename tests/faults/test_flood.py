"""The flood bench's core on a smaller burst: nothing stale is answered, the send limit holds."""

from __future__ import annotations

from bench.flood import flood, max_per_window
from cohost.pipeline.twitch_rules import LIMIT


def test_max_per_window_counts_the_busiest_window() -> None:
    assert max_per_window([]) == 0
    assert max_per_window([0.0, 10.0, 29.9, 30.0, 59.0]) == 3
    assert max_per_window([0.0, 30.0, 60.0]) == 1


async def test_a_burst_answers_nothing_stale_and_keeps_the_send_limit() -> None:
    report = await flood(600, 1.5, seed=3)
    # more wanted out than Twitch allows: with no voice, the conductor holds picks back
    assert report.picks + report.chat_full > LIMIT
    assert report.chat_full > 0
    assert 0 < report.sends <= report.picks
    assert report.max_sends_per_window <= LIMIT
    assert report.max_age_at_pick_s <= report.freshness_s
    assert report.max_age_at_send_s <= report.freshness_s
    assert sum(report.outcomes.values()) == report.picks  # every pick ended with a trace
