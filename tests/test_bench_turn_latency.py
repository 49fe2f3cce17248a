"""The whole-turn latency bench's quick mode, run on the scripted server at tiny sizes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.turn_latency import (
    LOCAL_REWRITER,
    MODES,
    PRODUCT,
    REPLY,
    Speeds,
    TurnTiming,
    breakeven_rewriter_ttft,
    first_chunk_budget,
    floors,
    key_figures,
    percentile,
    run_scripted,
    summarise,
)
from cohost.text.fold import folded_words, whole_words
from tests.support.scripted_server import tokens_of

FAST = Speeds(sim_ttft_s=0.0, sim_tps=2000.0, rewrite_ttft_s=0.0, rewrite_tps=2000.0, recall_s=0.0)


async def test_quick_mode_returns_figures_for_both_modes() -> None:
    report = await run_scripted(2, FAST)
    for mode in MODES:
        figures = report.modes[mode]
        assert figures.outcomes == {"answered": 2}
        assert set(figures.stats) == {"first audio", "chat post", "total"}
        for stat in figures.stats.values():
            assert stat.n == 2
            assert 0 < stat.p50 <= stat.p90
        for turn in figures.turns:
            assert turn.first_audio_s is not None and turn.post_s is not None
            assert max(turn.first_audio_s, turn.post_s) <= turn.total_s
            if mode == "sequential":  # the baseline speaks once the whole reply is posted
                assert turn.post_s <= turn.first_audio_s
    # a warm-up and two timed turns per mode, each a simulation and a fusion
    assert report.requests == 2 * 2 * 3
    line = key_figures(report, None)
    assert {"ttfa_pipelined_p50_ms", "ttfa_sequential_p50_ms", "ttfa_ratio", "overhead_p50_ms"} <= (
        set(line)
    )
    assert "none" not in line.values()


def test_floors_follow_the_token_counts() -> None:
    # 10 tokens/s and no first-token delay: each floor is a count of tokens over ten
    speeds = Speeds(sim_ttft_s=0.0, sim_tps=10.0, rewrite_ttft_s=0.0, rewrite_tps=10.0, recall_s=0)
    result = floors(speeds)
    piped, seq = result.by_mode["pipelined"], result.by_mode["sequential"]
    # the turn fuses on the newline ending the look-ahead line; the sequential one on the 4th line
    assert (result.sim_tokens["pipelined"], result.sim_tokens["sequential"]) == (24, 38)
    # "Welcome back, ana!" is known to be finished when " Yes," arrives, the 4th reply token
    # (its clause "Welcome back," is too short to be spoken alone)
    assert result.first_chunk_tokens == 4
    assert piped["first audio"] == pytest.approx((23 + 3) / 10)
    assert seq["first audio"] == pytest.approx((37 + result.reply_tokens) / 10)
    assert piped["chat post"] == pytest.approx((23 + result.reply_tokens) / 10)
    assert seq["first audio"] == seq["chat post"]  # the baseline speaks after the whole reply


def test_floor_parts_add_up_and_the_look_ahead_is_one_of_them() -> None:
    speeds = Speeds()
    result = floors(speeds)
    for mode in MODES:
        total = sum(seconds for _, seconds in result.parts[mode])
        assert total == pytest.approx(result.by_mode[mode]["first audio"])
    # without the look-ahead line the pipelined turn fuses on the twin's line's newline
    early = floors(speeds, lookahead=0)
    look_ahead = result.parts["pipelined"][3][1]
    assert look_ahead == pytest.approx((23 - 12) / speeds.sim_tps)
    assert early.by_mode["pipelined"]["first audio"] == pytest.approx(
        result.by_mode["pipelined"]["first audio"] - look_ahead
    )
    assert early.by_mode["sequential"] == result.by_mode["sequential"]


def test_first_chunk_budget_is_what_the_target_leaves() -> None:
    speeds = Speeds()
    result = floors(speeds, lookahead=0)
    budget = first_chunk_budget(speeds, lookahead=0)
    spent = result.parts["pipelined"][-1][1]
    # spending exactly the budget on the first chunk gives the target ratio
    piped = result.by_mode["pipelined"]["first audio"] - spent + budget
    assert piped / result.by_mode["sequential"]["first audio"] == pytest.approx(0.5)


def test_the_breakeven_rewriter_first_token_gives_the_target_ratio() -> None:
    speeds = Speeds()
    breakeven = breakeven_rewriter_ttft(speeds)
    assert 0 < breakeven < speeds.rewrite_ttft_s  # the 300 ms rewriter cannot meet it
    at = floors(replace(speeds, rewrite_ttft_s=breakeven))
    assert at.first_audio_ratio == pytest.approx(0.5)
    assert floors(replace(speeds, rewrite_ttft_s=breakeven * 1.1)).first_audio_ratio > 0.5
    # the local rewriter differs from the speeds only in its first token
    assert replace(LOCAL_REWRITER, rewrite_ttft_s=speeds.rewrite_ttft_s) == speeds
    assert floors(LOCAL_REWRITER).first_audio_ratio <= 0.5


def test_a_long_enough_first_clause_is_spoken_before_its_sentence_ends() -> None:
    slow = Speeds(sim_ttft_s=0.0, sim_tps=10.0, rewrite_ttft_s=0.0, rewrite_tps=10.0)
    # "Welcome back," has two words: with two enough, it goes when " ana!" arrives
    assert floors(slow, first_chunk_words=2).first_chunk_tokens == 3
    assert floors(slow, first_chunk_words=None).first_chunk_tokens == 4


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([0.0, 10.0], 90) == pytest.approx(9.0)
    assert percentile([5.0], 90) == 5.0
    silent = TurnTiming(first_audio_s=None, post_s=None, total_s=0.2, outcome="silent")
    assert set(summarise([silent]).stats) == {"total"}


def test_a_private_note_moves_first_audio_to_where_the_margin_is_met() -> None:
    slow = Speeds(sim_ttft_s=0.0, sim_tps=10.0, rewrite_ttft_s=0.0, rewrite_tps=10.0, recall_s=0)
    public, private = floors(slow), floors(slow, private=True)
    assert private.first_chunk_tokens > public.first_chunk_tokens
    reply = tokens_of(REPLY)
    chunk_words = len(folded_words("Welcome back, ana!"))  # the first chunk, a sentence

    def after(tokens: int) -> int:
        return whole_words("".join(reply[:tokens])) - chunk_words

    margin = PRODUCT.privacy_run_words - 1
    assert after(private.first_chunk_tokens) >= margin > after(private.first_chunk_tokens - 1)
    # only the pipelined first audio moves; the baseline waits for the whole reply anyway
    assert private.by_mode["sequential"] == public.by_mode["sequential"]
    assert private.by_mode["pipelined"]["chat post"] == public.by_mode["pipelined"]["chat post"]
