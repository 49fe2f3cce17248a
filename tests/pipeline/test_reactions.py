"""Thank-yous for raids, follows, subs, gifts and cheers: batches, cooldowns, what is said."""

from __future__ import annotations

from typing import Any

import pytest

from cohost.core.events import ChatMessage, Follow, UserNotice
from cohost.core.options import ReactionsSettings
from cohost.pipeline.reactions import (
    ReactionKind,
    Reactions,
    Support,
    names_of,
    support_of,
    thanks_decision,
)


def notice(kind: Any, login: str, ts: float = 0.0, **fields: Any) -> UserNotice:
    values: dict[str, Any] = {
        "id": f"{kind}-{login}-{ts}",
        "channel": "mossbyte",
        "kind": kind,
        "msg_id": kind,
        "login": login,
        "display_name": login.title(),
        "text": "",
        "system_text": f"{login} did a {kind}",
        "ts": ts,
    }
    return UserNotice(**(values | fields))


def take(reactions: Reactions, event: Any, now: float) -> Support:
    support = support_of(event)
    assert support is not None
    reactions.take(support, now)
    return support


def settings(**kinds: dict[str, Any]) -> ReactionsSettings:
    return ReactionsSettings.model_validate(kinds)


def test_a_gift_bomb_of_50_is_one_thank_you_with_its_size() -> None:
    reactions = Reactions(settings(gift={"mode": "template", "batch_s": 5}))
    take(reactions, notice("submysterygift", "gerri", gifts=50), 0.0)
    for i in range(50):
        gift = notice("subgift", "gerri", 0.01 * i, recipient=f"r{i}", in_community_gift=True)
        take(reactions, gift, 0.01 * i)
    assert reactions.due(4.9) == []
    [thanks] = reactions.due(5.0)
    assert (thanks.kind, thanks.names, thanks.amount) == (ReactionKind.GIFT, ("Gerri",), 50)
    assert thanks.text == "Thank you Gerri for 50 gift subs!"
    assert len(thanks.supports) == 51
    # single gifts of the same bomb that straggle in later are part of the thanks given
    take(reactions, notice("subgift", "gerri", 9.0, in_community_gift=True), 9.0)
    assert reactions.next_due() is None and reactions.absorbed == 1


def test_a_gift_bomb_whose_size_a_log_does_not_say_counts_its_single_gifts() -> None:
    reactions = Reactions(settings(gift={"mode": "template", "batch_s": 1}))
    take(reactions, notice("submysterygift", "gerri"), 0.0)  # IRC: no size read
    for _ in range(7):
        take(reactions, notice("subgift", "gerri", 0.1, in_community_gift=True), 0.1)
    take(reactions, notice("subgift", "ana", 0.2), 0.2)  # a single gift of ana's own
    [thanks] = reactions.due(2.0)
    assert thanks.amount == 8 and thanks.names == ("Gerri", "Ana")


def test_a_raid_of_500_then_a_wave_of_follows_is_one_thanks_each() -> None:
    reactions = Reactions(
        settings(raid={"mode": "template"}, follow={"mode": "template", "batch_s": 30})
    )
    take(reactions, notice("raid", "rita", viewers=500), 0.0)
    for i in range(40):
        follow = Follow(id=f"f{i}", channel="mossbyte", login=f"fan{i}", display_name=f"Fan{i}",
                        ts=1.0 + i * 0.5)  # fmt: skip
        take(reactions, follow, follow.ts)
    out = reactions.due(31.0)
    assert [t.kind for t in out] == [ReactionKind.RAID, ReactionKind.FOLLOW]
    raid, follows = out
    assert raid.text.startswith("Welcome in, raiders!") and "all 500 of you" in raid.text
    assert (
        follows.amount == 40
        and follows.text == "Thanks for the follow, Fan0, Fan1, Fan2 and 37 others!"
    )
    assert reactions.due(1000.0) == []


def test_a_batch_inside_the_cooldown_waits_for_its_end_and_takes_what_comes_meanwhile() -> None:
    reactions = Reactions(settings(sub={"mode": "template", "cooldown_s": 30, "batch_s": 2}))
    take(reactions, notice("sub", "ana"), 0.0)
    [first] = reactions.due(2.0)
    assert first.names == ("Ana",)
    take(reactions, notice("sub", "bo"), 5.0)
    take(reactions, notice("sub", "cy"), 20.0)
    assert reactions.due(10.0) == [] and reactions.next_due() == 32.0
    [second] = reactions.due(32.0)
    assert second.names == ("Bo", "Cy") and second.text == "Thank you for subscribing, Bo and Cy!"


def test_off_and_small_events_are_left_to_the_picker() -> None:
    reactions = Reactions(settings(sub={"mode": "off"}))
    sub = support_of(notice("sub", "ana"))
    small_raid = support_of(notice("raid", "rita", viewers=0))
    assert sub is not None and small_raid is not None
    assert not reactions.take(sub, 0.0) and not reactions.claims(sub)
    assert not reactions.take(small_raid, 0.0)  # a raid of nobody (min_amount 1)
    assert reactions.next_due() is None


def cheer(bits: int, text: str = "Cheer100 love the bread") -> ChatMessage:
    return ChatMessage(id="m-1", channel="mossbyte", login="ana", display_name="Ana", text=text,
                       ts=0.0, bits=bits)  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "bits", "claimed"),
    [("twin", 500, True), ("template", 500, False), ("twin", 99, False), ("off", 500, False)],
)
def test_a_cheer_is_claimed_only_in_twin_mode_and_above_its_minimum(
    mode: str, bits: int, claimed: bool
) -> None:
    reactions = Reactions(settings(cheer={"mode": mode}))
    support = support_of(cheer(bits))
    assert support is not None
    assert reactions.claims(support) is claimed


def test_chat_without_bits_and_moderation_are_no_support() -> None:
    assert support_of(cheer(0)) is None
    assert support_of(notice("announcement", "mossbyte")) is None


def test_a_twin_thank_you_for_a_cheer_threads_under_it_and_a_notice_does_not() -> None:
    reactions = Reactions(settings(cheer={"mode": "twin"}, raid={"mode": "twin"}))
    take(reactions, cheer(500), 0.0)
    take(reactions, notice("raid", "rita", viewers=25, text="hi from the raid"), 0.0)
    cheer_thanks, raid_thanks = reactions.flush(0.5)
    by_cheer = thanks_decision(cheer_thanks)
    assert by_cheer.picked and by_cheer.category == "thanks"
    assert by_cheer.message.id == "m-1" and by_cheer.message.threadable
    assert by_cheer.message.text.startswith("Ana cheered 500 bits.")
    by_raid = thanks_decision(raid_thanks)
    assert by_raid.message.notice == "raid" and not by_raid.message.threadable
    assert by_raid.message.login == "rita"
    assert (
        by_raid.message.text
        == 'Rita raided the channel with 25 viewers. Rita said: "hi from the raid"'
    )
    assert dict(by_raid.parts)["support"] > 0


def test_names_are_listed_as_a_person_would() -> None:
    assert names_of(()) == ""
    assert names_of(("ana",)) == "ana"
    assert names_of(("ana", "bo")) == "ana and bo"
    assert names_of(("ana", "bo", "cy")) == "ana, bo and cy"
    assert names_of(("ana", "bo", "cy", "dee")) == "ana, bo, cy and 1 other"
