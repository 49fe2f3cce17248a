"""Sentence splitting, chat-sized chunks and the streaming sentence buffer."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohost.text.fold import words
from cohost.text.sentences import (
    SentenceBuffer,
    chunk_for_chat,
    content_words,
    split_sentences,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you?", ["Hello there.", "How are you?"]),
        ("Really?! No way!!! Yes.", ["Really?!", "No way!!!", "Yes."]),
        ("Well... I guess so. Wait... what", ["Well...", "I guess so.", "Wait... what"]),
        ("Mr. Smith met Dr. Jones.", ["Mr. Smith met Dr. Jones."]),
        ("Bring snacks, e.g. chips. Then sit.", ["Bring snacks, e.g. chips.", "Then sit."]),
        ("Pi is 3.14 today. Nice.", ["Pi is 3.14 today.", "Nice."]),
        ("See https://example.com/a.b?c=1 now. Ok", ["See https://example.com/a.b?c=1 now.", "Ok"]),
        ("GG! 😂 🎉 Next game", ["GG! 😂 🎉", "Next game"]),
        ("lol 😂 that was close", ["lol 😂 that was close"]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("apples, pears etc. and more", ["apples, pears etc. and more"]),
        ("first line\nsecond line", ["first line", "second line"]),
        ("  ", []),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_content_words() -> None:
    assert content_words("What do you think about the new pizza place? 42") == [
        "new",
        "pizza",
        "place",
    ]


def test_chunks_pack_sentences_up_to_the_limit() -> None:
    text = "One two. Three four. Five six."
    assert chunk_for_chat(text, limit=20) == ["One two. Three four.", "Five six."]
    assert chunk_for_chat(text) == [text]


def test_long_sentence_splits_on_words_and_long_word_is_cut() -> None:
    assert chunk_for_chat("aaa bbb ccc ddd", limit=7) == ["aaa bbb", "ccc ddd"]
    assert chunk_for_chat("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_chunk_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        chunk_for_chat("hi", limit=0)


_chat_text = st.lists(
    st.sampled_from([*"abcXYZ019 .!?…'\"\n\t,:/😂🎉", " e.g. ", "Mr. ", "http://a.b", "... "]),
    max_size=120,
).map("".join)


@settings(max_examples=100, deadline=None)
@given(text=_chat_text, limit=st.integers(min_value=1, max_value=60))
def test_chunks_never_exceed_limit_and_keep_every_character(text: str, limit: int) -> None:
    chunks = chunk_for_chat(text, limit)
    assert all(0 < len(chunk) <= limit for chunk in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())


@settings(max_examples=100, deadline=None)
@given(text=_chat_text)
def test_sentences_keep_every_character_in_order(text: str) -> None:
    sentences = split_sentences(text)
    assert all(s and s == s.strip() for s in sentences)
    assert "".join("".join(sentences).split()) == "".join(text.split())


@settings(max_examples=100, deadline=None)
@given(text=_chat_text, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_buffer_gives_the_same_sentences_as_splitting_the_whole(text: str, cuts: list[int]) -> None:
    buffer = SentenceBuffer()
    out: list[str] = []
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    for a, b in itertools.pairwise(bounds):
        out.extend(buffer.feed(text[a:b]))
    out.extend(buffer.flush())
    assert out == split_sentences(text)


def test_buffer_hands_out_sentences_as_they_complete() -> None:
    buffer = SentenceBuffer()
    assert buffer.feed("Hello the") == []
    assert buffer.feed("re. How") == ["Hello there."]
    assert buffer.feed(" are you?") == []
    assert buffer.feed(" 😂") == []  # trailing emoji still belongs to the question
    assert buffer.feed(" Good") == ["How are you? 😂"]
    assert buffer.flush() == ["Good"]
    assert buffer.flush() == []


def test_buffer_waits_for_the_word_after_an_abbreviation() -> None:
    buffer = SentenceBuffer()
    assert buffer.feed("Ask Mr. ") == []
    assert buffer.feed("Smith. ") == []
    assert buffer.feed("Ok") == ["Ask Mr. Smith."]


def test_buffer_cuts_run_on_text_at_word_boundaries() -> None:
    buffer = SentenceBuffer(max_chars=12)
    got = buffer.feed("one two three four five six")
    assert got and all(len(part) <= 12 for part in got)
    rest = buffer.flush()
    assert " ".join(got + rest) == "one two three four five six"


def test_first_chunk_ends_at_a_clause_then_whole_sentences_follow() -> None:
    buffer = SentenceBuffer(first_chunk_words=4)
    assert buffer.feed("Okay so the long route,") == []  # the comma's word may still grow
    assert buffer.feed(" chat") == ["Okay so the long route,"]
    assert buffer.feed(" voted for it.") == []
    assert buffer.feed(" Grab a snack,") == ["chat voted for it."]
    assert buffer.feed(" this takes a while.") == []  # only the first chunk ends at a clause
    assert buffer.flush() == ["Grab a snack, this takes a while."]


def test_first_chunk_waits_for_enough_words() -> None:
    buffer = SentenceBuffer(first_chunk_words=4)
    assert buffer.feed("Hi chat, welcome") == []  # "Hi chat," is two words
    assert buffer.feed(" back; it is") == ["Hi chat, welcome back;"]


def test_a_short_first_sentence_is_the_first_chunk() -> None:
    buffer = SentenceBuffer(first_chunk_words=4)
    assert buffer.feed("Welcome back, ana! Yes, the long route again,") == ["Welcome back, ana!"]
    assert buffer.feed(" chat voted.") == []
    assert buffer.flush() == ["Yes, the long route again, chat voted."]


@pytest.mark.parametrize(
    ("pieces", "first"),
    [
        (["We had 1,", "000 viewers, wow"], "We had 1,000 viewers,"),  # no cut inside a number
        (["So here is the thing - chat"], "So here is the thing -"),
        (["Honestly this was the plan — chat"], "Honestly this was the plan —"),
        (['She said "no way at all," then'], 'She said "no way at all,"'),
        (["Three things for tonight: bread"], "Three things for tonight:"),
    ],
)
def test_first_chunk_marks(pieces: list[str], first: str) -> None:
    buffer = SentenceBuffer(first_chunk_words=4)
    out = [chunk for piece in pieces for chunk in buffer.feed(piece)]
    assert out == [first]


def test_first_chunk_words_must_be_positive() -> None:
    with pytest.raises(ValueError, match="first_chunk_words"):
        SentenceBuffer(first_chunk_words=0)


_clause_text = st.lists(
    st.sampled_from([*"abcXYZ019 .!?'\"\n,;:😂", " - ", " — ", "Mr. ", "1,000 ", "... "]),
    max_size=120,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(
    text=_clause_text,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    min_words=st.integers(min_value=1, max_value=6),
)
def test_buffer_with_a_first_clause_loses_nothing(
    text: str, cuts: list[int], min_words: int
) -> None:
    buffer = SentenceBuffer(first_chunk_words=min_words)
    out: list[str] = []
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    for a, b in itertools.pairwise(bounds):
        out.extend(buffer.feed(text[a:b]))
    out.extend(buffer.flush())
    assert all(chunk and chunk == chunk.strip() for chunk in out)
    if not out:
        assert not text.strip()
        return
    whole = text.lstrip()
    assert whole.startswith(out[0])
    # after the first chunk, the rest comes out as if split whole
    assert out[1:] == split_sentences(whole[len(out[0]) :])
    if out[0] != split_sentences(text)[0]:
        assert len(words(out[0])) >= min_words
