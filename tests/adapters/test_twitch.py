"""The Twitch adapter: a real twitchio client against the fake Twitch on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import twitchio

from cohost.adapters.twitch import (
    MODERATION_BACKLOG,
    MODERATION_SUBSCRIPTIONS,
    SUBSCRIPTIONS,
    TwitchChat,
    TwitchUnavailable,
    backoff_delays,
    to_chat_message,
)
from cohost.adapters.twitch_tokens import StoredToken, TokenStore
from cohost.core.errors import Permanent
from cohost.core.events import ChatMessage, Moderation, Role, SendResult, UserNotice
from cohost.core.options import TwitchSettings
from tests.support.fake_twitch import (
    BOT_SCOPES,
    BROADCASTER_SCOPES,
    FakeTwitch,
    FakeUser,
    chat_event,
)

WAIT_S = 20.0  # a guard against hanging, never a timing assertion


pytestmark = pytest.mark.usefixtures("twitchio_urls_restored")


class World:
    """The fake, its accounts and the adapter's settings."""

    def __init__(self, fake: FakeTwitch, tmp_path: Path) -> None:
        self.fake = fake
        self.bot = fake.add_user("TwinBot", scopes=BOT_SCOPES)
        self.streamer = fake.add_user("Streamer", scopes=BROADCASTER_SCOPES)
        self.viewer = fake.add_user("Viewer42")
        self.store = TokenStore(tmp_path / "tokens")
        self.store.save(stored(self.bot, "bot"))

    def settings(self, **overrides: Any) -> TwitchSettings:
        values: dict[str, Any] = {
            **self.fake.settings_overrides(),
            "channel": self.streamer.login,
            "broadcaster_id": self.streamer.user_id,
            "bot_login": self.bot.login,
            "bot_id": self.bot.user_id,
            "watch_interval_s": 0.2,
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.2,
            "request_timeout_s": 10.0,
        }
        values.update(overrides)
        return TwitchSettings(**values)

    def chat(self, **overrides: Any) -> TwitchChat:
        return TwitchChat(self.settings(**overrides), self.store, known_bots=["nightbot"])


def stored(user: FakeUser, account: Any) -> StoredToken:
    from pydantic import SecretStr  # noqa: PLC0415

    return StoredToken(
        account=account,
        login=user.login,
        user_id=user.user_id,
        access_token=SecretStr(user.token),
        refresh_token=SecretStr(user.refresh),
        scopes=user.scopes,
        expires_at=0.0,
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeTwitch() as fake:
        yield World(fake, tmp_path)


async def next_event(chat: TwitchChat) -> ChatMessage:
    async with asyncio.timeout(WAIT_S):
        return await anext(aiter(chat.events()))


# --- the translation, alone ----------------------------------------------------------------


def twitchio_message(**kwargs: Any) -> twitchio.ChatMessage:
    streamer = FakeUser(login="streamer", user_id="1", display_name="Streamer", scopes=())
    kwargs.setdefault("chatter", FakeUser(login="viewer", user_id="2", display_name="Viewer",
                                          scopes=()))  # fmt: skip
    return twitchio.ChatMessage(chat_event(broadcaster=streamer, **kwargs), http=None)  # type: ignore[arg-type]


def test_translation_roles_bits_reply() -> None:
    parent = FakeUser(login="mossy", user_id="9", display_name="Mossy", scopes=())
    message = twitchio_message(
        text="Cheer100 what do you think, twin?",
        message_id="m-1",
        badges=[("moderator", "1"), ("subscriber", "12")],
        bits=100,
        reply_to=("parent-7", parent),
    )
    got = to_chat_message(message, ts=123.0)
    assert got.id == "m-1"
    assert got.channel == "streamer"
    assert got.login == "viewer"
    assert got.display_name == "Viewer"
    assert got.user_id == "2"
    assert got.text == "Cheer100 what do you think, twin?"
    assert got.roles == {Role.MODERATOR, Role.SUBSCRIBER}
    assert got.role is Role.MODERATOR
    assert got.badges == (("moderator", "1"), ("subscriber", "12"))
    assert got.bits == 100
    assert got.reply_parent_id == "parent-7"
    assert got.reply_parent_login == "mossy"
    assert got.ts == 123.0
    assert not got.first_msg
    assert not got.emote_only


@pytest.mark.parametrize(
    ("badges", "roles"),
    [
        ([], set()),
        ([("broadcaster", "1")], {Role.BROADCASTER, Role.MODERATOR}),
        ([("vip", "1")], {Role.VIP}),
        ([("founder", "0")], {Role.SUBSCRIBER}),
        ([("premium", "1"), ("glhf-pledge", "1")], set()),
    ],
)
def test_translation_roles_from_badges(badges: list[tuple[str, str]], roles: set[Role]) -> None:
    assert to_chat_message(twitchio_message(text="hi", badges=badges), ts=0).roles == roles


def emote(name: str) -> dict[str, Any]:
    data = {"id": "25", "emote_set_id": "0", "owner_id": "0", "format": ["static"]}
    return {"type": "emote", "text": name, "cheermote": None, "mention": None, "emote": data}


def text(words: str) -> dict[str, Any]:
    return {"type": "text", "text": words, "cheermote": None, "emote": None, "mention": None}


@pytest.mark.parametrize(
    ("fragments", "expected"),
    [
        ([emote("Kappa"), text(" "), emote("PogChamp")], True),
        ([emote("Kappa"), text(" lol")], False),
        ([text("Kappa")], False),  # no emote fragment: Twitch did not see an emote
    ],
)
def test_translation_emote_only(fragments: list[dict[str, Any]], expected: bool) -> None:
    message = twitchio_message(text="".join(f["text"] for f in fragments), fragments=fragments)
    assert to_chat_message(message, ts=0).emote_only is expected


def test_translation_first_time_chatter() -> None:
    message = twitchio_message(text="hello everyone!", message_type="user_intro")
    assert to_chat_message(message, ts=0).first_msg


async def test_backoff_is_jittered_and_capped() -> None:
    delays = backoff_delays(1.0, 8.0)
    got = [await anext(delays) for _ in range(12)]
    await delays.aclose()
    assert all(0.5 <= d <= 8.0 for d in got)
    assert len(set(got)) > 1


# --- against the fake ----------------------------------------------------------------------


async def test_chat_arrives_as_a_chat_message(world: World) -> None:
    fake = world.fake
    async with world.chat() as chat:
        await fake.wait_for_subscriptions(1)
        sub = fake.subscriptions[0]
        assert sub.type == "channel.chat.message"
        assert sub.condition == {"broadcaster_user_id": world.streamer.user_id,
                                 "user_id": world.bot.user_id}  # fmt: skip
        parent = await fake.push_chat(chatter=world.streamer, text="welcome in",
                                      badges=[("broadcaster", "1")])  # fmt: skip
        first = await next_event(chat)
        assert first.roles == {Role.BROADCASTER, Role.MODERATOR}
        await fake.push_chat(
            chatter=world.viewer,
            text="cheer50 are you real?",
            badges=[("vip", "1"), ("subscriber", "3")],
            bits=50,
            reply_to=(parent, world.streamer),
        )
        got = await next_event(chat)
    assert got.login == "viewer42"
    assert got.display_name == "Viewer42"
    assert got.channel == "streamer"
    assert got.text == "cheer50 are you real?"
    assert got.roles == {Role.VIP, Role.SUBSCRIBER}
    assert got.bits == 50
    assert got.reply_parent_id == parent
    assert got.reply_parent_login == "streamer"


async def test_send_goes_to_helix_with_the_reply_parent(world: World) -> None:
    async with world.chat() as chat:
        await world.fake.wait_for_subscriptions(1)
        await world.fake.push_chat(chatter=world.viewer, text="hello twin", message_id="parent-1")
        result = await chat.send_raw("hi there", reply_to="parent-1")
        plain = await chat.send_raw("and hello", reply_to=None)
        with pytest.raises(TwitchUnavailable, match="HTTP 400"):  # only under chat's own
            await chat.send_raw("to nothing", reply_to="made-up")
    sent = world.fake.sent
    assert [s.text for s in sent] == ["hi there", "and hello"]
    assert sent[0].reply_parent_message_id == "parent-1"
    assert sent[1].reply_parent_message_id is None
    assert sent[0].sender_id == world.bot.user_id
    assert sent[0].broadcaster_id == world.streamer.user_id
    assert result == SendResult(is_sent=True, message_id=sent[0].message_id, drop_reason=None)
    assert plain.is_sent


async def test_send_without_a_client_secret_uses_the_bots_token(world: World) -> None:
    async with world.chat(client_secret=None) as chat:
        await chat.send_raw("hi", reply_to=None)
        await world.fake.wait_for_subscriptions(1)
    assert world.fake.sent[0].token == world.bot.token
    assert "client_credentials" not in world.fake.token_requests


async def test_refused_send_comes_back_with_the_drop_reason(world: World) -> None:
    world.fake.refuse_next_send("msg_duplicate", "identical message")
    async with world.chat() as chat:
        result = await chat.send_raw("same again", reply_to=None)
    assert result == SendResult(is_sent=False, message_id=None, drop_reason="msg_duplicate")


async def test_known_bots_are_ignored_and_the_twins_own_lines_go_on(world: World) -> None:
    fake = world.fake
    nightbot = fake.add_user("Nightbot")
    async with world.chat() as chat:
        await fake.wait_for_subscriptions(1)
        assert chat.bot_login == "twinbot"
        await fake.push_chat(chatter=world.bot, text="my own reply")
        await fake.push_chat(chatter=nightbot, text="!commands: ...")
        await fake.push_chat(chatter=world.viewer, text="a real viewer")
        own = await next_event(chat)
        got = await next_event(chat)
    # the twin's own line, for the window the twin model continues (never picked)
    assert (own.login, own.text) == ("twinbot", "my own reply")
    assert got.text == "a real viewer"
    assert chat.ignored == 1


async def test_dropped_websocket_reconnects_and_resubscribes(world: World) -> None:
    fake = world.fake
    async with world.chat() as chat:
        await fake.wait_for_subscriptions(1)
        await fake.drop_websocket()
        async with asyncio.timeout(WAIT_S):
            await fake.wait_for_subscriptions(2 * len(SUBSCRIPTIONS))
            await fake.wait_for_active_subscriptions(len(SUBSCRIPTIONS))
        assert len(fake.sessions) >= 2
        await fake.push_chat(chatter=world.viewer, text="still there?")
        got = await next_event(chat)
    assert got.text == "still there?"


async def test_watchdog_resubscribes_when_twitchio_gives_up(world: World) -> None:
    fake = world.fake
    async with world.chat() as chat:
        await fake.wait_for_subscriptions(1)
        fake.fail_subscriptions(1, status=500)  # twitchio's own resubscribe fails and stops
        await fake.drop_websocket()
        async with asyncio.timeout(WAIT_S):
            await fake.wait_for_active_subscriptions(len(SUBSCRIPTIONS))
        await fake.push_chat(chatter=world.viewer, text="back again")
        got = await next_event(chat)
        assert chat.resubscribed == 1
    assert got.text == "back again"


async def test_moderation_arrives_in_order_with_chat(world: World) -> None:
    fake = world.fake
    channel = world.streamer.login.lower()
    async with world.chat() as chat:
        await fake.wait_for_subscriptions(len(SUBSCRIPTIONS))
        events = aiter(chat.events())
        asked = await fake.push_chat(chatter=world.viewer, text="something rude")
        await fake.push_moderation("delete", target=world.viewer, message_id=asked)
        await fake.push_moderation("clear_user", target=world.viewer)
        await fake.push_moderation("clear")
        async with asyncio.timeout(WAIT_S):
            got = [await anext(events) for _ in range(4)]
    message, deleted, cleared_user, cleared = got
    assert isinstance(message, ChatMessage) and message.id == asked
    viewer = world.viewer.login.lower()
    assert deleted == Moderation(
        kind="delete",
        channel=channel,
        ts=deleted.ts,
        target_login=viewer,
        target_message_id=asked,
    )
    # a ban or a timeout: Twitch does not say which, and either takes the messages down
    assert cleared_user == Moderation(
        kind="timeout", channel=channel, ts=cleared_user.ts, target_login=viewer
    )
    assert cleared == Moderation(kind="clear", channel=channel, ts=cleared.ts)


async def test_a_failed_moderation_subscription_is_retried_and_chat_starts_anyway(
    world: World,
) -> None:
    fake = world.fake
    fake.fail_subscriptions(1, status=503, sub_type="channel.chat.clear")
    async with world.chat() as chat:  # chat is up without it
        await fake.push_chat(chatter=world.viewer, text="hello")
        assert (await next_event(chat)).text == "hello"
        async with asyncio.timeout(WAIT_S):  # the watchdog subscribes it
            await fake.wait_for_active_subscriptions(len(SUBSCRIPTIONS))
        await fake.push_moderation("clear")
        event = await anext(aiter(chat.events()))
        assert isinstance(event, Moderation) and event.kind == "clear"


async def test_session_reconnect_moves_to_the_new_url(world: World) -> None:
    fake = world.fake
    async with world.chat() as chat:
        await fake.wait_for_subscriptions(1)
        await fake.send_reconnect()
        async with asyncio.timeout(WAIT_S):
            await fake.wait_for_sessions(2)
        await fake.push_chat(chatter=world.viewer, text="after the migration")
        got = await next_event(chat)
    assert got.text == "after the migration"
    # Twitch moved them; nothing was subscribed again
    assert len(fake.subscriptions) == len(SUBSCRIPTIONS)


async def test_revoked_token_is_permanent(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = world.fake
    secrets = (world.bot.token, world.bot.refresh)
    async with world.chat() as chat:
        await fake.wait_for_subscriptions(1)
        await fake.revoke_token(world.bot)
        with pytest.raises(Permanent, match="revoked"):
            await next_event(chat)
    assert not any(s in caplog.text for s in secrets)


async def test_revoked_token_at_start_is_permanent(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = (world.bot.token, world.bot.refresh)
    await world.fake.revoke_token(world.bot)
    with pytest.raises(Permanent, match="cohost auth") as raised:
        async with world.chat():
            pass
    assert not any(s in str(raised.value) for s in secrets)
    assert not any(s in caplog.text for s in secrets)


async def test_missing_token_is_permanent(world: World) -> None:
    world.store.delete("bot")
    with pytest.raises(Permanent, match="cohost auth"):
        async with world.chat():
            pass


async def test_refreshed_token_is_stored(world: World) -> None:
    world.fake.expire_token(world.bot)
    async with world.chat() as chat:
        await chat.send_raw("hello", reply_to=None)
    assert "refresh_token" in world.fake.token_requests
    saved = world.store.require("bot")
    assert saved.access_token.get_secret_value() == world.bot.token
    assert saved.refresh_token.get_secret_value() == world.bot.refresh


async def test_full_queue_keeps_the_newest(world: World) -> None:
    fake = world.fake
    async with world.chat(queue_size=2) as chat:
        await fake.wait_for_subscriptions(1)
        for n in range(5):
            await fake.push_chat(chatter=world.viewer, text=f"message {n}")
        async with asyncio.timeout(WAIT_S):
            while chat.dropped < 3:  # noqa: ASYNC110 (the adapter exposes a counter, not an event)
                await asyncio.sleep(0.01)
        events = chat.events()
        got = [(await anext(events)).text, (await anext(events)).text]
        await events.aclose()
    assert got == ["message 3", "message 4"]
    assert chat.dropped == 3


async def test_the_bots_own_message_tells_its_roles_in_the_channel(world: World) -> None:
    fake = world.fake
    seen: list[frozenset[Role]] = []
    async with world.chat() as chat:
        chat.on_bot_roles = seen.append
        await fake.push_chat(chatter=world.bot, text="a reply", badges=[("moderator", "1")])
        await fake.push_chat(chatter=world.bot, text="another", badges=[("moderator", "1")])
        await fake.push_chat(chatter=world.bot, text="after unmod")
        await fake.push_chat(chatter=world.viewer, text="hello")
        got = [(await next_event(chat)).text for _ in range(4)]
        assert got == ["a reply", "another", "after unmod", "hello"]  # in order, for the window
    assert seen == [frozenset({Role.MODERATOR}), frozenset()]  # told only of changes
    assert chat.bot_roles == frozenset()


async def test_a_full_queue_drops_chat_but_never_moderation(world: World) -> None:
    fake = world.fake
    async with world.chat(queue_size=2) as chat:
        first = await fake.push_chat(chatter=world.viewer, text="message 0")
        await fake.push_moderation("delete", target=world.viewer, message_id=first)
        for n in (1, 2):
            await fake.push_chat(chatter=world.viewer, text=f"message {n}")
        async with asyncio.timeout(WAIT_S):
            while chat.dropped < 2:  # noqa: ASYNC110 (the adapter exposes a counter, not an event)
                await asyncio.sleep(0.01)
        events = chat.events()
        got = [await anext(events), await anext(events)]
        await events.aclose()
    deleted, newest = got
    assert isinstance(deleted, Moderation) and deleted.target_message_id == first
    assert isinstance(newest, ChatMessage) and newest.text == "message 2"


async def test_moderation_waiting_unread_is_bounded_too(world: World) -> None:
    fake = world.fake
    async with world.chat(queue_size=1) as chat:
        ids = [f"m{n}" for n in range(10)]
        for message_id in ids:
            await fake.push_moderation("delete", target=world.viewer, message_id=message_id)
        async with asyncio.timeout(WAIT_S):
            while chat.dropped_moderation < 6:  # noqa: ASYNC110 (a counter, not an event)
                await asyncio.sleep(0.01)
        events = chat.events()
        got = [await anext(events) for _ in range(MODERATION_BACKLOG)]
        await events.aclose()
    assert [e.target_message_id for e in got if isinstance(e, Moderation)] == ids[-4:]
    assert chat.dropped == 0  # no chat message was there to drop


async def test_the_watchdog_survives_an_error_it_did_not_expect(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    async with world.chat() as chat:
        real = chat._alive_types
        looks = 0

        def flaky() -> set[str]:
            nonlocal looks
            looks += 1
            if looks == 1:
                raise ValueError("no suitable websocket")  # as twitchio can, mid-reconnect
            return real()

        chat._alive_types = flaky  # type: ignore[method-assign]
        async with asyncio.timeout(WAIT_S):
            while looks < 3:  # noqa: ASYNC110 (a counter, not an event)
                await asyncio.sleep(0.05)
        assert chat._watchdog is not None and not chat._watchdog.done()
    assert "no suitable websocket" in caplog.text


async def test_a_moderation_type_that_keeps_failing_backs_off_quietly(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cohost.adapters.twitch")
    fake = world.fake
    fake.fail_subscriptions(1000, status=403, sub_type="channel.chat.clear")

    def tried() -> int:
        return 1000 - sum(1 for _, kind in fake._sub_failures if kind == "channel.chat.clear")

    # the watchdog's own looks stay out of the way: this test takes them itself
    settings = {"reconnect_min_s": 0.5, "reconnect_max_s": 4.0, "watch_interval_s": 3600.0}
    async with world.chat(**settings) as chat:
        [clear] = [k for k in MODERATION_SUBSCRIPTIONS if k.type == "channel.chat.clear"]
        delays = [chat._retry_after[clear.type].delay]  # after the failure at the start
        for _ in range(4):
            await chat._subscribe_optional(clear)
            delays.append(chat._retry_after[clear.type].delay)
        assert delays == [0.5, 1.0, 2.0, 4.0, 4.0]  # doubling, up to the cap
        # two looks in a row find it missing, but its next try is not due: left alone
        before = tried()
        missing: dict[str, int] = {}
        await chat._look(missing)
        await chat._look(missing)
        assert tried() == before == 5
        await fake.push_chat(chatter=world.viewer, text="chat works")
        assert (await next_event(chat)).text == "chat works"
    warnings = [r for r in caplog.records if "channel.chat.clear" in r.getMessage()]
    assert len(warnings) == 1  # once per failing streak
    assert chat.resubscribed == 0  # chat itself was never lost


async def test_a_token_for_another_account_is_refused_clearly(world: World) -> None:
    chat = world.chat(bot_login="somebody_else")
    with pytest.raises(Permanent, match="stored bot token is for twinbot"):
        async with chat:
            pass


async def test_subs_and_raids_arrive_as_notices(world: World) -> None:
    fake = world.fake
    raider = fake.add_user("RaiderRita")
    async with world.chat() as chat:
        await fake.wait_for_active_subscriptions(len(SUBSCRIPTIONS))
        assert chat.links()["chat.notification"] == "up"
        await fake.push_notification(
            "raid",
            chatter=raider,
            system_message="RaiderRita is raiding with a party of 25.",
            viewers=25,
        )
        await fake.push_notification(
            "resub",
            chatter=world.viewer,
            system_message="Viewer42 subscribed at Tier 1. They've subscribed for 7 months!",
            text="seven months of gerald content",
            months=7,
            badges=[("subscriber", "6")],
        )
        raid, resub = await next_event(chat), await next_event(chat)
    assert isinstance(raid, UserNotice) and isinstance(resub, UserNotice)
    assert (raid.kind, raid.login, raid.viewers, raid.text) == ("raid", "raiderrita", 25, "")
    assert raid.system_text == "RaiderRita is raiding with a party of 25."
    assert raid.channel == world.streamer.login
    assert (resub.kind, resub.months, resub.text) == ("resub", 7, "seven months of gerald content")
    assert resub.roles == frozenset({Role.SUBSCRIBER})
    assert resub.user_id == world.viewer.user_id
