"""Regulars decided: who returns, calm welcomes, what is kept, the context a turn gets."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from cohost.core.events import ChatMessage, Role, Tier
from cohost.core.options import GuardSettings, RegularsSettings
from cohost.pipeline.guard import Guard
from cohost.pipeline.regulars import Regular, Regulars, keepable

HOUR = 3600.0
T0 = 1_700_000_000.0


@dataclass
class DictStore:
    """A store in memory (the app's keeps a file; `tests/app/test_regulars.py`)."""

    records: dict[str, Regular] = field(default_factory=dict)

    def get(self, login: str) -> Regular | None:
        return self.records.get(login)

    def put(self, regular: Regular) -> None:
        self.records[regular.login] = regular

    def remove(self, login: str, user_ids: object = ()) -> Regular | None:
        return self.records.pop(login, None)


def chat(login: str, text: str, ts: float, **kwargs: object) -> ChatMessage:
    return ChatMessage(
        id=f"{login}-{ts}",
        channel="mossbyte",
        login=login,
        display_name=login.capitalize(),
        text=text,
        ts=ts,
        user_id=f"id-{login}",
        **kwargs,  # type: ignore[arg-type]
    )


def regulars(store: DictStore | None = None, **settings: object) -> tuple[Regulars, DictStore]:
    store = store or DictStore()
    options = RegularsSettings(enabled=True, **settings)
    return Regulars(options, {"mossbyte": store}, skip={"twinbot", "nightbot"}), store


def returning(store: DictStore, *logins: str, streams: int = 2) -> None:
    """These chatters were seen in earlier streams."""
    for login in logins:
        store.put(
            Regular(
                login=login,
                user_id=f"id-{login}",
                first_seen=T0 - 30 * 24 * HOUR,
                last_seen=T0 - 24 * HOUR,
                streams=streams,
                messages=40,
                notes=("my cat is called biscuit",),
                stream=T0 - 25 * HOUR,
            )
        )


def welcome_text(twin: Regulars, now: float) -> str | None:
    """The welcome's words, if one is due."""
    welcome = twin.welcome_due(now)
    return welcome.text if welcome is not None else None


def test_a_returning_chatter_is_welcomed_once_per_stream() -> None:
    twin, store = regulars(cooldown_s=0)
    returning(store, "ana")
    assert twin.hear(chat("ana", "hi chat, back again", T0)) is not None
    assert welcome_text(twin, T0) == "welcome back, Ana!"
    twin.hear(chat("ana", "what are we baking tonight?", T0 + 60))
    twin.hear(chat("ana", "hello again", T0 + 600))
    assert twin.welcome_due(T0 + 600) is None  # once this stream
    record = store.records["ana"]
    assert (record.streams, record.messages) == (3, 43)
    assert record.notes[-1] == "what are we baking tonight?"
    # chat quiet for longer than the gap: a new stream, a new welcome
    later = T0 + 600 + 5 * HOUR
    twin.hear(chat("ana", "evening all", later))
    assert welcome_text(twin, later) == "welcome back, Ana!"
    assert store.records["ana"].streams == 4


def test_a_newcomer_a_first_timer_the_broadcaster_and_bots_are_not_welcomed() -> None:
    twin, store = regulars(cooldown_s=0)
    returning(store, "ana", "twinbot", "nightbot", "mossbyte")
    twin.hear(chat("newbie", "first time here, hello!", T0))
    # Twitch says ana never chatted here (a renamed account took the login): not a return
    twin.hear(chat("ana", "hello everyone", T0, first_msg=True))
    twin.hear(chat("twinbot", "welcome back, Ana!", T0))
    twin.hear(chat("nightbot", "follow the socials", T0))
    twin.hear(chat("mossbyte", "we are live", T0, roles=frozenset({Role.BROADCASTER})))
    assert twin.welcome_due(T0 + 1) is None
    assert store.records["newbie"].streams == 1
    assert store.records["twinbot"].messages == 40  # never counted


def test_a_flood_of_returning_chatters_is_welcomed_calmly() -> None:
    twin, store = regulars(cooldown_s=30, per_minute=2, names_per_greeting=3, wait_s=120)
    logins = [f"viewer{i}" for i in range(50)]
    returning(store, *logins)
    said: list[tuple[float, str]] = []
    for i, login in enumerate(logins):  # a raid of regulars: 50 lines in 10 s
        now = T0 + i * 0.2
        twin.hear(chat(login, "hello hello chat", now))
        if (text := welcome_text(twin, now)) is not None:
            said.append((now, text))
    for step in range(1, 60):  # chat goes on for ten minutes
        now = T0 + 10 + step * 10
        if (text := welcome_text(twin, now)) is not None:
            said.append((now, text))
    times = [t for t, _ in said]
    assert all(b - a >= 30 for a, b in itertools.pairwise(times))
    assert all(sum(1 for u in times if t <= u < t + 60) <= 2 for t in times)
    assert said[0] == (T0, "welcome back, Viewer0!")  # the first at once
    assert said[1] == (T0 + 30, "welcome back, Viewer1, Viewer2 and Viewer3!")  # then together
    # those waiting past wait_s are let go: never welcomed late, never one by one
    assert [t - T0 for t in times] == [0, 30, 60, 90, 120]
    assert "Viewer13" not in " ".join(text for _, text in said)  # 37 of 50 let go quietly
    assert "Viewer12!" in said[-1][1]


def test_welcomes_are_off_when_the_setting_says_so_but_records_are_kept() -> None:
    twin, store = regulars(greeting="off", cooldown_s=0)
    returning(store, "ana")
    twin.hear(chat("ana", "hi there friends", T0))
    assert twin.welcome_due(T0) is None
    assert store.records["ana"].messages == 41


def test_only_short_public_lines_that_pass_the_guard_are_kept() -> None:
    guard = Guard(GuardSettings(blocklist=["zorbleflux"]))

    def allowed(text: str) -> bool:
        checked = guard.check(text)
        return not checked.blocked and checked.text == text

    def kept(message: ChatMessage) -> str | None:
        return keepable(message, max_chars=60, allowed=allowed, command_prefix="!twin")

    assert kept(chat("ana", "my cat  is called biscuit", T0)) == "my cat is called biscuit"
    assert kept(chat("ana", "!twin forget me please", T0)) is None  # a command
    assert kept(chat("ana", "!uptime please bot now", T0)) is None
    assert kept(chat("ana", "look at https://example.com now", T0)) is None
    assert kept(chat("ana", "lol", T0)) is None  # too little to be worth it
    assert kept(chat("ana", "word " * 20, T0)) is None  # too long
    assert kept(chat("ana", "the zorbleflux is out again", T0)) is None  # blocked
    assert kept(chat("ana", "resubbed for a whole year", T0, notice="resub")) is None
    assert kept(chat("ana", "heard it from the mic", T0, spoken=True)) is None
    assert kept(chat("ana", "Kappa Kappa Kappa", T0, emote_only=True)) is None


def test_a_regulars_notes_become_a_public_hit_for_their_turn() -> None:
    twin, store = regulars(cooldown_s=0)
    returning(store, "ana")
    question = chat("ana", "did the sourdough rise today?", T0)
    twin.hear(question)
    [hit] = twin.context(question)
    assert hit.tier is Tier.PUBLIC
    assert hit.title == "Ana in chat"
    assert "3 streams" in hit.text and "“my cat is called biscuit”" in hit.text
    assert "sourdough" not in hit.text  # the line being answered is not a note about it
    newbie = chat("newbie", "what game is this one?", T0)
    twin.hear(newbie)
    assert twin.context(newbie) == []  # nothing known from before this stream
    twin.forget("ana")
    assert twin.context(question) == [] and "ana" not in store.records


def test_a_template_with_an_unknown_field_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"template.*\{names\} only.*count"):
        RegularsSettings(template="welcome back {names}, {count} of you")
