"""The privacy rule: no run of n words from a private entry, however it is dressed up."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohost.core.events import Hit, Tier
from cohost.core.options import GuardSettings
from cohost.pipeline.guard import Guard, default_rules
from cohost.pipeline.privacy import (
    find_private_runs,
    longest_run,
    privacy_rule,
    privacy_rule_for,
    remove_private_runs,
    secret_texts_never_in,
    speakable,
)
from cohost.text.fold import folded_words

PRIVATE_TEXT = "My sister Ana is moving to Lisbon in June because she got the job at the aquarium."


def private(text: str = PRIVATE_TEXT, title: str = "family news") -> Hit:
    return Hit(entry_id="e1", title=title, text=text, score=0.8, tier=Tier.PRIVATE)


def public(text: str = PRIVATE_TEXT) -> Hit:
    return Hit(entry_id="e2", title="announced", text=text, score=0.8, tier=Tier.PUBLIC)


def test_an_eight_word_run_is_caught_through_case_and_punctuation_changes() -> None:
    reply = "lol so, MY SISTER ana... is moving to LISBON in june?! wild"
    runs = find_private_runs(reply, [private()], n=8)
    assert len(runs) == 1
    run = runs[0]
    assert run.words == 9  # my sister ana is moving to lisbon in june
    assert reply[run.start : run.end] == "MY SISTER ana... is moving to LISBON in june"
    assert (run.entry_id, run.title, run.tier) == ("e1", "family news", Tier.PRIVATE)


def test_seven_words_are_not_a_run() -> None:
    reply = "Fun fact: my sister Ana is moving to Lisbon. Bye!"  # 7 words in a row
    assert find_private_runs(reply, [private()], n=8) == []
    assert privacy_rule(reply, [private()], n=8)[1].action == "pass"


def test_public_entries_may_be_quoted() -> None:
    reply = "As I said: my sister Ana is moving to Lisbon in June because she got the job!"
    assert find_private_runs(reply, [public()], n=8) == []
    text, verdict = privacy_rule(reply, [public()])
    assert (text, verdict.action) == (reply, "pass")


def test_trim_cuts_the_run_out_and_the_detail_never_holds_the_text() -> None:
    reply = "Big news in chat. My sister Ana is moving to Lisbon in June. Anyway, next map!"
    text, verdict = privacy_rule(reply, [private()], n=8, mode="trim")
    assert verdict.rule == "privacy" and verdict.action == "changed"
    assert text == "Big news in chat. Anyway, next map!"
    assert "family news" in verdict.detail and "9 words" in verdict.detail
    assert "Lisbon" not in verdict.detail and "sister" not in verdict.detail


def test_drop_blocks_the_whole_reply() -> None:
    reply = "Big news: my sister Ana is moving to Lisbon in June. Anyway, next map!"
    text, verdict = privacy_rule(reply, [private()], n=8, mode="drop")
    assert (text, verdict.action) == ("", "blocked")
    assert "Lisbon" not in verdict.detail


def test_a_reply_that_is_nothing_but_the_private_text_is_blocked_even_in_trim_mode() -> None:
    text, verdict = privacy_rule(PRIVATE_TEXT, [private()], mode="trim")
    assert (text, verdict.action) == ("", "blocked")


def test_a_secret_hit_blocks_outright_and_is_not_named() -> None:
    secret = Hit(
        entry_id="s", title="door code", text="the studio door code is four four nine one okay",
        score=0.9, tier=Tier.SECRET,
    )  # fmt: skip
    reply = "Hey chat, the studio door code is four four nine one, okay? Next game."
    text, verdict = privacy_rule(reply, [secret], mode="trim")
    assert (text, verdict.action) == ("", "blocked")
    assert "door code" not in verdict.detail and "secret entry" in verdict.detail


def test_remove_private_runs_tidies_spacing() -> None:
    reply = "Start , my sister Ana is moving to Lisbon in June, end."
    runs = find_private_runs(reply, [private()])
    assert remove_private_runs(reply, runs) == "Start, end."


def test_runs_from_two_places_are_both_found() -> None:
    reply = (
        "my sister Ana is moving to Lisbon in June, and also "
        "because she got the job at the aquarium."
    )
    runs = find_private_runs(reply, [private()])
    assert [r.words for r in runs] == [9, 8]


def test_secret_texts_never_in() -> None:
    secrets = ["the studio door code is four four nine one"]
    assert secret_texts_never_in(["nothing to see here"], secrets)
    assert not secret_texts_never_in(["psst: The Studio door-code is FOUR four nine one"], secrets)


_WORD = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(_WORD, max_size=10),
    after=st.lists(_WORD, max_size=10),
    start=st.integers(0, 8),
    n=st.integers(3, 10),
    upper=st.booleans(),
    sep=st.sampled_from([" ", ", ", " - ", "... ", "  "]),
)
def test_any_dressed_up_run_of_n_private_words_is_caught(
    *, before: list[str], after: list[str], start: int, n: int, upper: bool, sep: str
) -> None:
    source = PRIVATE_TEXT.split()
    run = source[start : start + n]
    if len(run) < n:
        return
    quoted = sep.join(w.upper() if upper else w for w in run)
    reply = " ".join([*before, quoted, *after])
    runs = find_private_runs(reply, [private()], n=n)
    assert runs and max(r.words for r in runs) >= n
    text, _ = privacy_rule(reply, [private()], n=n, mode="trim")
    assert find_private_runs(text, [private()], n=n) == []


def test_n_must_be_positive() -> None:
    with pytest.raises(ValueError, match="n must be"):
        find_private_runs("x", [private()], n=0)


def test_the_rule_plugs_into_the_guard() -> None:
    guard = Guard(
        GuardSettings(), rules=[*default_rules(GuardSettings()), privacy_rule_for(n=8, mode="drop")]
    )
    leaked = guard.check("Guess what: my sister Ana is moving to Lisbon in June!", [private()])
    assert leaked.blocked and leaked.text == ""
    assert leaked.verdicts[-1].rule == "privacy" and "Lisbon" not in leaked.verdicts[-1].detail
    fine = guard.check("Family stuff is private, chat.", [private()])
    assert not fine.blocked and fine.text == "Family stuff is private, chat."


def test_a_chunk_may_be_said_once_enough_whole_words_follow_it() -> None:
    chunks = ["One two three.", "Four five."]
    # n=4: three whole words must follow; "six" touching the end may still grow: not counted
    assert speakable(chunks, "One two three. Four five. six", 0, n=4) == 0
    assert speakable(chunks, "One two three. Four five. six ", 0, n=4) == 1
    assert speakable(chunks[1:], "One two three. Four five. six seven eight ", 3, n=4) == 1


@pytest.mark.parametrize(
    "dressed",
    [
        "Mу ѕіѕtеr Аnа іѕ mоvіng tо Lіѕbоn іn Junе",  # Cyrillic look-alikes for most letters
        "ᴍʏ ꜱɪꜱᴛᴇʀ ᴀɴᴀ ɪꜱ ᴍᴏᴠɪɴɢ ᴛᴏ ʟɪꜱʙᴏɴ ɪɴ ᴊᴜɴᴇ",  # "fancy text" small capitals
        "My sis\u00adter Ana is mov\u200bing to Lis\u2060bon in June",  # invisible, in words
    ],
)
def test_styled_look_alike_or_invisible_letters_hide_no_run(dressed: str) -> None:
    runs = find_private_runs(f"guess what, {dressed}!", [private()])
    assert [run.words for run in runs] == [9]


def test_a_whole_short_sentence_of_an_entry_is_a_run() -> None:
    entry = private("I'm pregnant and haven't told Mark yet. Tired.")
    runs = find_private_runs("Honestly? I'm pregnant and haven't told Mark yet.", [entry])
    assert [run.words for run in runs] == [7]
    # a short entry is one sentence; part of it, or a sentence under five words, is no run
    assert find_private_runs("pregnant and haven't told Mark", [entry]) == []
    assert find_private_runs("so tired.", [private("So tired. Long day.")]) == []


def test_in_scripts_without_spaces_a_character_is_half_a_word() -> None:
    entry = private(
        "来月ベルリンに引っ越すことはまだ誰にも言っていない。今日もみんな、ありがとうございます。"
    )
    assert [w for w, _, _ in folded_words("引っ越す")] == ["引", "っ", "越", "す"]
    # a run is twice n characters: the secret plan is caught ...
    runs = find_private_runs("実は、来月ベルリンに引っ越すことはまだ誰にも内緒", [entry])
    assert [run.words for run in runs] == [19]
    # ... an everyday phrase the entry happens to hold is not
    assert find_private_runs("みんな、ありがとうございます！また明日ね", [entry]) == []
    assert find_private_runs("お疲れ様でした！", [private("お疲れ様でした。")]) == []
    assert longest_run([entry], 8) == 16
    assert longest_run([private()], 8) == 8


def test_a_short_sentence_leaks_as_a_sentence_not_as_everyday_words() -> None:
    entry = private("I am so tired of the commute. I don't know what to do. Moving soon.")
    # whole, or at either edge of a sentence of the reply: the entry's sentence is repeated
    assert find_private_runs("Honestly? I am so tired of the commute.", [entry])
    assert find_private_runs("Honestly, I am so tired of the commute.", [entry])
    assert find_private_runs("I am so tired of the commute, chat.", [entry])
    # inside a sentence of the reply, the same words are the reply's own
    assert find_private_runs("Honestly I am so tired of the commute lately lol", [entry]) == []
    # a sentence of everyday words is nobody's secret
    assert find_private_runs("I don't know what to do.", [entry]) == []


def test_a_private_title_is_private_text_too() -> None:
    entry = private("Hard day.", title="Telling Mark about the second miscarriage at the clinic")
    reply = "telling Mark about the second miscarriage at the clinic was rough"
    assert [run.words for run in find_private_runs(reply, [entry])] == [9]


def test_trimming_never_leaves_a_new_run_where_the_cut_closed_up() -> None:
    entry = private("We told nobody that the baby is due in June, not even Mark.")
    other = private("Mark lost his job at the plant last week and we are broke.")
    reply = (
        "Well, we told nobody that Mark lost his job at the plant last week, the baby is due in "
        "June, so that is our news for today."
    )
    # the first cut joins "we told nobody that" to "the baby is due in June": a second run
    assert find_private_runs(remove_private_runs(reply, find_private_runs(reply, [other])), [entry])
    text, verdict = privacy_rule(reply, [entry, other], n=8, mode="trim")
    assert text == "Well, so that is our news for today."
    assert verdict.action == "changed"
    assert find_private_runs(text, [entry, other]) == []


def test_sentences_end_at_japanese_stops_and_at_any_ellipsis() -> None:
    japanese = private("今日は弁護士に会った。マークと離婚することにした。家は売る。")
    assert find_private_runs("実はね。マークと離婚することにした。", [japanese])
    casual = private("met the lawyer on tuesday... she said the house goes to mark... ugh")
    assert find_private_runs("honestly... she said the house goes to mark... wild", [casual])


def test_english_in_a_japanese_entry_needs_only_n_words() -> None:
    entry = private(
        "今日は弁護士に会って、いろいろ話した。本当に長い一日だった。疲れた。明日も仕事。"
        "The house goes to Mark and the kids stay with you on weekdays only."
    )
    assert longest_run([entry], 8) == 16
    runs = find_private_runs("The house goes to Mark and the kids stay with you, ok.", [entry])
    assert [run.words for run in runs] == [11]


def test_a_run_across_two_chunks_of_one_entry_is_a_run() -> None:
    first = Hit(
        entry_id="e1",
        title="t",
        text="Long first paragraph ends here: she said the house goes to Mark.",
        score=0.9,
        tier=Tier.PRIVATE,
    )
    second = Hit(
        entry_id="e1",
        title="t",
        text="The kids stay with me on weekdays and he gets them on weekends.",
        score=0.8,
        tier=Tier.PRIVATE,
    )
    reply = "Honestly, the house goes to Mark. The kids stay with me on weekdays."
    assert [run.words for run in find_private_runs(reply, [first, second])] == [12]
    other = Hit(entry_id="e2", title="t", text=second.text, score=0.8, tier=Tier.PRIVATE)
    # chunks of two entries never join: each alone holds under eight of the reply's words
    assert find_private_runs(reply, [first, other]) == []


@pytest.mark.parametrize(
    "reply",
    [
        "s-h-e s-a-i-d t-h-e h-o-u-s-e g-o-e-s t-o m-a-r-k a-n-d t-h-e k-i-d-s",  # spelt out
        "S.h.e s.a.i.d t.h.e h.o.u.s.e g.o.e.s t.o M.a.r.k a.n.d t.h.e k.i.d.s",
        "lol shesaidthehousegoestomarkandthekidsstaywithme",  # run together
        "sh3 s41d th3 h0us3 g03s t0 m4rk 4nd th3 k1ds",  # leetspeak
        "she said the house goes to, uh, Mark and the, um, kids stay",  # fillers slipped in
        "\U0001f1f8\U0001f1ed\U0001f1ea \U0001f1f8\U0001f1e6\U0001f1ee\U0001f1e9 the house "
        "goes to mark and the kids",  # regional indicator letters
    ],
)
def test_a_run_disguised_in_spelling_is_still_a_run(reply: str) -> None:
    entry = private("Met the lawyer. She said the house goes to Mark and the kids stay with me.")
    assert find_private_runs(reply, [entry]), reply


def test_letters_alone_match_only_a_whole_run() -> None:
    entry = private("Met the lawyer. She said the house goes to Mark and the kids stay with me.")
    # seven words spelt out are seven words: under a run, however written
    assert find_private_runs("s-h-e s-a-i-d t-h-e h-o-u-s-e g-o-e-s t-o m-a-r-k", [entry]) == []
    assert find_private_runs("the mp3 player and 4k screen are great", [entry]) == []
