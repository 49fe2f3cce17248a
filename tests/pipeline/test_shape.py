"""ReplyShaper: a rewriter's reply keeps only the twin's own words, however the stream is cut."""

from __future__ import annotations

import itertools
import random

import pytest

from cohost.pipeline.shape import ReplyShaper

TWIN = ("twin",)
OTHERS = ("ana", "bo", "Cyra")


def shaped(text: str, cuts: list[int] | None = None) -> tuple[str, list[str], bool]:
    """The reply as the shaper passes it on, fed in pieces cut at these offsets."""
    shaper = ReplyShaper(TWIN, OTHERS)
    bounds = [0, *(cuts or []), len(text)]
    out = []
    for a, b in itertools.pairwise(bounds):
        out.append(shaper.feed(text[a:b]))
        if shaper.done:
            break
    out.append(shaper.flush())
    return "".join(out).strip(), shaper.changes, shaper.done


CASES = [
    # the twin's label, however it is written
    ("twin: the boss is easy if you wait", "the boss is easy if you wait"),
    ("Twin : hey", "hey"),
    ("@twin: hey", "hey"),
    ("**twin:** hi there", "hi there"),
    ("**twin**: hi there", "hi there"),
    ("twin:", ""),
    ("twin: *waves* hi ana", "*waves* hi ana"),  # a label before an emote
    ("**twin:**\nHey ana, welcome back!", "Hey ana, welcome back!"),  # alone on its line
    ("twin:\nHey ana!\nana: thx", "Hey ana!"),
    ("ana:\ntwin: yes\nbo: x", "yes"),
    # quotes around the reply
    ('"Welcome back, ana! Long route again."', "Welcome back, ana! Long route again."),
    ("“all curly”", "all curly"),
    ('twin: "hi ana"', "hi ana"),
    ('"twin: hi ana"', "hi ana"),
    ('"quoted" ', "quoted"),
    ('"hi" she said', "hi she said"),  # the pair goes, never one quote alone
    # the chat after the reply
    ("hi ana\nana: lol\ntwin: more", "hi ana"),
    ("hi\n\nbo: hey", "hi"),
    ("twin: line one\ntwin: line two\nana: x", "line one\nline two"),
    ("cyra: wait\ntwin: yes we are\nbo: nice", "yes we are"),
    ("ana: one\nbo: two", "one"),  # only lines for others: the first is all it offered
    # a colon after any other word is words
    ("PSA: the stream ends at 10:30 tonight", "PSA: the stream ends at 10:30 tonight"),
    ("see https://example.com now", "see https://example.com now"),
    ("dex: is not in chat, so this is words", "dex: is not in chat, so this is words"),
    ("@ana: welcome back!\nHow was the trip?", "@ana: welcome back!\nHow was the trip?"),
    ("plain reply. with two sentences.", "plain reply. with two sentences."),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_the_reply_keeps_only_the_twins_words(text: str, expected: str) -> None:
    assert shaped(text)[0] == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_the_same_however_the_stream_is_cut(text: str, expected: str) -> None:
    rng = random.Random(text)
    assert shaped(text, list(range(1, len(text))))[0] == expected  # a character at a time
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(1, 6))))
        assert shaped(text, cuts)[0] == expected, cuts


def test_what_it_took_out_is_said() -> None:
    text, changes, done = shaped('twin: "hi ana"\nana: thanks')
    assert text == "hi ana"
    assert changes == [
        "the label 'twin'",
        "the quotes around the reply",
        "the lines after the reply, from 'ana' on",
    ]
    assert done
    assert shaped("nothing to take out")[1:] == ([], False)


def test_once_another_speaker_begins_nothing_more_is_read() -> None:
    shaper = ReplyShaper(TWIN, OTHERS)
    assert shaper.feed("hi ana\n") == "hi ana\n"
    assert shaper.feed("ana: lol and more") == ""
    assert shaper.done
    assert shaper.feed(" still more") == ""
    assert shaper.flush() == ""


def test_a_label_is_held_only_until_it_is_known() -> None:
    shaper = ReplyShaper(TWIN, OTHERS)
    assert shaper.feed("tw") == ""  # could be the twin's label
    assert shaper.feed("ist") == "twist"  # words: passed on at once
    assert shaper.feed(" and shout") == " and shout"


def test_the_twin_is_never_taken_for_another_speaker() -> None:
    shaper = ReplyShaper(("ana",), ("ana", "bo"))  # the twin's name is also a login in chat
    assert shaper.feed("ana: hi bo\nbo: ") + shaper.flush() == "hi bo\n"
    assert shaper.done
