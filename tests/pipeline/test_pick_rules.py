"""The picker's rules for precision (issue 20): each with messages written for it here."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cohost.core.events import ChatMessage, Role
from cohost.core.options import PickerSettings, TwinSettings
from cohost.pipeline.pick import AnswerMemory, Picker, learn_nicknames
from tests.pipeline.test_pick import LOOSE, NOW, TWIN, answered, decide, msg, names

# the streamer is "host"; chat also calls them "hs"
NICK = {"streamer_nicknames": ["hs"]}


def make(**overrides: Any) -> Picker:
    return Picker(PickerSettings(**overrides), TWIN)


def parts(text: str, **extra: Any) -> dict[str, float]:
    return dict(decide(msg(text, **extra), make(**NICK)).parts)


# --- questions: grammar clause by clause, echoes, rhetorical ones ----------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Loved that run. Is the seed public?",  # the second clause asks
        "hype hype What game is next",  # a capitalised question word opens a clause
        "back from dinner, what did I miss",
        "how do I get the overlay",
        "that was close, wasn't it?",  # a tag
        "anything new since yesterday?",
        "hs, is the merch out yet",  # the streamer called, then asked
        "oh wait, can you reset the level",
        "the patch dropped today?",  # a statement asked: it has a verb
        "is that the map from last week?",  # a known thing: asked, not guessed
        "Are the boss and the knight friends, or just rivals now?",  # its '?' closes the whole
        "Did the mod pack load, or is it still the vanilla game?",
    ],
)
def test_questions_by_grammar(text: str) -> None:
    assert parts(text).get("question") == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "the blue potion?",
        "Sherlock Holmes?",
        "a spooky lighthouse?",
        "cheese and crackers?",
        "is it a raccoon?",  # a guess at what is on screen, as chat plays along
        "could it be an otter?",
        "hmm no. Is that a trophy?",
        "is it a bird, or a plane?",  # a guess, whichever clause holds the '?'
    ],
)
def test_a_noun_phrase_with_a_question_mark_is_an_echo_worth_less(text: str) -> None:
    scored = parts(text)
    assert "question" not in scored
    assert scored.get("echo_question") == PickerSettings().weight_echo_question
    assert not decide(msg(text)).picked  # a guess alone does not reach the threshold


@pytest.mark.parametrize(
    "text",
    [
        "what am I doing with my life",
        "why do I even bother with ranked",
        "ugh, how would I know",
        "what is this, a cooking show?",  # it answers itself
        "WHAT IS HAPPENING",  # a reaction, no '?'
        "what's going on lmao",
        "Someone has a very loud keyboard.",  # a statement about someone
        "host is the best at this",  # the streamer spoken of, not called
        "great fight, had that one too",  # a later clause without its subject
    ],
)
def test_rhetorical_and_reactions_are_not_questions(text: str) -> None:
    scored = parts(text)
    assert "question" not in scored and "echo_question" not in scored


def test_a_reaction_with_a_question_mark_is_asked() -> None:
    assert parts("what is happening?").get("question") == 1.0
    assert parts("what is this game?").get("question") == 1.0


# --- talking to the streamer -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["YES hs", "gg host", "@host W"])
def test_a_one_word_cheer_at_the_streamer_is_not_worth_a_reply(text: str) -> None:
    assert "to_streamer" not in parts(text)


@pytest.mark.parametrize(
    "text", ["great save hs", "hs, you should try the sword", "@host nice run"]
)
def test_two_words_or_more_to_the_streamer_count(text: str) -> None:
    assert parts(text).get("to_streamer") == 1.0


# --- first visits and stream problems ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "first time here, hello everyone",
        "been lurking on youtube for ages, this is my first stream",
        "1st time watching live!",
    ],
)
def test_a_first_visit_said_in_words_is_welcomed(text: str) -> None:
    decision = decide(msg(text), make(**NICK))
    assert dict(decision.parts).get("first_visit") == 1.0 and decision.picked


@pytest.mark.parametrize("text", ["the first boss is brutal", "first try let's go"])
def test_first_without_a_visit_is_no_first_visit(text: str) -> None:
    assert "first_visit" not in parts(text)


@pytest.mark.parametrize(
    "text",
    [
        "we can't hear you",
        "your mic is muted",
        "black screen for me",
        "no game audio",
        "stream is lagging hard",
    ],
)
def test_a_stream_problem_is_passed_on(text: str) -> None:
    decision = decide(msg(text), make(**NICK))
    assert dict(decision.parts).get("stream_issue") == 1.0 and decision.picked


@pytest.mark.parametrize("text", ["I can't see why he did that", "the camera angle in game is odd"])
def test_words_about_seeing_or_cameras_are_no_stream_problem(text: str) -> None:
    assert "stream_issue" not in parts(text)


# --- trolls ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("@twin what do you think of horny frogs?", "horny"),
        ("hs is it true you are getting fat", "fat"),
        ("twin you're so dumb", "dumb"),
        ("is hs really that stupid?", "stupid"),
    ],
)
def test_lewd_words_and_aimed_insults_are_trolls(text: str, word: str) -> None:
    decision = decide(msg(text), make(**NICK))
    assert decision.category == "troll" and repr(word) in decision.reason


def test_an_insult_at_a_thing_is_not_a_taunt() -> None:
    decision = decide(msg("this level is trash, how do I pass it"), make(**NICK))
    assert decision.picked and "question" in names(decision)


def test_troll_words_come_from_settings_and_the_streamer_is_not_judged() -> None:
    picker = make(lewd_words=[], taunt_words=["potato"], **NICK)
    assert decide(msg("what do you think of horny frogs?"), picker).category != "troll"
    assert decide(msg("you potato, what was that?"), picker).category == "troll"
    streamer = decide(msg("twin, am I dumb?", login="host"), make())
    assert streamer.picked


# --- repeats, adverts, bots --------------------------------------------------------------------


def test_a_viewer_repeating_what_was_answered_is_not_answered_twice() -> None:
    picker = make(**LOOSE)
    memory = answered(AnswerMemory(), (NOW - 600, "ana", "@host my cat learned to open doors"))
    again = decide(msg("@host my cat learned to open doors", login="ana"), picker, memory=memory)
    assert again.category == "repeat" and "ana said this before" in again.reason
    other = decide(msg("@host my cat learned to open doors", login="bo"), picker, memory=memory)
    assert other.picked  # someone else saying it is not a repeat
    short = make(repeat_window_s=300, **LOOSE)
    assert decide(
        msg("@host my cat learned to open doors", login="ana"), short, memory=memory
    ).picked


@pytest.mark.parametrize(
    ("text", "login", "why"),
    [
        ("hey host, join my discord discord.gg/abc123", "viewer", "invitation"),
        ("@host check out my clip https://clips.twitch.tv/x", "viewer", "invitation"),
        ("@host made this https://twitter.com/pixelfan/status/1", "pixelfan", "own page"),
    ],
)
def test_adverts_and_self_promotion_are_skipped(text: str, login: str, why: str) -> None:
    decision = decide(msg(text, login=login))
    assert decision.category == "advert" and why in decision.reason


def test_a_link_with_a_question_is_not_an_advert() -> None:
    decision = decide(msg("@host is this the mod you use? https://example.com/mods/42"))
    assert decision.category != "advert" and decision.picked


def test_music_bot_lines_are_never_picked_whoever_posts_them() -> None:
    # checked on what would be picked (a bot's line rarely scores: then it is low_score)
    for text in (
        "Now playing: What Is Love by Haddaway",
        "twin, your song 'Is This It' has been added to the queue",
        "Current song: Where Is My Mind? - requested by ana",
    ):
        decision = decide(msg(text, login="somebot"))
        assert decision.category == "botlike", text
    quiet = decide(msg("🎵 Now playing Never Gonna Give You Up - requested by @ana"))
    assert not quiet.picked


def test_extra_bots_and_patterns_come_from_settings() -> None:
    picker = make(extra_bots=["@MyGiveawayBot"], botlike_patterns=[r"^\[giveaway\]"])
    assert decide(msg("twin what now?", login="mygiveawaybot"), picker).category == "bot"
    assert decide(msg("[giveaway] twin can you win?"), picker).category == "botlike"
    # the defaults still hold beside them
    assert decide(msg("twin what now?", login="nightbot"), picker).category == "bot"


def test_a_bad_pattern_names_its_setting_and_place() -> None:
    with pytest.raises(ValidationError, match=r"botlike_patterns\[1\] '\(oops' is not a regex"):
        PickerSettings(botlike_patterns=["ok", "(oops"])


def test_the_streamer_talking_to_the_twin_bypasses_the_new_rules() -> None:
    decision = decide(msg("twin, now playing: what is love?", login="host"))
    assert decision.picked


# --- nicknames ---------------------------------------------------------------------------------


def chat(*lines: tuple[str, str]) -> list[ChatMessage]:
    return [
        ChatMessage(id=str(i), channel="c", login=login, display_name=login, text=text, ts=i)
        for i, (login, text) in enumerate(lines)
    ]


def test_nicknames_are_learned_from_how_chat_calls_the_streamer() -> None:
    lines = chat(
        ("a1", "KD, what is the plan"),
        ("a2", "gg kd"),
        ("a3", "thanks kd for the stream"),
        ("a4", "@kd you missed the chest"),
        ("a5", "kd got lucky there"),  # spoken of, not called: a use, not a call
        ("a6", "no, that was the wrong door"),  # a short form that is an everyday word
        ("a7", "no"),
        ("a8", "wait no"),
        ("kingdragon", "kd here, thanks all"),  # the streamer's own line
        ("nightbot", "kd is live"),
    )
    found = learn_nicknames(lines, "KingDragon", ignore={"nightbot"})
    assert [(n.name, n.chatters, n.calls, n.uses) for n in found] == [("kd", 4, 4, 5)]


def test_a_name_few_call_the_streamer_is_not_learned() -> None:
    lines = chat(("a1", "hi kd"), ("a2", "bye kd"), ("a3", "kd! look"))
    assert learn_nicknames(lines, "kingdragon", min_chatters=4) == []
    assert [n.name for n in learn_nicknames(lines, "kingdragon")] == ["kd"]
    # a name that is no short form of the login is never learned ("Ryan")
    assert learn_nicknames(chat(*((f"v{i}", "hi ryan") for i in range(5))), "kingdragon") == []


def test_learned_nicknames_make_chat_speak_to_the_streamer() -> None:
    lines = chat(*((f"v{i}", f"hey kd {i}") for i in range(4)))
    learned = [n.name for n in learn_nicknames(lines, "kingdragon")]
    picker = Picker(
        PickerSettings(streamer_nicknames=learned), TwinSettings(name="twin", streamer="kingdragon")
    )
    decision = picker.decide(
        msg("kd, you should try the ice level", roles=[Role.SUBSCRIBER]),
        window=(),
        memory=AnswerMemory(),
        now=NOW,
    )
    assert "to_streamer" in names(decision) and decision.picked
