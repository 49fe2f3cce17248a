"""Stream events through a real twitchio client: gift bombs, follows and cheers from the fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cohost.adapters.twitch import FOLLOW_SUBSCRIPTION, SUBSCRIPTIONS, TwitchChat
from cohost.core.events import ChatMessage, Follow, SourceEvent, UserNotice
from tests.adapters.test_twitch import World
from tests.support.fake_twitch import FakeTwitch

WAIT_S = 20.0  # a guard against hanging, never a timing assertion

pytestmark = pytest.mark.usefixtures("twitchio_urls_restored")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeTwitch() as fake:
        yield World(fake, tmp_path)


async def events(chat: TwitchChat, count: int) -> list[SourceEvent]:
    out: list[SourceEvent] = []
    async with asyncio.timeout(WAIT_S):
        async for event in chat.events():
            out.append(event)
            if len(out) == count:
                return out
    return out


async def test_a_gift_bomb_a_follow_and_a_cheer_arrive_as_events(world: World) -> None:
    fake = world.fake
    gifter = fake.add_user("GiftGerri")
    fan = fake.add_user("NewFan")
    recipients = [fake.add_user(f"lucky{i}") for i in range(3)]
    chat = TwitchChat(world.settings(), world.store, follows=True)
    async with chat:
        async with asyncio.timeout(WAIT_S):
            await fake.wait_for_active_subscriptions(len(SUBSCRIPTIONS) + 1)
        assert chat.links()["follow"] == "up"
        await fake.push_gift_bomb(gifter=gifter, recipients=recipients)
        await fake.push_follow(fan)
        await fake.push_chat(chatter=world.viewer, text="Cheer500 bread!", bits=500)
        bomb, *gifts, follow, cheer = await events(chat, 6)
    assert isinstance(bomb, UserNotice)
    assert (bomb.kind, bomb.login, bomb.gifts) == ("submysterygift", "giftgerri", 3)
    assert all(isinstance(g, UserNotice) and g.in_community_gift for g in gifts)
    assert [g.recipient for g in gifts if isinstance(g, UserNotice)] == [
        "lucky0",
        "lucky1",
        "lucky2",
    ]
    assert isinstance(follow, Follow)
    assert (follow.login, follow.display_name, follow.user_id) == ("newfan", "NewFan", fan.user_id)
    assert follow.channel == world.streamer.login
    assert isinstance(cheer, ChatMessage) and cheer.bits == 500
    [sub] = [s for s in fake.subscriptions if s.type == FOLLOW_SUBSCRIPTION.type]
    # Twitch reads follows for a moderator: the bot's own token, named in the condition
    assert sub.condition == {
        "broadcaster_user_id": world.streamer.user_id,
        "moderator_user_id": world.bot.user_id,
    }


async def test_follows_are_not_asked_for_unless_wanted(world: World) -> None:
    async with world.chat() as chat:
        async with asyncio.timeout(WAIT_S):
            await world.fake.wait_for_active_subscriptions(len(SUBSCRIPTIONS))
        await asyncio.sleep(0.3)  # the watchdog looks once or more: it adds nothing
        assert "follow" not in chat.links()
    assert all(s.type != FOLLOW_SUBSCRIPTION.type for s in world.fake.subscriptions)
