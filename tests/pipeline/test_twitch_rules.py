"""The chat sink keeps Twitch's rules: rate, duplicates, length, command characters, refusals."""

from __future__ import annotations

import asyncio

import pytest

from cohost.core.clock import VirtualClock
from cohost.core.errors import Transient
from cohost.core.events import Role, SendResult
from cohost.core.options import ChatSinkSettings
from cohost.core.ports import ChatSink
from cohost.pipeline.guard import strip_command_prefix
from cohost.pipeline.twitch_rules import TwitchRules


class RecordingSender:
    """A raw sender that records what went out and when; refuses or fails on request."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, str, str | None]] = []
        self.refuse: str | None = None  # drop_reason for every send
        self.fail = False

    async def send_raw(self, text: str, *, reply_to: str | None) -> SendResult:
        self.sent.append((self.clock.now(), text, reply_to))
        if self.fail:
            raise Transient("helix unreachable")
        if self.refuse is not None:
            return SendResult(is_sent=False, drop_reason=self.refuse)
        return SendResult(is_sent=True, message_id=f"m{len(self.sent)}")

    @property
    def times(self) -> list[float]:
        return [t for t, _, _ in self.sent]

    @property
    def texts(self) -> list[str]:
        return [text for _, text, _ in self.sent]


def most_in_any_window(times: list[float], window: float) -> int:
    """The largest number of sends inside any half-open window [t, t + window)."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def make(
    *, moderator: bool = False, max_wait_s: float = 10.0
) -> tuple[TwitchRules, RecordingSender, VirtualClock]:
    clock = VirtualClock(5000.0)
    sender = RecordingSender(clock)
    return TwitchRules(sender, clock, moderator=moderator, max_wait_s=max_wait_s), sender, clock


def test_the_window_counter_counts() -> None:
    assert most_in_any_window([0, 1, 29.9, 30, 31], 30) == 3
    assert most_in_any_window([0] * 5, 30) == 5
    assert most_in_any_window([], 30) == 0


@pytest.mark.parametrize(("moderator", "limit"), [(False, 20), (True, 100)])
async def test_a_burst_never_exceeds_the_limit_in_any_window(moderator: bool, limit: int) -> None:
    sink, sender, clock = make(moderator=moderator, max_wait_s=10_000.0)
    start = clock.now()
    await asyncio.gather(*(sink.send(f"message number {i}") for i in range(200)))
    assert len(sender.sent) == 200
    assert sink.counters.sent == 200
    assert most_in_any_window(sender.times, 30.0) <= limit
    # ...and the limit is used, not wasted: the first `limit` go out at once
    assert sender.times[:limit] == [start] * limit
    assert sender.texts == [f"message number {i}" for i in range(200)]  # in order


async def test_a_message_that_would_wait_too_long_is_dropped_and_counted() -> None:
    sink, sender, clock = make(max_wait_s=10.0)
    await asyncio.gather(*(sink.send(f"message number {i}") for i in range(200)))
    assert len(sender.sent) == 20
    assert sink.counters.sent == 20
    assert sink.counters.dropped_rate == 180
    clock.advance(31.0)
    await sink.send("later")
    assert sender.texts[-1] == "later"


async def test_a_message_waits_for_a_slot_within_max_wait() -> None:
    sink, sender, clock = make(max_wait_s=10.0)
    for i in range(20):
        await sink.send(f"m{i}")
        clock.advance(1.0)
    # The oldest send leaves the 31 s window at 31 s; now is 20 s: a wait of 11 s is too long.
    await sink.send("too late")
    assert sink.counters.dropped_rate == 1
    clock.advance(2.0)
    await sink.send("in time")  # the slot frees 9 s from now
    assert sender.sent[-1][1] == "in time"
    assert sender.sent[-1][0] - sender.sent[0][0] >= 30.0
    assert most_in_any_window(sender.times, 30.0) <= 20


async def test_moderator_mode_can_change_at_run_time() -> None:
    sink, sender, _ = make(moderator=True, max_wait_s=100.0)
    assert sink.limit == 100
    await asyncio.gather(*(sink.send(f"m{i}") for i in range(100)))
    sink.bot_roles_seen(frozenset())  # unmodded: back to 20, counting what already went out
    await sink.send("after demotion")
    assert sender.texts[-1] == "after demotion"
    assert sender.times[-1] - sender.times[0] >= 30.0
    assert len(sender.sent) == 101


def test_the_bots_own_badges_set_the_limit_whatever_the_setting() -> None:
    sink, _, _ = make(moderator=False)
    sink.bot_roles_seen(frozenset({Role.MODERATOR}))
    assert sink.limit == 100
    sink.bot_roles_seen(frozenset({Role.VIP, Role.SUBSCRIBER}))  # not counted on: 20
    assert sink.limit == 20
    sink.bot_roles_seen(frozenset({Role.BROADCASTER}))  # the streamer's own account as the bot
    assert sink.limit == 100


async def test_the_same_text_within_30_s_is_dropped_and_allowed_after() -> None:
    sink, sender, clock = make()
    await sink.send("hello chat")
    clock.advance(10.0)
    await sink.send("Hello   CHAT")
    assert sink.counters.dropped_duplicate == 1
    assert sender.texts == ["hello chat"]
    clock.advance(21.5)  # past 30 s and the margin
    await sink.send("hello chat")
    assert sender.texts == ["hello chat", "hello chat"]
    assert sink.counters.dropped_duplicate == 1


async def test_a_long_reply_is_split_and_only_the_first_part_threaded() -> None:
    sink, sender, _ = make()
    sentence = "This sentence is here to make a reply that is much too long for chat. "
    text = (sentence * 9).strip()  # 9 × 70 = 630 characters
    assert len(text) > 600
    posted = await sink.post(text, reply_to="msg-1")
    assert len(sender.sent) == 2
    assert [r for _, _, r in sender.sent] == ["msg-1", None]
    assert all(len(t) <= 500 for t in sender.texts)
    assert all(t.endswith(".") for t in sender.texts)  # split between sentences
    assert " ".join(sender.texts) == text
    assert posted == sender.texts
    assert sink.counters.split == 1


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("/ban x", "ban x"),
        ("!twin pause", "twin pause"),
        (". /me waves", "me waves"),
        ("  ./!timeout someone 600", "timeout someone 600"),
        ("a fine reply.", "a fine reply."),
    ],
)
async def test_leading_command_characters_are_neutralised(text: str, sent: str) -> None:
    sink, sender, _ = make()
    await sink.send(text)
    assert sender.texts == [sent]


async def test_a_reply_that_is_only_command_characters_is_dropped() -> None:
    sink, sender, _ = make()
    await sink.send(" /!. ")
    await sink.send('"/"')  # quotes around a bare command character: nothing to say either
    assert sender.sent == []
    assert sink.counters.dropped_empty == 2


async def test_every_part_of_a_split_reply_is_neutralised() -> None:
    sink, sender, _ = make()
    first = "word " * 97 + "end."  # 489 characters: the next sentence needs its own message
    await sink.send(f"{first} /ban somebody now.")
    assert sender.texts == [first, "ban somebody now."]
    assert sink.counters.neutralised == 1


async def test_a_refused_send_is_counted_and_not_retried() -> None:
    sink, sender, _ = make()
    sender.refuse = "channel_settings"
    posted = await sink.post("A. " + "long sentence here. " * 40, reply_to="m1")
    assert len(sender.sent) == 1  # the first part only, once
    assert posted == []
    assert sink.counters.rejected == 1
    assert sink.counters.abandoned == 1
    assert sink.rejections == {"channel_settings": 1}
    assert sink.counters.sent == 0


async def test_a_transient_sender_error_is_counted_not_raised() -> None:
    sink, sender, _ = make()
    sender.fail = True
    await sink.send("hello")
    assert sink.counters.failed == 1
    assert len(sender.sent) == 1


def test_strip_command_prefix() -> None:
    assert strip_command_prefix("\u3000/w user hi") == "w user hi"
    assert strip_command_prefix("hi /ban x") == "hi /ban x"
    assert strip_command_prefix('"\u200b/ban x"') == '"ban x"'
    assert strip_command_prefix("") == ""


def test_built_from_settings_and_a_chat_sink() -> None:
    clock = VirtualClock()
    sink: ChatSink = TwitchRules.from_settings(
        RecordingSender(clock), clock, ChatSinkSettings(moderator=True, max_wait_s=3.0)
    )
    assert isinstance(sink, TwitchRules)
    assert sink.limit == 100
    assert sink.max_wait_s == 3.0
    assert sink.counters.as_dict()["sent"] == 0


async def test_can_post_soon_follows_the_rate_limit() -> None:
    sink, _, clock = make()
    assert sink.can_post_soon()
    for i in range(20):
        await sink.send(f"message {i}")
    # the window is full for 31 s; a reply could not go out within max_wait_s (10 s)
    assert not sink.can_post_soon()
    clock.advance(22)
    assert sink.can_post_soon()  # a slot frees within the next 10 s
