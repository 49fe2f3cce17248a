"""The embedded Markov twin: training, seeding, determinism, order, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest

from cohost.core.errors import InputError
from cohost.core.events import ChatMessage, SimLine
from cohost.core.options import SimulatorSettings
from cohost.core.ports import SimRequest
from cohost.embedded.markov import (
    MarkovChain,
    MarkovSimulator,
    WritingTiers,
    read_writings,
    stable_hash,
    streamer_lines,
    strip_markdown,
    writing_lines,
)

STREAMER_LINES = [
    "I love pizza with pineapple honestly",
    "pizza is the best food ever made",
    "today we play some elden ring again",
    "elden ring is so hard but I keep dying",
    "chat you are amazing thank you for the follows",
    "I think pineapple belongs on pizza fight me",
    "the boss in elden ring took me three hours",
    "my cat is sleeping on the keyboard again",
    "coffee first then we grind some ranked games",
    "ranked games make me so nervous every time",
]


def _msg(i: int, login: str, text: str) -> ChatMessage:
    return ChatMessage(
        id=f"m{i}", channel="chan", login=login, display_name=login.title(), text=text, ts=float(i)
    )


def _trained(order: int = 2, seed: int = 7) -> MarkovSimulator:
    simulator = MarkovSimulator(order=order, seed=seed)
    simulator.train(STREAMER_LINES)
    return simulator


async def _collect(simulator: MarkovSimulator, request: SimRequest) -> list[SimLine]:
    return [line async for line in simulator.stream(request)]


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


async def test_same_seed_and_window_give_the_same_conversation() -> None:
    window = [_msg(1, "bob", "hey"), _msg(2, "amy", "what about elden ring?")]
    request = SimRequest(window=window, twin="twin", max_lines=4)
    first = await _collect(_trained(), request)
    assert first == await _collect(_trained(), request)
    assert len(first) == 4


async def test_other_seed_or_last_message_changes_the_conversation() -> None:
    def request(i: int) -> SimRequest:
        return SimRequest(window=[_msg(i, "bob", "hello there friend")], twin="twin", max_lines=3)

    by_seed = {tuple(await _collect(_trained(seed=s), request(1))) for s in range(12)}
    assert len(by_seed) > 1
    by_id = {tuple(await _collect(_trained(), request(i))) for i in range(12)}
    assert len(by_id) > 1


async def test_a_later_draw_of_the_same_turn_is_another_conversation_and_repeats_too() -> None:
    window = [_msg(1, "bob", "hey"), _msg(2, "amy", "what about elden ring?")]

    def request(draw: int) -> SimRequest:
        return SimRequest(window=window, twin="twin", max_lines=4, draw=draw)

    draws = [tuple(await _collect(_trained(), request(d))) for d in range(6)]
    assert len(set(draws)) > 1  # a candidate's redraw is not the turn's own draw again
    assert draws[3] == tuple(await _collect(_trained(), request(3)))  # and a replay repeats it


async def test_without_a_seed_each_turn_draws_afresh() -> None:
    # the default: the same chat does not make the same conversation every time
    request = SimRequest(window=[_msg(1, "bob", "hello there friend")], twin="twin", max_lines=3)
    simulator = MarkovSimulator.from_settings(SimulatorSettings())
    assert simulator.seed is None
    simulator.train(STREAMER_LINES)
    drawn = {tuple(await _collect(simulator, request)) for _ in range(12)}
    assert len(drawn) > 1


async def test_twin_line_is_seeded_by_a_content_word_of_the_last_message() -> None:
    for i in range(20):
        window = [_msg(i, "bob", "what is your favourite pizza topping?")]
        lines = await _collect(_trained(), SimRequest(window=window, twin="twin", max_lines=1))
        assert lines == [SimLine(speaker="twin", text=lines[0].text, is_twin=True)]
        assert "pizza" in lines[0].text


async def test_the_rarest_known_word_wins_and_names_do_not_count() -> None:
    window = [_msg(3, "cat", "@twin tell me about ranked coffee")]
    lines = await _collect(_trained(), SimRequest(window=window, twin="twin", max_lines=1))
    # "coffee" occurs once in training, "ranked" twice; the chatter's name "cat" is not a topic.
    assert "coffee" in lines[0].text


async def test_other_speakers_are_chatters_from_the_window_in_their_own_words() -> None:
    window = [
        _msg(1, "amy", "elden ring is brutal today"),
        _msg(2, "twin", "I am the twin"),
        _msg(3, "bob", "pizza time chat"),
    ]
    lines = await _collect(_trained(), SimRequest(window=window, twin="twin", max_lines=5))
    assert [line.is_twin for line in lines] == [True, False, True, False, True]
    assert all(line.speaker == "twin" for line in lines if line.is_twin)
    chatters = [line for line in lines if not line.is_twin]
    assert [line.speaker for line in chatters] == ["Bob", "Amy"]  # the one answered first
    spoken = {"Bob": "pizza time chat", "Amy": "elden ring is brutal today"}
    for line in chatters:
        assert set(line.text.split()) <= set(spoken[line.speaker].split())


async def test_only_twin_lines_when_nobody_else_is_in_the_window() -> None:
    lines = await _collect(_trained(), SimRequest(window=[], twin="twin", max_lines=3))
    assert len(lines) == 3
    assert all(line.is_twin for line in lines)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_every_generated_run_of_order_plus_one_words_was_seen_in_training(order: int) -> None:
    chain = MarkovChain(order)
    chain.train(STREAMER_LINES)
    seen = set().union(*(_ngrams(line.split(), order + 1) for line in STREAMER_LINES))
    for i in range(60):
        line = chain.generate(
            random.Random(i), topic=random.Random(i).choice(["pizza", "ring", ""])
        )
        assert _ngrams(line.split(), order + 1) <= seen


def test_the_order_decides_whether_lines_recombine() -> None:
    corpus = ["a b c d", "x b c y"]

    def lines(order: int) -> set[str]:
        chain = MarkovChain(order)
        chain.train(corpus)
        return {chain.generate(random.Random(i), topic="c") for i in range(80)}

    assert lines(3) == set(corpus)
    assert lines(1) > set(corpus)  # with one word of context, "a b c y" appears too
    with pytest.raises(ValueError, match="order"):
        MarkovChain(0)


def test_lines_are_bounded() -> None:
    chain = MarkovChain(1)
    chain.train(["go " * 200])
    assert len(chain.generate(random.Random(1), max_words=30).split()) == 30
    assert len(chain.generate(random.Random(1), topic="go", max_words=5).split()) == 5


async def test_untrained_simulator_yields_nothing() -> None:
    simulator = MarkovSimulator()
    simulator.train(["", "   "])
    assert not simulator.trained
    window = [_msg(1, "bob", "hello?")]
    assert await _collect(simulator, SimRequest(window=window, twin="twin", max_lines=4)) == []
    assert MarkovChain().generate(random.Random(0), topic="hello") == ""


async def test_aclose_mid_stream_closes_the_simulation() -> None:
    closed: list[bool] = []
    inner = _trained().stream(SimRequest(window=[], twin="twin", max_lines=50))

    async def turn() -> AsyncGenerator[SimLine, None]:
        try:
            async with contextlib.aclosing(inner) as lines:
                async for line in lines:
                    yield line
        finally:
            closed.append(True)

    outer = turn()
    assert (await anext(outer)).is_twin
    await outer.aclose()
    assert closed == [True]
    with pytest.raises(StopAsyncIteration):  # closed, not merely paused: 49 lines were left
        await anext(inner)


async def test_aclose_directly_stops_the_simulation() -> None:
    stream = _trained().stream(SimRequest(window=[], twin="twin", max_lines=50))
    await anext(stream)
    await stream.aclose()
    assert [line async for line in stream] == []


async def test_cancelling_the_consuming_task_stops_between_lines() -> None:
    got: list[SimLine] = []
    started = asyncio.Event()

    async def consume() -> None:
        async for line in _trained().stream(SimRequest(window=[], twin="twin", max_lines=10_000)):
            got.append(line)
            started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 0 < len(got) < 10_000


def test_stable_hash_is_crc32() -> None:
    # Python's str hash differs per process; a replay must pick the same lines every run.
    assert stable_hash("m1") == 3226732335
    assert stable_hash("") == 0


def test_streamer_lines_are_theirs_without_commands() -> None:
    messages = [
        _msg(1, "Streamer", "hello chat"),
        _msg(2, "viewer", "hi"),
        _msg(3, "streamer", "!so somebody"),
        _msg(4, "streamer", "  "),
        _msg(5, "streamer", "back in five"),
    ]
    assert streamer_lines(messages, "STREAMER") == ["hello chat", "back in five"]


def test_strip_markdown_keeps_only_prose() -> None:
    text = """---
title: notes
---
# A heading

Some **bold** and _soft_ words with a [link](http://x.y) and ![a cat](cat.png) here.
A wrapped line with `code`.

- first item
- [x] second item

```python
print("not prose")
```

> quoted thought

| a | b |
|---|---|
| 1 | 2 |

Setext title
============
Last words.[^1]
<!-- hidden -->
"""
    plain = strip_markdown(text)
    lines = writing_lines(text, markdown=True)
    assert lines == [
        "Some bold and soft words with a link and here.",
        "A wrapped line with code.",
        "first item",
        "second item",
        "quoted thought",
        "Last words.",
    ]
    for gone in ("title", "heading", "print", "cat", "Setext", "hidden", "|", "#"):
        assert gone not in plain


def test_plain_writing_is_split_into_sentences_per_paragraph() -> None:
    text = "First thought. Second\nthought wraps.\n\nNew paragraph"
    assert writing_lines(text, markdown=False) == [
        "First thought.",
        "Second thought wraps.",
        "New paragraph",
    ]


async def test_from_sources_trains_on_chat_and_writings(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Title\n\nMy **zeppelin** collection keeps growing.\n", encoding="utf-8")
    plain = tmp_path / "diary.txt"
    plain.write_text("# not a heading in plain text about a zeppelin\n", encoding="utf-8")
    messages = [_msg(1, "streamer", "my zeppelin is red"), _msg(2, "bob", "bob zeppelin words")]
    simulator = MarkovSimulator.from_sources(
        SimulatorSettings(markov_order=1, seed=3),
        messages=messages,
        streamer="streamer",
        writings=[notes, plain],
    )
    assert simulator.chain.lines == 3
    assert simulator.chain.order == 1
    window = [_msg(9, "amy", "zeppelin?")]
    texts = {
        line.text
        for seed in range(30)
        for line in await _collect(
            MarkovSimulator.from_sources(
                SimulatorSettings(markov_order=1, seed=seed),
                messages=messages,
                streamer="streamer",
                writings=[notes, plain],
            ),
            SimRequest(window=window, twin="twin", max_lines=1),
        )
    }
    assert all("zeppelin" in text for text in texts)
    assert not any("bob" in text or "**" in text or "Title" in text for text in texts)
    assert read_writings([plain]) == ["# not a heading in plain text about a zeppelin"]


def test_missing_writing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.md"
    with pytest.raises(InputError, match=r"nope\.md"):
        read_writings([missing])


def test_settings_drive_the_simulator() -> None:
    simulator = MarkovSimulator.from_settings(
        SimulatorSettings(markov_order=3, seed=11, markov_max_words=5)
    )
    assert (simulator.chain.order, simulator.seed, simulator.max_words) == (3, 11, 5)
    assert not simulator.trained


@pytest.mark.shared_data
def test_trains_on_real_chat_lines(shared_data: Path) -> None:
    text = (shared_data / "twitch" / "tcd_text").glob("*.txt")
    lines = [ln.split("> ", 1)[-1] for path in text for ln in path.read_text().splitlines()][:3000]
    chain = MarkovChain(2)
    chain.train(lines)
    assert chain.lines > 1000
    line = chain.generate(random.Random(0), max_words=30)
    assert 0 < len(line.split()) <= 30


def _tid(folder: Path, name: str, tags: str, body: str) -> Path:
    path = folder / f"{name}.tid"
    header = f"title: {name}\ncreated: 20261201120000000\ntags: {tags}\ntype: text/vnd.tiddlywiki"
    path.write_text(f"{header}\n\n{body}\n", encoding="utf-8")
    return path


def test_journal_entries_given_as_writings_keep_their_tier(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = [
        _tid(tmp_path, "keys", "secret", "The alarm PIN is 4471 and the key is under the pot."),
        _tid(tmp_path, "scan", "", "Booked the scan at Harbourside Clinic."),  # untagged: private
        _tid(tmp_path, "bread", "public", "Gerald the starter doubled overnight."),
    ]
    kept = read_writings(files)
    assert kept == ["Gerald the starter doubled overnight."]
    assert "secret journal entry" in caplog.text and "PRIVATE_WRITINGS" in caplog.text
    opted = read_writings(files, WritingTiers(private=True))
    assert opted == [
        "Booked the scan at Harbourside Clinic.",
        "Gerald the starter doubled overnight.",
    ]
    assert "4471" not in " ".join(opted)  # a secret entry is never taken, whatever the setting
