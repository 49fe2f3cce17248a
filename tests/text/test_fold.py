"""Text folding: each form sees through what it should, and keeps what spells."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cohost.text.fold import (
    ZERO_WIDTH,
    Cleaned,
    alnum_key,
    clean_characters,
    folded_words,
    read_words,
    same_text_key,
    skeleton,
    skeletons,
    unspaced,
    whole_words,
    word_set,
    words,
)

# ---- clean_characters --------------------------------------------------------------------


def test_control_zero_width_and_bidi_characters_are_removed() -> None:
    text = "hi\u202e there\u200b\x07  friend\u2066 \u3164 ok\n\tbye"
    assert clean_characters(text) == Cleaned(text="hi there friend ok bye", removed=5, stacked=0)


def test_emoji_sequences_keep_their_joiners() -> None:
    family = "👨\u200d👩\u200d👧"
    rainbow = "🏳\ufe0f\u200d🌈"
    text = f"{family} and {rainbow}"
    assert clean_characters(text) == Cleaned(text=text, removed=0, stacked=0)
    # a joiner between letters joins nothing that is drawn
    assert clean_characters("a\u200db") == Cleaned(text="ab", removed=1, stacked=0)


def test_zalgo_towers_are_taken_down() -> None:
    zalgo = "H\u0338\u0322\u031b\u031b\u031b\u0347i\u034e\u0347\u0348 chat"
    assert clean_characters(zalgo) == Cleaned(text="Hi chat", removed=0, stacked=9)


@pytest.mark.parametrize(
    "spelled",
    [
        "c\u1eb7c b\u1ea1n",  # Vietnamese puts two marks on one letter
        "a\u00f1o",
        "\u3070\u304b",
        "\u1f84\u03b4\u03c9 \u03ba\u03b1\u1f76 \u1f97 \u1fa7",  # polytonic Greek: 3 marks
        "\uf900 \u2126",  # compatibility characters keep their code points
        "e\u0301t\u00e9",  # an accent written apart, as typed
    ],
)
def test_accents_that_spell_stay_as_they_are(spelled: str) -> None:
    assert clean_characters(spelled) == Cleaned(text=spelled, removed=0, stacked=0)


def test_zero_width_characters_are_all_format_characters() -> None:
    # clean_characters removes them by their category, wherever they stand
    for char in ZERO_WIDTH:
        assert clean_characters(f"a{char}b").text == "ab", hex(ord(char))


# ---- skeletons ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dressed", "plain"),
    [
        ("oh \u0455lur", "oh slur"),  # a Cyrillic dze in a Latin word
        ("oh \u0405LUR", "oh slur"),
        ("\uff53\uff4c\uff55\uff52", "slur"),  # fullwidth
        ("\U0001d42c\U0001d425\U0001d42e\U0001d42b", "slur"),  # mathematical bold
        ("\ua731\u029f\u1d1c\u0280", "slur"),  # small capitals
        ("s\u0338l\u0338u\u0338r\u0338", "slur"),  # overlays
        ("SL\u0130R", "slir"),  # a Turkish capital dotted I brings no stray mark
        ("c\u043b\u043e\u0432\u043e", "\u0441\u043b\u043e\u0432\u043e"),  # Latin c, Cyrillic word
        ("a\u00f1o", "a\u00f1o"),  # an accent that spells stays
        ("naz\u0131", "naz\u0131"),  # a dotless i is another letter
    ],
)
def test_a_skeleton_sees_through_styles_marks_and_spoofs(dressed: str, plain: str) -> None:
    assert skeleton(dressed) == plain


def test_a_word_wholly_of_look_alikes_is_read_in_the_script_around_it() -> None:
    posing = "what the \u043d\u0435\u0441\u043a, chat"  # "heck" in Cyrillic, in English
    assert skeleton(posing) == "what the heck, chat"
    assert skeleton(posing, by_context=False) == posing
    assert skeleton("\u043d\u0435\u0441\u043a") == "\u043d\u0435\u0441\u043a"  # alone: a word


def test_skeletons_read_a_word_both_ways_and_see_breaks_that_marks_draw() -> None:
    posing = "what the \u043d\u0435\u0441\u043a, chat"
    assert skeletons(posing) == ("what the heck, chat", posing)
    struck = "system\u0301\u0336badword"
    read = skeletons(struck)
    assert read[0] == "syste\u1e3fbadword" and read[-1] == "system badword"
    assert skeletons("sl\u00fcr") == ("sl\u00fcr", "sl\u00fcr")
    assert skeletons("sl\u00fcr", fold_accents=True) == ("slur", "slur")
    assert skeletons("\u306f\u304b", fold_accents=True) == ("\u306f\u304b", "\u306f\u304b")


# ---- folded words ------------------------------------------------------------------------


def test_folded_words_fold_case_punctuation_width_accents_and_apostrophes() -> None:
    folded = [w for w, _, _ in folded_words("DON'T Ｌｉｓｂｏｎ—café, well-known")]
    assert folded == ["dont", "lisbon", "cafe", "well", "known"]
    text = "  Hello, WORLD!"
    assert [(text[s:e], w) for w, s, e in folded_words(text)] == [
        ("Hello", "hello"),
        ("WORLD", "world"),
    ]


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("law\u034fyer ho\ufe0fuse", ["lawyer", "house"]),  # a grapheme joiner, a selector
        ("law\u00adyer mov\u200bing", ["lawyer", "moving"]),  # invisible inside words
        ("ﾏｰｸ", ["マ", "ー", "ク"]),  # half-width katakana
        ("dıvorce hօuse", ["divorce", "house"]),  # dotless i, Armenian o
        ("Mу ѕіѕtеr", ["my", "sister"]),  # Cyrillic look-alikes
        ("ᴍʏ ꜱɪꜱᴛᴇʀ", ["my", "sister"]),  # small capitals
        ("h0us3 k1ds 2024", ["house", "kids", "2024"]),  # digits in words of letters
        ("2 kids & the dog", ["2", "kids", "and", "the", "dog"]),
        ("two kids and the dog", ["2", "kids", "and", "the", "dog"]),
    ],
)
def test_folded_words_are_read_as_they_are_said(written: str, read: list[str]) -> None:
    assert [w for w, _, _ in folded_words(written)] == read


def test_in_scripts_without_spaces_each_character_is_a_word() -> None:
    assert [w for w, _, _ in folded_words("引っ越す")] == ["引", "っ", "越", "す"]
    assert unspaced("引") and unspaced("ก") and not unspaced("a")


def test_a_word_touching_the_end_of_a_stream_is_not_whole_yet() -> None:
    assert whole_words("one two thr") == 2
    assert whole_words("one two three ") == 3
    assert whole_words("") == 0


@given(st.text(max_size=40))
def test_folded_words_point_at_their_place_in_the_text(text: str) -> None:
    ends = [0]
    for word, start, end in folded_words(text):
        assert word
        assert ends[-1] <= start < end <= len(text)
        ends.append(end)


# ---- plain forms -------------------------------------------------------------------------


def test_words_are_case_folded_and_keep_apostrophes_inside() -> None:
    assert words("Don't STOP, me-now! It’s") == ["don't", "stop", "me", "now", "it's"]


def test_same_text_key_ignores_case_and_spacing_only() -> None:
    assert same_text_key("  Hello\tCHAT  ") == same_text_key("hello chat") == "hello chat"
    assert same_text_key("hello, chat") != same_text_key("hello chat")


def test_the_pickers_forms_are_lowercase_words_and_letters() -> None:
    assert word_set("Is IT the same? it is_ok") == frozenset({"is", "it", "the", "same", "is_ok"})
    assert alnum_key("BAN the couch-guy!! 2_times") == "banthecouchguy2times"


@pytest.mark.parametrize(
    ("styled", "plain"),
    [("ＫＩＬＬ", "kill"), ("𝐊𝐈𝐋𝐋", "kill"), ("Ⅰ", "i"), ("𝟒𝟒𝟕𝟏", "4471"), ("𝟏𝟎", "10")],
)
def test_styled_and_fullwidth_letters_and_digits_read_as_themselves(
    styled: str, plain: str
) -> None:
    # a review found them read as their look-alikes (I and 1 as l, 0 as o) once confusables came
    assert skeleton(styled) == plain
    assert "".join(read_words(styled)) == plain
