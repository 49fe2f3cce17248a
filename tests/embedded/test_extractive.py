"""The extractive rewriter: ranking simulated twin lines and streaming the best one."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from cohost.core.events import ChatMessage, Hit, SimLine, Tier
from cohost.core.ports import FusionRequest
from cohost.embedded.extractive import ExtractiveRewriter, rank_lines


def _msg(text: str, login: str = "viewer", i: int = 1) -> ChatMessage:
    return ChatMessage(
        id=f"m{i}", channel="chan", login=login, display_name=login.title(), text=text, ts=float(i)
    )


def _twin(text: str) -> SimLine:
    return SimLine(speaker="twin", text=text, is_twin=True)


def _request(
    message: str,
    lines: Sequence[SimLine],
    *,
    hits: Sequence[Hit] = (),
    window: Sequence[ChatMessage] = (),
) -> FusionRequest:
    msg = _msg(message)
    return FusionRequest(
        twin="twin", message=msg, window=[*window, msg], hits=hits, sim_lines=lines
    )


async def _reply(request: FusionRequest) -> list[str]:
    return [piece async for piece in ExtractiveRewriter().stream(request)]


def test_ranking_prefers_the_line_on_topic() -> None:
    lines = [
        _twin("my cat is sleeping on the keyboard again right now"),
        _twin("honestly the new elden ring boss took me three hours"),
        _twin("coffee first and then we grind some ranked games"),
    ]
    ranked = rank_lines(_request("@twin how hard is the elden ring boss?", lines))
    assert ranked[0][1] is lines[1]
    assert [score for score, _ in ranked] == sorted((s for s, _ in ranked), reverse=True)


def test_only_twin_lines_are_candidates() -> None:
    lines = [
        SimLine(speaker="Bob", text="elden ring boss elden ring boss", is_twin=False),
        _twin("no idea"),
        _twin("   "),
    ]
    assert [line for _, line in rank_lines(_request("elden ring boss?", lines))] == [lines[1]]


def test_recalled_facts_break_a_tie() -> None:
    lines = [
        _twin("we should totally go bowling tonight"),
        _twin("we should totally go hiking soon"),
    ]
    hit = Hit(entry_id="e1", title="weekend", text="Went hiking in the alps", score=0.9,
              tier=Tier.PRIVATE)  # fmt: skip
    assert rank_lines(_request("plans?", lines))[0][1] is lines[0]
    assert rank_lines(_request("plans?", lines, hits=[hit]))[0][1] is lines[1]


def test_secret_hits_do_not_steer_the_choice() -> None:
    lines = [
        _twin("we should totally go bowling tonight"),
        _twin("we should totally go hiking soon"),
    ]
    secret = Hit(entry_id="e2", title="x", text="hiking hiking", score=1.0, tier=Tier.SECRET)
    assert rank_lines(_request("plans?", lines, hits=[secret]))[0][1] is lines[0]


def test_a_line_that_parrots_the_viewer_loses() -> None:
    parrot = _twin("favourite pizza topping")
    answer = _twin("pineapple on pizza forever and nobody can stop me")
    ranked = rank_lines(_request("what is your favourite pizza topping", [parrot, answer]))
    assert ranked[0][1] is answer


def test_length_near_the_twins_usual_line_wins_when_topic_is_equal() -> None:
    short = _twin("gg")
    long = _twin("gg that was a really close one and I nearly threw it at the very end there")
    assert rank_lines(_request("hello", [short, long]))[0][1] is long  # default usual: 10 words
    own = [_msg("gg", login="twin", i=i) for i in range(2, 6)]
    assert rank_lines(_request("hello", [short, long], window=own))[0][1] is short


async def test_stream_pieces_join_to_the_chosen_line() -> None:
    lines = [_twin("no  idea honestly"), _twin("the elden ring boss was brutal  today")]
    request = _request("elden ring boss?", lines)
    pieces = await _reply(request)
    assert len(pieces) == 7
    assert "".join(pieces) == "the elden ring boss was brutal today"
    assert "".join(pieces) == " ".join(rank_lines(request)[0][1].text.split())


async def test_no_twin_line_means_no_reply() -> None:
    assert await _reply(_request("hi", [])) == []
    assert await _reply(_request("hi", [SimLine(speaker="Bob", text="yo", is_twin=False)])) == []


async def test_private_and_secret_journal_text_never_appears_verbatim() -> None:
    private = Hit(entry_id="p", title="health", text="I had surgery on my knee in March",
                  score=0.9, tier=Tier.PRIVATE)  # fmt: skip
    secret = Hit(entry_id="s", title="home", text="my address is 12 Elm Street",
                 score=0.8, tier=Tier.SECRET)  # fmt: skip
    lines = [_twin("my knee is fine now thanks for asking chat"), _twin("street food is the best")]
    request = _request("how is your knee and where do you live?", lines, hits=[private, secret])
    reply = "".join(await _reply(request))
    assert reply in {line.text for line in lines}
    for hit in (private, secret):
        assert hit.text not in reply
        words = hit.text.split()
        assert not any(" ".join(words[i : i + 3]) in reply for i in range(len(words) - 2))


async def test_closing_the_stream_early_stops_it() -> None:
    stream = ExtractiveRewriter().stream(_request("x", [_twin("one two three four five")]))
    async with contextlib.aclosing(stream) as pieces:
        first = await anext(pieces)
    assert first == "one"
    assert [piece async for piece in stream] == []
