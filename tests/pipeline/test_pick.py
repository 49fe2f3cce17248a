"""The picker: every rule fires when it should and stays quiet when it should not."""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohost.core.events import ChatMessage, Decision, Role
from cohost.core.options import PickerSettings, TwinSettings
from cohost.pipeline.pick import AnswerMemory, Picker

NOW = 1_000.0
TWIN = TwinSettings(name="twin", aliases=["Echo Bot"], streamer="host", bot_login="twin_bot")
CATEGORIES = {
    "picked",
    "stale",
    "bot",
    "command",
    "ignored",
    "streamer",
    "link_only",
    "emote_only",
    "copypasta",
    "low_score",
    "rate",
    "gap",
    "cooldown",
    "duplicate",
    "advert",
    "botlike",
    "troll",
    "repeat",
}
# No gap or cooldown, so tests of one rate rule are not masked by another.
LOOSE = {"min_gap_s": 0.0, "user_cooldown_s": 0.0}

_ids = iter(range(10**9))


def msg(
    text: str,
    *,
    login: str = "viewer",
    ts: float = NOW,
    roles: Sequence[Role] = (),
    **extra: Any,
) -> ChatMessage:
    return ChatMessage(
        id=f"m{next(_ids)}",
        channel="host",
        login=login,
        display_name=login,
        text=text,
        ts=ts,
        roles=frozenset(roles),
        **extra,
    )


def make(**overrides: Any) -> Picker:
    return Picker(PickerSettings(**overrides), TWIN)


def decide(
    message: ChatMessage,
    picker: Picker | None = None,
    *,
    window: Sequence[ChatMessage] = (),
    memory: AnswerMemory | None = None,
    now: float = NOW,
    **live: Any,
) -> Decision:
    picker = picker or make()
    memory = memory if memory is not None else AnswerMemory()
    return picker.decide(message, window=window, memory=memory, now=now, **live)


def names(decision: Decision) -> list[str]:
    return [name for name, _ in decision.parts]


def answered(memory: AnswerMemory, *stamps: tuple[float, str, str]) -> AnswerMemory:
    for ts, login, text in stamps:
        memory.record(msg(text, login=login, ts=ts), ts)
    return memory


# --- direct address ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "twin, what's up",
        "hey @twin how are you",
        "@TWIN hi there",
        "I wonder what Echo Bot thinks about this",
        "thanks twin!",
        "(twin) you there",
    ],
)
def test_the_twin_named_aliased_or_mentioned_is_direct_address(text: str) -> None:
    decision = decide(msg(text))
    assert "direct" in names(decision)
    assert dict(decision.parts)["direct"] == 2.0


@pytest.mark.parametrize(
    "text",
    ["twinkle twinkle little star", "the twins are cool", "@twinfan hi", "betwin us", "echo"],
)
def test_the_name_inside_another_word_is_not_direct_address(text: str) -> None:
    assert "direct" not in names(decide(msg(text)))


def test_a_reply_to_the_bots_message_is_direct_address() -> None:
    reply = msg("that is so true", reply_parent_login="twin_bot")
    other = msg("that is so true", reply_parent_login="someone")
    assert "direct" in names(decide(reply))
    assert "direct" not in names(decide(other))


# --- questions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "what game is this",
        "is it raining there",
        "Can you hear me",
        "so this is it?",
        "twin, why not",
        "@twin how was your day",
        "Who's winning",  # apostrophes stay
        "DOCING what is this game about?",
        "WTF IS THIS GAME ABOUT docYell",
        "what the fuck is a vexel",
        "does anyone know the song",
        "the stream restarted?",  # a statement asked: it has a verb
    ],
)
def test_questions_score(text: str) -> None:
    decision = decide(msg(text))
    assert dict(decision.parts).get("question") == PickerSettings().weight_question


@pytest.mark.parametrize(
    "text",
    [
        "this is fine",
        "whatever man",
        "I know how it ends",
        "dont",
        # a first word alone is no question (issue 20): grammar and punctuation decide
        "has to be on amazon prime tho",
        "can't wait for the next one",
        "might be lag on their end",
        "What's up bitches",
        "a taybul? shiet",  # a one-word quip with a '?'
        "did a poro make this game? LUL",  # a question followed by a laugh is a joke
        "HahaGingercat ?",
        "THIS ??????",
    ],
)
def test_statements_are_not_questions(text: str) -> None:
    assert "question" not in names(decide(msg(text)))


# --- the streamer -----------------------------------------------------------------------------


def test_streamer_addressing_the_twin_scores_and_is_picked() -> None:
    decision = decide(msg("twin say hi to chat", login="host"))
    assert decision.picked
    assert names(decision)[:2] == ["direct", "broadcaster"]
    assert "streamer asked" in decision.reason


def test_the_broadcaster_role_counts_as_the_streamer() -> None:
    decision = decide(msg("@twin hello", login="other_login", roles=[Role.BROADCASTER]))
    assert "broadcaster" in names(decision)


def test_streamer_not_talking_to_the_twin_is_not_answered() -> None:
    decision = decide(msg("what should we play next chat?", login="host"))
    assert (decision.picked, decision.category) == (False, "streamer")
    assert "not to the twin" in decision.reason


def test_a_viewer_addressing_the_twin_gets_no_broadcaster_part() -> None:
    assert "broadcaster" not in names(decide(msg("twin say hi")))


def test_the_streamer_bypasses_rate_gap_cooldown_and_duplicate() -> None:
    memory = answered(AnswerMemory(), *((NOW - i, "host", "twin what now?") for i in range(1, 9)))
    decision = decide(msg("twin what now?", login="host"), memory=memory)
    assert decision.picked
    # and a viewer asking the same at the same moment is held back
    assert not decide(msg("twin what now?"), memory=memory).picked


def test_the_streamer_does_not_bypass_stale_or_command() -> None:
    assert decide(msg("!twin skip", login="host")).category == "command"
    old = msg("twin hello", login="host", ts=NOW - 60)
    assert decide(old).category == "stale"


def test_the_streamer_addressing_the_twin_is_not_spam_checked() -> None:
    window = [msg("twin LUL LUL", login=f"u{i}") for i in range(3)]
    assert decide(msg("twin LUL LUL", login="host"), window=window).picked
    assert decide(msg("twin LUL LUL"), window=window).category == "copypasta"


# --- roles, first-time, bits, topic, substance ------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "part", "value"),
    [
        ([Role.MODERATOR], "moderator", 0.3),
        ([Role.VIP], "vip", 0.2),
        ([Role.SUBSCRIBER], "subscriber", 0.1),
        ([Role.SUBSCRIBER, Role.MODERATOR], "moderator", 0.3),  # the highest role only
    ],
)
def test_roles_score_their_weight(roles: list[Role], part: str, value: float) -> None:
    decision = decide(msg("hello", roles=roles))
    role_parts = [p for p in decision.parts if p[0] in {"moderator", "vip", "subscriber"}]
    assert role_parts == [(part, value)]


def test_everyone_gets_no_role_part() -> None:
    assert decide(msg("hello")).parts == ()


def test_first_time_chatter_scores() -> None:
    assert "first_time" in names(decide(msg("hello", first_msg=True)))
    assert "first_time" not in names(decide(msg("hello")))


@pytest.mark.parametrize(
    ("text", "bits"), [("great stream", 100), ("Cheer100 great stream", 0), ("cheer5 ok", 0)]
)
def test_bits_and_cheers_score(text: str, bits: int) -> None:
    assert "bits" in names(decide(msg(text, bits=bits)))


def test_cheering_as_a_word_is_not_bits() -> None:
    assert "bits" not in names(decide(msg("cheers mate, cheer up")))


def test_topic_words_count_up_to_two() -> None:
    picker = make(topic_words=["elden", "ring", "boss", "Dark Souls"])
    one = decide(msg("that boss was hard"), picker)
    three = decide(msg("elden ring boss fight"), picker)
    phrase = decide(msg("better than dark souls"), picker)
    none = decide(msg("ringing bosses"), picker)
    assert dict(one.parts)["topic"] == pytest.approx(0.4)
    assert dict(three.parts)["topic"] == pytest.approx(0.8)
    assert dict(phrase.parts)["topic"] == pytest.approx(0.4)
    assert "topic" not in names(none)


def test_substance_needs_five_words() -> None:
    assert "substance" in names(decide(msg("one two three four five")))
    assert "substance" not in names(decide(msg("one two three four")))


def test_opening_with_someone_elses_name_counts_against() -> None:
    decision = decide(msg("@friend what is this?"))
    assert dict(decision.parts)["to_someone_else"] == -1.0
    assert decision.category == "low_score"
    assert "to_someone_else" not in names(decide(msg("@twin what is this?")))


# --- sums, thresholds, reasons ----------------------------------------------------------------


def test_parts_are_named_and_summed() -> None:
    decision = decide(msg("@twin what do you think of this run", roles=[Role.MODERATOR]))
    assert decision.parts == (
        ("direct", 2.0),
        ("question", 1.0),
        ("moderator", 0.3),
        ("substance", 0.2),
    )
    assert decision.score == pytest.approx(3.5)
    assert math.isclose(decision.score, round(sum(v for _, v in decision.parts), 6))
    assert decision.picked and decision.category == "picked"
    assert "direct +2" in decision.reason and "question +1" in decision.reason


def test_below_threshold_is_low_score_and_the_reason_shows_the_parts() -> None:
    decision = decide(msg("what is this game about", roles=[Role.SUBSCRIBER]), make(threshold=1.5))
    assert decision.category == "low_score" and not decision.picked
    assert decision.score == pytest.approx(1.3)
    assert "question +1" in decision.reason and "below 1.5" in decision.reason
    nothing = decide(msg("nice"))
    assert nothing.category == "low_score" and "nothing scored" in nothing.reason


def test_a_score_exactly_at_the_threshold_is_picked() -> None:
    # 0.6 + 0.2 + 0.2 is 1.0000000000000002 or 0.9999999999999999 depending on order.
    decision = decide(msg("what is going on there", roles=[Role.VIP]), make(weight_question=0.6))
    assert decision.score == pytest.approx(1.0)
    assert decision.picked


def test_the_threshold_comes_from_settings() -> None:
    assert not decide(msg("twin hi"), make(threshold=2.5)).picked
    assert decide(msg("what is this", roles=[Role.SUBSCRIBER]), make(threshold=0.5)).picked


# --- never answered ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["!uptime", "  !twin status", "!"])
def test_commands_are_skipped(text: str) -> None:
    decision = decide(msg(text))
    assert decision.category == "command" and "command" in decision.reason


def test_an_exclamation_inside_a_message_is_not_a_command() -> None:
    assert decide(msg("twin hi !uptime")).category == "picked"


def test_known_bots_and_the_bots_own_login_are_skipped() -> None:
    nightbot = decide(msg("twin is live!", login="nightbot"))
    own = decide(msg("hello twin", login="twin_bot"))
    assert nightbot.category == own.category == "bot"
    assert "nightbot" in nightbot.reason and "own message" in own.reason
    assert decide(msg("twin hi", login="nightbotfan")).category == "picked"


def test_ignored_users_from_settings_and_live_are_skipped() -> None:
    picker = make(ignored_users=["@Troll"])
    assert decide(msg("twin hi", login="troll"), picker).category == "ignored"
    live = decide(msg("twin hi", login="pest"), picker, ignored=frozenset({"pest"}))
    assert live.category == "ignored" and "pest" in live.reason
    assert decide(msg("twin hi", login="friend"), picker, ignored={"pest"}).picked


@pytest.mark.parametrize(
    "text",
    [
        "https://clips.twitch.tv/SomeClipName",
        "www.example.com",
        "@friend https://example.com/watch?v=1",
        "example.org/page https://x.io/a",
        "<http://example.com>",
    ],
)
def test_link_only_messages_are_skipped(text: str) -> None:
    decision = decide(msg(text))
    assert decision.category == "link_only" and "link" in decision.reason


@pytest.mark.parametrize(
    "text", ["twin what is https://example.com about?", "@friend", "example.com is down"]
)
def test_a_link_with_words_is_not_link_only(text: str) -> None:
    assert decide(msg(text)).category != "link_only"


@pytest.mark.parametrize(
    "text",
    ["Kappa", "Kappa PogChamp LUL", "forsenParty", "moon2MLADY tyler1Sleeper", "🐢🐢", "<3 :)"],
)
def test_emote_only_messages_are_skipped(text: str) -> None:
    decision = decide(msg(text))
    assert decision.category == "emote_only" and "emotes" in decision.reason


def test_emote_only_from_the_source_and_from_settings() -> None:
    assert decide(msg("anything", emote_only=True)).category == "emote_only"
    assert decide(msg("Sludge Sludge")).category != "emote_only"
    assert decide(msg("Sludge Sludge"), make(emotes=["Sludge"])).category == "emote_only"


@pytest.mark.parametrize("text", ["LOL WHAT", "hello Kappa", "iPhone", "twin Kappa", "WR"])
def test_words_between_emotes_or_shouting_are_not_emote_only(text: str) -> None:
    assert decide(msg(text)).category != "emote_only"


def test_copypasta_repeated_in_the_window_is_skipped() -> None:
    pasta = "OMEGALUL this run is rigged, the mods are in on it"
    window = [msg(pasta, login="a"), msg("hi"), msg(pasta.upper() + "!!", login="b")]
    decision = decide(msg(pasta, login="c"), window=window)
    assert decision.category == "copypasta" and "3 times" in decision.reason


def test_two_copies_are_not_yet_copypasta_and_the_message_is_not_counted_twice() -> None:
    text = "twin is this run rigged?"
    message = msg(text, login="c")
    assert decide(message, window=[msg(text, login="a")]).category == "picked"
    # the caller may already have appended the message to the window
    assert decide(message, window=[msg(text, login="a"), message]).category == "picked"


def test_copypasta_repeats_come_from_settings() -> None:
    text = "twin is this run rigged?"
    window = [msg(text, login="a")]
    assert decide(msg(text), make(copypasta_repeats=2), window=window).category == "copypasta"


@pytest.mark.parametrize(
    "text",
    [
        "BAN COUCH GUY BAN COUCH GUY BAN COUCH GUY BAN COUCH GUY",
        "IM Kappa NOT Kappa SUBBED Kappa TO Kappa ANYONE Kappa SO Kappa",
        "mmm OpieOP idk OpieOP looks OpieOP like OpieOP a OpieOP glitch",
        "naroGold CUTE naroWOW LITTLE naroEhehe ANIME naroYay SPAM",
        "twin " + " ".join(f"word{i % 50} again" for i in range(60)),  # long and repetitive
    ],
)
def test_repetitive_messages_are_copypasta(text: str) -> None:
    decision = decide(msg(text))
    assert decision.category == "copypasta"


def test_a_longer_phrase_said_three_times_is_copypasta() -> None:
    text = " ".join(["COUCH GUY IS BACK WITH SNACKS"] * 3)  # no single word dominates
    decision = decide(msg(text))
    assert decision.category == "copypasta" and "one phrase over and over" in decision.reason


@pytest.mark.parametrize(
    "text",
    [
        "twin what do you think about the new patch for the game",
        "the cat and the dog and the bird went home",
        "fast fast fast - gotta step on the gas",
        "LUL that was so funny did you see it",
    ],
)
def test_ordinary_sentences_are_not_copypasta(text: str) -> None:
    assert decide(msg(text)).category != "copypasta"


def test_stale_messages_are_skipped() -> None:
    old = decide(msg("twin hello", ts=NOW - 21))
    fresh = decide(msg("twin hello", ts=NOW - 19))
    assert old.category == "stale" and "21 s old" in old.reason
    assert fresh.picked
    assert decide(msg("twin hello", ts=NOW - 30), make(freshness_s=60)).picked


# --- rate rules -------------------------------------------------------------------------------


def test_rate_cap_holds_then_rolls_over_after_sixty_seconds() -> None:
    picker = make(**LOOSE)
    memory = answered(AnswerMemory(), *((100.0 + i, f"u{i}", f"hello {i}") for i in range(4)))
    held = decide(msg("twin hi", ts=110.0), picker, memory=memory, now=110.0)
    assert held.category == "rate" and "4 replies" in held.reason
    assert held.score == pytest.approx(2.0)  # held back, the score is still shown
    later = decide(msg("twin hi", ts=160.5), picker, memory=memory, now=160.5)
    assert later.picked


def test_live_rate_overrides_the_setting() -> None:
    picker = make(**LOOSE)
    memory = answered(AnswerMemory(), (NOW - 5, "a", "hello"))
    assert decide(msg("twin hi"), picker, memory=memory).picked
    held = decide(msg("twin hi"), picker, memory=memory, rate_per_minute=1)
    assert held.category == "rate"
    assert decide(msg("twin hi"), picker, memory=AnswerMemory(), rate_per_minute=0).category == (
        "rate"
    )


def test_minimum_gap_between_replies() -> None:
    picker = make(user_cooldown_s=0.0)
    memory = answered(AnswerMemory(), (NOW - 3, "a", "hello"))
    held = decide(msg("twin hi"), picker, memory=memory)
    assert held.category == "gap" and "3.0 s ago" in held.reason
    assert decide(msg("twin hi"), picker, memory=memory, now=NOW + 6).picked


def test_per_user_cooldown() -> None:
    picker = make(min_gap_s=0.0)
    memory = answered(AnswerMemory(), (NOW - 30, "viewer", "hello"))
    held = decide(msg("twin hi"), picker, memory=memory)
    assert held.category == "cooldown" and "viewer" in held.reason
    assert decide(msg("twin hi", login="other"), picker, memory=memory).picked
    assert decide(msg("twin hi", ts=NOW + 31), picker, memory=memory, now=NOW + 31).picked


def test_a_near_duplicate_question_is_answered_once() -> None:
    picker = make(**LOOSE)
    memory = answered(AnswerMemory(), (NOW - 40, "a", "@twin what game is this?"))
    same = decide(msg("Twin, what game is this"), picker, memory=memory)
    assert same.category == "duplicate" and "40 s ago" in same.reason
    other = decide(msg("twin what is your favourite food?"), picker, memory=memory)
    assert other.picked
    later = NOW + 300
    assert decide(msg("twin what game is this", ts=later), picker, memory=memory, now=later).picked


def test_only_questions_are_held_as_duplicates() -> None:
    picker = make(**LOOSE)
    memory = answered(AnswerMemory(), (NOW - 40, "a", "twin hello there friend"))
    assert decide(msg("twin hello there friend"), picker, memory=memory).picked


def test_duplicate_similarity_comes_from_settings() -> None:
    memory = answered(AnswerMemory(), (NOW - 40, "a", "twin what game is this"))
    question = msg("twin what game is this one")  # 4 of 5 words shared: 0.8
    assert decide(question, make(**LOOSE), memory=memory).category == "duplicate"
    strict = make(duplicate_similarity=0.9, **LOOSE)
    assert decide(question, strict, memory=memory).picked


# --- memory -----------------------------------------------------------------------------------


def test_memory_answers_its_queries() -> None:
    memory = answered(AnswerMemory(), (10.0, "a", "Hello, Twin!"), (20.0, "b", "bye"))
    assert memory.last_reply_at == 20.0
    assert memory.last_reply_to("a") == 10.0 and memory.last_reply_to("zz") is None
    assert memory.replies_within(25.0, 10.0) == 1
    assert memory.replies_within(25.0, 60.0) == 2
    assert list(memory.answered_since(5.0)) == [
        (20.0, frozenset({"bye"})),
        (10.0, frozenset({"hello", "twin"})),
    ]


def test_memory_stays_bounded_over_a_long_stream() -> None:
    memory = AnswerMemory(horizon_s=300.0, max_entries=256)
    for i in range(100_000):
        memory.record(msg(f"question {i}", login=f"user{i}"), float(i))
    assert len(memory) <= 256 and memory.users <= 256
    assert memory.last_reply_at == 99_999.0

    fast = AnswerMemory(horizon_s=300.0, max_entries=10**9)
    for i in range(100_000):
        fast.record(msg("hi", login=f"user{i}"), float(i))
    assert len(fast) <= 301 and fast.users <= 301  # pruned by age alone


def test_memory_for_settings_remembers_as_long_as_the_rules_look_back() -> None:
    memory = AnswerMemory.for_settings(PickerSettings(duplicate_window_s=900))
    answered(memory, (0.0, "a", "first"), (800.0, "b", "second"))
    assert [ts for ts, _ in memory.answered_since(0.0)] == [800.0, 0.0]


# --- live overrides and purity ----------------------------------------------------------------


def test_live_topic_words_add_to_the_settings() -> None:
    picker = make(topic_words=["boss"])
    plain = decide(msg("the speedrun boss"), picker)
    live = decide(msg("the speedrun boss"), picker, topic_words=["Speedrun"])
    assert dict(plain.parts)["topic"] == pytest.approx(0.4)
    assert dict(live.parts)["topic"] == pytest.approx(0.8)
    assert dict(decide(msg("the speedrun boss"), picker).parts)["topic"] == pytest.approx(0.4)


def test_decide_is_pure() -> None:
    picker = make()
    memory = answered(AnswerMemory(), (NOW - 100, "a", "hello"))
    window = deque([msg("hi"), msg("yo")])
    message = msg("twin what do you think?")
    first = picker.decide(message, window=window, memory=memory, now=NOW)
    second = picker.decide(message, window=window, memory=memory, now=NOW)
    assert first == second
    assert len(memory) == 1 and len(window) == 2


# --- properties and real data -----------------------------------------------------------------

_roles = st.frozensets(st.sampled_from(list(Role)))
_text = st.text(max_size=300)


@settings(max_examples=300, deadline=None)
@given(
    text=_text,
    login=st.text(max_size=30),
    ts=st.floats(allow_nan=True, allow_infinity=True),
    roles=_roles,
    bits=st.integers(min_value=-5, max_value=10**6),
    first=st.booleans(),
    emote_only=st.booleans(),
    parent=st.none() | st.text(max_size=20),
    window=st.lists(_text, max_size=8),
    topic=st.lists(st.text(max_size=20), max_size=4),
    rate=st.none() | st.integers(min_value=-1, max_value=10),
)
def test_decide_never_raises(
    *,
    text: str,
    login: str,
    ts: float,
    roles: frozenset[Role],
    bits: int,
    first: bool,
    emote_only: bool,
    parent: str | None,
    window: list[str],
    topic: list[str],
    rate: int | None,
) -> None:
    picker = Picker(PickerSettings(topic_words=["game"]), TWIN)
    memory = answered(AnswerMemory(), (NOW - 30, "a", text), (NOW - 5, login, "twin what?"))
    message = ChatMessage(
        id="x",
        channel="c",
        login=login,
        display_name=login,
        text=text,
        ts=ts,
        roles=roles,
        bits=bits,
        first_msg=first,
        emote_only=emote_only,
        reply_parent_login=parent,
    )
    decision = picker.decide(
        message,
        window=[msg(t) for t in window],
        memory=memory,
        now=NOW,
        topic_words=topic,
        ignored=frozenset({"pest"}),
        rate_per_minute=rate,
    )
    assert decision.category in CATEGORIES
    assert decision.reason
    assert not decision.picked or decision.score >= 1.0 - 1e-9


@pytest.mark.shared_data
def test_most_of_a_real_copypasta_collection_is_rejected(shared_data: Path) -> None:
    path = shared_data / "twitch" / "spam_copypasta" / "sgdq2017_pasta_text_gamesdonequick.txt"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    picker = make()
    memory = AnswerMemory()
    window: deque[ChatMessage] = deque(maxlen=20)
    seen: Counter[str] = Counter()
    for i, line in enumerate(lines):
        message = msg(line, login=f"viewer{i}", ts=NOW + i)
        seen[picker.decide(message, window=window, memory=memory, now=NOW + i).category] += 1
        window.append(message)
    rejected = seen["copypasta"] + seen["emote_only"] + seen["link_only"]
    # Measured: 2,309 copypasta + 693 emote-only of 4,122 distinct pastas (72.8%). The rest are
    # prose pastas (fake outrage, "I'm Rick Harrison...") that no rule can tell from a long
    # honest message without having seen them before; the bound leaves room for tuning.
    assert rejected / len(lines) >= 0.70
    assert seen["picked"] <= len(lines) * 0.02


def test_a_withdrawn_answer_is_forgotten_and_the_one_before_stands() -> None:
    first, second = msg("twin hi", login="ana", ts=NOW - 30), msg("twin again?", login="ana")
    memory = answered(AnswerMemory(), (NOW - 30, "ana", "twin hi"), (NOW - 10, "bo", "yo twin"))
    memory.record(second, NOW)
    assert memory.last_reply_to("ana") == NOW and memory.replies_within(NOW, 60) == 3
    memory.withdraw(second, NOW)
    assert memory.last_reply_to("ana") == NOW - 30
    assert memory.replies_within(NOW, 60) == 2
    assert [words for _, words in memory.answered_since(NOW - 60)][-1] == {"twin", "hi"}
    memory.withdraw(first, NOW - 30)
    assert memory.last_reply_to("ana") is None and memory.users == 1
    memory.withdraw(first, NOW - 30)  # twice: nothing left to forget
    assert len(memory) == 1


@pytest.mark.parametrize(
    ("notice", "supported"),
    [
        ("sub", True),
        ("resub", True),
        ("subgift", True),
        ("submysterygift", True),
        ("raid", True),
        ("announcement", False),
        ("other", False),
        (None, False),
    ],
)
def test_subs_gifts_and_raids_score_as_support(notice: str | None, supported: bool) -> None:
    decision = decide(msg("thanks for the stream, love the vibes", notice=notice))
    assert ("support" in names(decision)) is supported
    if supported:
        assert decision.picked  # worth a thank-you on its own
