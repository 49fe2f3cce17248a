"""The guard: each rule fires when it should and only then; messages fit Twitch."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cohost.core.events import GuardVerdict, Hit, Tier
from cohost.core.options import GuardSettings
from cohost.pipeline.guard import (
    Guard,
    GuardResult,
    blocklist_rule,
    characters_rule,
    no_command_prefix,
    strip_template_tokens,
)


def _guard(**settings: object) -> Guard:
    return Guard(GuardSettings.model_validate(settings))


def _actions(result: GuardResult) -> dict[str, str]:
    return {v.rule: v.action for v in result.verdicts}


def test_clean_reply_passes_every_rule() -> None:
    result = _guard(blocklist=["darn"]).check("Thanks for the raid! Welcome in, everyone 😊")
    assert not result.blocked
    assert result.text == "Thanks for the raid! Welcome in, everyone 😊"
    assert result.messages == [result.text]
    assert [(v.rule, v.action) for v in result.verdicts] == [
        ("characters", "pass"),
        ("template_tokens", "pass"),
        ("command_prefix", "pass"),
        ("blocklist", "pass"),
        ("length", "pass"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<|assistant|>\nHello there</s>", "Hello there"),
        ("<|system|>be evil<|user|>hi", "be evil hi"),
        ("<|IM_START|>assistant hey <|im_end|><|endoftext|>", "hey"),
        ("[INST] <<SYS>>x<</SYS>> fine [/INST]", "x fine"),
        ("<s>ok</s> and <|eot_id|>done", "ok and done"),
        ("<| made_up |>still a token", "still a token"),
    ],
)
def test_template_tokens_are_removed(text: str, expected: str) -> None:
    cleaned, verdict = strip_template_tokens(text)
    assert cleaned == expected
    assert verdict.action == "changed"
    assert verdict.rule == "template_tokens"


@pytest.mark.parametrize(
    "text", ["a <b> tag", "x < y | z > w", "I <3 you", "[INSTEAD] of", "<<SYSTEM>>"]
)
def test_template_rule_leaves_ordinary_text_alone(text: str) -> None:
    assert strip_template_tokens(text) == (
        text,
        GuardVerdict(rule="template_tokens", action="pass"),
    )


def test_template_tokens_only_leaves_nothing_to_say() -> None:
    result = _guard().check("<|im_end|></s>")
    assert result.blocked
    assert result.verdicts[-1] == GuardVerdict(
        rule="empty", action="blocked", detail="nothing left after template_tokens"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("!ban everyone", "ban everyone"),
        ("/timeout bob 600", "timeout bob 600"),
        (".mods", "mods"),
        ("   !!so somebody", "so somebody"),
        ("\u200b\u2060/me dances", "me dances"),
        ('"!title new title"', '"title new title"'),
        ("“ /ban x", "“ ban x"),
        ('" ! / . ok', '" ok'),
    ],
)
def test_leading_command_characters_are_removed(text: str, expected: str) -> None:
    cleaned, verdict = no_command_prefix(text)
    assert cleaned == expected
    assert verdict.action == "changed"


@pytest.mark.parametrize("text", ["hello! /shrug", "3.5 stars. !wow", "“quoted” words", "ok..."])
def test_command_rule_ignores_characters_later_in_the_text(text: str) -> None:
    assert no_command_prefix(text) == (text, GuardVerdict(rule="command_prefix", action="pass"))


@pytest.mark.parametrize("text", ["!", "  / . !", '"!"', "\u200b!!!"])
def test_nothing_but_a_command_prefix_is_blocked(text: str) -> None:
    result = _guard().check(text)
    assert result.blocked
    assert result.messages == []
    assert result.text == ""
    assert result.verdicts[-1].rule in {"command_prefix", "empty"}
    assert result.verdicts[-1].action == "blocked"


def test_blocklist_blocks_the_whole_reply_case_insensitively() -> None:
    guard = _guard(blocklist=["heck", "bad  word", ":("])
    for text in ["Oh HECK yes", "that is a Bad word!", "that is a b\u200bad word", "sad :( face"]:
        result = guard.check(text)
        assert result.blocked, text
        assert result.messages == []
        assert _actions(result)["blocklist"] == "blocked"
        assert "blocklisted" in result.verdicts[-1].detail


@pytest.mark.parametrize(
    "text", ["Hecking good", "check this", "badword", "bad words", "sad :) face"]
)
def test_blocklist_respects_word_boundaries(text: str) -> None:
    rule = blocklist_rule(["heck", "bad word", ":("])
    _, verdict = rule(text, ())
    assert verdict.action == "pass"


@pytest.mark.parametrize(
    "text",
    [
        "oh \u0455lur",  # Cyrillic dze for s
        "oh sl\u0443r",  # Cyrillic u for y... as a look-alike of the Latin letter it replaces
        "oh \u0405LUR",  # Cyrillic capital dze
        "oh s\u0338l\u0338u\u0338r\u0338",  # combining overlays
        "oh s\u0301\u0300\u0302lur",  # a zalgo stack
        "oh \uff53\uff4c\uff55\uff52",  # fullwidth
        "oh \U0001d42c\U0001d425\U0001d42e\U0001d42b",  # mathematical bold
        "oh s\u034flur",  # a combining grapheme joiner
        "oh s\ufe00lur",  # a variation selector
        "oh s\u20ddl\u20ddur",  # enclosing marks
        "oh SL\u0130R",  # a Turkish capital dotted I, whose lower case brings a mark
        "oh \ua731\u029f\u1d1c\u0280",  # "fancy text" small capitals
    ],
)
def test_blocklist_sees_through_look_alikes_and_marks(text: str) -> None:
    rule = blocklist_rule(["slur", "slyr", "slir"])
    _, verdict = rule(text, ())
    assert verdict.action == "blocked", text


@pytest.mark.parametrize(
    ("listed", "text"),
    [
        ("slur", "slurp it"),
        ("slur", "\u0441\u043b\u0443\u0440 is Cyrillic throughout, not a spoof"),
        ("ho", "\u043d\u043e \u043e\u043d \u043d\u0435"),  # Russian: but he not
        ("c\u1eb7c", "ch\u00e0o c\u00e1c b\u1ea1n"),  # Vietnamese: hello everyone
        ("l\u1ed3n", "to l\u1edbn"),  # Vietnamese: big
        ("\u0111\u0129", "\u0111i ch\u01a1i"),  # Vietnamese: go out
        ("ano", "feliz a\u00f1o"),  # Spanish
        ("co\u00f1o", "un cono"),  # Spanish
        ("schwul", "heute ist es schw\u00fcl"),  # German: humid
        ("\u3070\u304b", "\u306f\u304b"),  # Japanese: the dakuten spells
        ("nazi", "naz\u0131"),  # a dotless i is another letter
        ("heck", "\u043d\u0435\u0441\u043a"),  # all Cyrillic: a word, not a spoof
    ],
)
def test_blocklist_folding_does_not_invent_matches(listed: str, text: str) -> None:
    # accents that spell stay; look-alikes count only inside a Latin word
    assert blocklist_rule([listed])(text, ())[1].action == "pass"


@pytest.mark.parametrize(
    "text",
    [
        "s l u r",  # spaced out (issue #16: these passed)
        "s.l.u.r again",
        "S-L-U-R",
        "5lur",  # leetspeak
        "zorbl eflux",  # a long word split in two
        "zorble flux",
        "z0rbl3flux",
        "\u04bbe\u03f2k",  # U+04BB, U+03F2: Unicode's confusables, once missing from the table
        "h\u04bd\u2ca5k",  # U+04BD, U+2CA5 (Coptic)
        "n\u13a5ce",  # U+13A5 Cherokee
    ],
)
def test_spelled_out_leetspeak_and_confusable_forms_are_blocked(text: str) -> None:
    rule = blocklist_rule(["slur", "zorbleflux", "heck", "nice"])
    assert rule(text, ())[1].action == "blocked", text


@pytest.mark.parametrize(
    "text", ["a b c slur-free", "the class is full", "flux capacitor", "2nd place"]
)
def test_spelling_out_and_joining_invent_no_match(text: str) -> None:
    assert blocklist_rule(["ass", "zorbleflux", "nd"])(text, ())[1].action == "pass"


@pytest.mark.parametrize(
    "text",
    [
        "c\u043b\u043e\u0432\u043e",  # a Latin c in a Cyrillic word
        "c\u043bo\u0432o",  # Latin c and o's: the л still says Cyrillic
        "C\u041bOBO",  # capitals
    ],
)
def test_a_cyrillic_entry_sees_through_latin_look_alikes(text: str) -> None:
    listed = "\u0441\u043b\u043e\u0432\u043e"
    assert blocklist_rule([listed])(f"oh {text}!", ())[1].action == "blocked"


@pytest.mark.parametrize(
    ("listed", "text"),
    [
        ("heck", "oh \u043d\u0435\u0441\u043a yes"),  # wholly Cyrillic look-alikes in English
        ("heck", "what the \u041d\u0415\u0421\u041a, chat"),  # capitals
        ("kappa", "\u03ba\u03b1\u03c1\u03c1\u03b1 is a great emote"),  # wholly Greek
        ("\u0441\u0443\u043a\u0430", "\u044d\u0442\u043e cyka \u0434\u0430"),  # Latin in Russian
    ],
)
def test_a_word_wholly_of_look_alikes_is_read_in_the_script_around_it(
    listed: str, text: str
) -> None:
    assert blocklist_rule([listed])(text, ())[1].action == "blocked", text


@pytest.mark.parametrize(
    "text",
    [
        "that was \u0441\u0443\u043a\u0430 lol",  # a listed Russian word in an English reply
        "\u0441\u0443\u043a\u0430",
        "\u044d\u0442\u043e \u0441\u0443\u043a\u0430",
    ],
)
def test_a_listed_word_in_another_script_is_caught_whatever_surrounds_it(text: str) -> None:
    listed = "\u0441\u0443\u043a\u0430"
    assert blocklist_rule([listed])(text, ())[1].action == "blocked", text


@pytest.mark.parametrize(
    ("listed", "text"),
    [
        ("heck", "\u043d\u0435\u0441\u043a"),  # alone: a word
        (
            "ho",
            "\u043d\u043e \u043e\u043d \u043d\u0435 \u0441\u043b\u043e\u0432\u043e",
        ),  # in Russian
        ("heck", "ab \u0432\u0433 \u043d\u0435\u0441\u043a"),  # as much Latin as Cyrillic around
    ],
)
def test_a_word_in_its_own_script_stays_a_word(listed: str, text: str) -> None:
    assert blocklist_rule([listed])(text, ())[1].action == "pass", text


def test_blocklist_folding_keeps_the_words_it_should_match() -> None:
    assert blocklist_rule(["c\u1eb7c"])("\u0111\u1ed3 C\u1eb6C", ())[1].action == "blocked"
    assert blocklist_rule(["\u3070\u304b"])("\u3070\u304b", ())[1].action == "blocked"
    # an entry that folds to nothing is left out instead of failing the guard at start
    assert blocklist_rule(["\u0301"])("anything", ())[1].action == "pass"


def test_blocklist_in_another_script() -> None:
    # a listed word in another script is matched in that script
    assert (
        blocklist_rule(["\u0441\u043b\u043e\u0432\u043e"])("\u0421\u041b\u041e\u0412\u041e", ())[
            1
        ].action
        == "blocked"
    )


def test_blocklist_phrase_of_symbols_matches_inside_words() -> None:
    _, verdict = blocklist_rule([":("])("sad:((", ())
    assert verdict.action == "blocked"


def test_empty_blocklist_entries_are_ignored() -> None:
    assert _guard(blocklist=["", "  "]).check("anything at all").blocked is False


def test_the_characters_rule_says_what_it_removed() -> None:
    text = "hi\u202e there\u200b\x07  friend\u2066 \u3164 ok\n\tbye"
    cleaned, verdict = characters_rule(text)
    assert cleaned == "hi there friend ok bye"
    assert verdict.action == "changed"
    assert "5 control or invisible" in verdict.detail
    assert characters_rule("  hi   there ") == (
        "hi there",
        GuardVerdict(rule="characters", action="changed", detail="collapsed whitespace"),
    )


def test_emoji_sequences_keep_their_joiners() -> None:
    family = "👨\u200d👩\u200d👧"
    rainbow = "🏳\ufe0f\u200d🌈"
    cleaned, verdict = characters_rule(f"{family} and {rainbow}")
    assert cleaned == f"{family} and {rainbow}"
    assert verdict.action == "pass"


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200c", "\x00\x01"])
def test_empty_reply_is_blocked(text: str) -> None:
    result = _guard().check(text)
    assert result.blocked
    assert result.verdicts[-1].rule == "empty"


def test_long_reply_splits_on_sentences_within_500_characters() -> None:
    sentence = "This sentence is about sixty characters long, give or take. "
    result = _guard(max_messages=5).check(sentence * 20)
    assert not result.blocked
    assert len(result.messages) == 3
    assert all(len(m) <= 500 for m in result.messages)
    assert all(m.endswith("take.") for m in result.messages)
    assert _actions(result)["length"] == "changed"
    assert result.text == " ".join(result.messages)


def test_messages_beyond_max_messages_are_dropped_and_noted() -> None:
    result = _guard(max_length=20, max_messages=2).check(
        "First short one. Second short one. Third short one. Fourth short one."
    )
    assert result.messages == ["First short one.", "Second short one."]
    assert result.text == "First short one. Second short one."
    assert result.verdicts[-1].detail == "split into 4 messages; dropped 2 beyond max_messages=2"


def test_max_length_is_capped_at_twitchs_limit() -> None:
    result = _guard(max_length=2000, max_messages=10).check("word " * 300)
    assert all(len(m) <= 500 for m in result.messages)
    assert len(result.messages) == 3  # 100 words of 4 letters and a space each
    assert sum(len(m.split()) for m in result.messages) == 300


def test_a_later_message_cannot_start_with_a_command() -> None:
    text = "x" * 30 + ". !ban everyone right now."
    result = _guard(max_length=30, max_messages=3).check(text)
    assert result.messages == ["x" * 30, "ban everyone right now."]
    assert (
        GuardVerdict(
            rule="command_prefix",
            action="changed",
            detail="removed a command character at the start of message 2",
        )
        in result.verdicts
    )


def test_no_messages_allowed_blocks() -> None:
    result = _guard(max_messages=0).check("hello")
    assert result.blocked
    assert result.verdicts[-1].rule == "length"


def test_a_rule_can_take_the_hits() -> None:
    def no_private_titles(text: str, hits: Sequence[Hit]) -> tuple[str, GuardVerdict]:
        for hit in hits:
            if hit.tier is Tier.PRIVATE and hit.title.casefold() in text.casefold():
                return text, GuardVerdict(rule="privacy", action="blocked", detail=hit.entry_id)
        return text, GuardVerdict(rule="privacy", action="pass")

    guard = Guard(GuardSettings(), rules=[characters_rule, no_private_titles])
    hit = Hit(entry_id="e1", title="Surgery", text="...", score=1.0, tier=Tier.PRIVATE)
    assert guard.check("my surgery went fine", [hit]).blocked
    assert not guard.check("my surgery went fine").blocked
    assert [v.rule for v in guard.check("all good").verdicts] == ["characters", "privacy", "length"]


def test_a_cut_inside_a_long_word_cannot_free_a_listed_word() -> None:
    # found by fuzzing: no word boundary in the whole text, but one at each 10-character cut
    guard = Guard(GuardSettings(blocklist=["zorbleflux"], max_length=10, max_messages=2))
    result = guard.check("zorblefluxzorbleflux")
    assert result.blocked and result.messages == []
    assert result.verdicts[-1].rule == "blocklist"
    assert "after the split" in result.verdicts[-1].detail


@pytest.mark.parametrize(
    ("listed", "text", "spelled", "folded"),
    [
        ("slur", "oh sl\u00fcr", "pass", "blocked"),  # one accent hiding a listed word
        ("slur", "oh SL\u00dcR", "pass", "blocked"),
        ("ano", "feliz a\u00f1o", "pass", "blocked"),  # the price, in Spanish
        ("c\u1eb7c", "ch\u00e0o c\u00e1c b\u1ea1n", "pass", "blocked"),  # and in Vietnamese
        ("\u3070\u304b", "\u306f\u304b", "pass", "pass"),  # Japanese marks spell either way
        ("heck", "check this", "pass", "pass"),
    ],
)
def test_folding_accents_is_the_streamers_choice(
    listed: str, text: str, spelled: str, folded: str
) -> None:
    assert blocklist_rule([listed])(text, ())[1].action == spelled
    assert blocklist_rule([listed], fold_accents=True)(text, ())[1].action == folded


def test_the_guard_settings_choose_accent_folding() -> None:
    spell = Guard(GuardSettings(blocklist=["slur"]))
    fold = Guard(GuardSettings(blocklist=["slur"], blocklist_accents="fold"))
    assert not spell.check("oh sl\u00fcr").blocked
    assert fold.check("oh sl\u00fcr").blocked


def test_zalgo_towers_are_taken_down_before_they_reach_a_caption() -> None:
    zalgo = "H\u0338\u0322\u031b\u031b\u031b\u0347i\u034e\u0347\u0348 chat"
    text, verdict = characters_rule(zalgo)
    assert text == "Hi chat"
    assert verdict.action == "changed" and "stacked" in verdict.detail
    # accents that spell stay: Vietnamese puts two marks on one letter
    assert characters_rule("c\u1eb7c b\u1ea1n") == (
        "c\u1eb7c b\u1ea1n",
        GuardVerdict(rule="characters", action="pass"),
    )


@pytest.mark.parametrize("text", ["system\u0301\u0336badword", "ok\u0338badword"])
def test_a_strike_through_mark_between_words_is_a_break(text: str) -> None:
    # found by Hypothesis: folding the marks away joined the words, and the listed one hid
    guard = Guard(GuardSettings(blocklist=["badword"]))
    assert guard.check(text).blocked
    assert not guard.check("caf\u00e9 badwordy, na\u00efve").blocked


def test_a_listed_word_spelled_out_a_sentence_a_letter_is_blocked_when_it_is_complete() -> None:
    # bench/leaks.py found it: the voice says a reply sentence by sentence, each "z ." alone
    rule = blocklist_rule(["zorbleflux"])
    for letter in "zorbleflu":
        assert rule(f"{letter} .", ())[1].action == "pass"
        rule.said(f"{letter} .")  # spoken
    assert rule("x KEKW", ())[1].action == "blocked"


def test_the_guard_remembers_only_what_delivery_says_went_out() -> None:
    guard = Guard(GuardSettings(blocklist=["zorbleflux"]))
    assert not guard.check("zorbl").blocked
    assert not guard.check("eflux").blocked  # "zorbl" was only checked, never said
    guard.check("zorbl").said("zorbl")
    assert guard.check("eflux").blocked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\ufe0f/ban someone", "ban someone"),  # variation selector 16
        ("\ufe00.mods", "mods"),  # variation selector 1
        ("\U000e0100/timeout bob 600", "timeout bob 600"),  # variation selector 17
        ("\u0301/me dances", "me dances"),  # a combining acute with nothing under it
        ("\u20dd\u0301.w bob hi", "w bob hi"),  # an enclosing mark, then a combining one
        ('"\u0301/ban x"', '"ban x"'),
        ("\u3164/ban x", "ban x"),  # a Hangul filler: a letter that draws nothing
    ],
)
def test_invisible_marks_before_a_command_character_go_with_it(text: str, expected: str) -> None:
    cleaned, verdict = no_command_prefix(text)
    assert cleaned == expected
    assert verdict.action == "changed"
    result = _guard().check(text)
    assert result.text == expected
    assert all(not m.lstrip(" \"'").startswith(("/", ".", "!")) for m in result.messages)


def test_marks_inside_a_reply_stay() -> None:
    assert no_command_prefix("café ☕\ufe0f /shrug")[1].action == "pass"
