"""The per-line rules alone: bot-like lines and the street-address scrubber."""

from __future__ import annotations

import pytest

from cohost.dataset.clean import RULES, LineRules, scrub_personal


@pytest.mark.parametrize(
    "text",
    [
        "I got 4 wheel drive on my truck",
        "im 17 just starting to drive",
        "it's a 2 way street",
        "we did a 5 hour road trip",
        "took a 100 mile drive today",
        "the 3 lane road was closed",
    ],
)
def test_numbers_before_everyday_words_are_not_addresses(text: str) -> None:
    assert scrub_personal(text) == (text, {})


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("I live at 221B Baker Street", "I live at <address>"),
        ("1600 Pennsylvania Avenue NW", "<address> NW"),
        ("742 evergreen terrace", "<address>"),
        ("send it to 10 Downing St. please", "send it to <address> please"),
        ("12 Oak Drive", "<address>"),  # a common word, but written as on an envelope
        ("1234 maple dr", "<address>"),  # a common word, but a house number's shape
        ("flat 4B Elm Court", "flat <address>"),
        ("4 wheel drive to 12 Elm Drive", "4 wheel drive to <address>"),
    ],
)
def test_street_addresses_are_scrubbed(text: str, scrubbed: str) -> None:
    assert scrub_personal(text) == (scrubbed, {"address": 1})


@pytest.mark.parametrize(
    "text",
    [
        "Now Playing: Blinding Lights by The Weeknd",
        "\U0001f3b5 Now playing Never Gonna Give You Up - Rick Astley",
        "Current song: Sandstorm requested by bob",
        "@bob -> The song Sandstorm has been added to the queue at position #3",
    ],
)
def test_music_bot_lines_are_bot_like_whoever_posts_them(text: str) -> None:
    rules = LineRules()
    assert rules.check("songbot_9000", text) is None
    assert rules.tally.removed["botlike"] == 1
    assert rules.tally.detail["botlike.music"] == 1


def test_talk_about_playing_is_not_a_music_bot() -> None:
    rules = LineRules()
    for text in ["now playing dark souls again", "what song is this", "this song is amazing"]:
        assert rules.check("viewer", text) == text
    assert rules.tally.removed["botlike"] == 0


def test_adverts_and_timers_are_bot_like() -> None:
    rules = LineRules(duplicate_lookback=5)
    advert = "Join our Discord Channel over at http://discord.gg/somechannel and read the rules"
    timer = "Remember to hydrate and stretch, the stream goes on for hours"
    assert rules.check("mod", advert) is None  # a link with an invitation, the first time too
    assert rules.check("mod", timer) == timer  # once is chat
    for i in range(10):  # the duplicate lookback lets it go
        rules.check(f"viewer{i}", f"chat line number {i}")
    assert rules.check("mod", timer) is None  # again, long after: a timer
    assert rules.tally.removed["botlike"] == 2
    assert rules.tally.detail["botlike.advert"] == 1
    assert rules.tally.detail["botlike.repeat"] == 1


def test_what_comes_back_by_chance_is_not_an_advert() -> None:
    rules = LineRules(enabled={"botlike"}, duplicate_lookback=1)
    line = "adum can you bring back the song from last night"
    kept = [
        rules.check("viewer", "LUL LUL"),  # short lines come back by chance
        rules.check("other", "gg"),
        rules.check("viewer", "LUL LUL"),
        rules.check("viewer", line),
        rules.check("friend", line),  # someone else's words are not a repeat
        rules.check("viewer", "did you see the meme I posted https://www.reddit.com/r/YMS/x"),
    ]
    assert None not in kept
    assert rules.tally.removed["botlike"] == 0


def test_bot_like_switched_off_keeps_them() -> None:
    rules = LineRules(enabled=set(RULES) - {"botlike"})
    assert rules.check("songbot", "Now Playing: Sandstorm") == "Now Playing: Sandstorm"
    assert rules.check("mod", "follow me at https://twitter.com/mod") is not None
    assert rules.tally.removed["botlike"] == 0


def test_memory_of_posted_lines_is_bounded() -> None:
    rules = LineRules(duplicate_lookback=1, advert_memory=2)
    lines = [f"this is long line number {i} of the stream" for i in range(3)]
    for text in lines:
        assert rules.check("viewer", text) == text
    assert rules.check("viewer", lines[0]) == lines[0]  # forgotten: the oldest of three
    assert rules.check("viewer", lines[2]) is None
