"""The daemon on (a fake) Twitch thanks raids, follows, subs, gift bombs and cheers, each once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cohost.adapters.twitch import SUBSCRIPTIONS
from cohost.app.daemon import run_daemon
from cohost.pipeline.twitch_rules import DUPLICATE_S, LIMIT, WINDOW_S
from tests.app.test_live import WAIT_S, Live
from tests.support.fake_twitch import FakeTwitch

pytestmark = pytest.mark.usefixtures("twitchio_urls_restored")

# Every kind on, with a short batch so the test does not wait long; twin-styled for raids and
# cheers (a turn answers the event), a template for the rest.
REACTIONS: dict[str, Any] = {
    "raid": {"mode": "twin", "batch_s": 0.5},
    "follow": {"mode": "template", "batch_s": 0.5},
    "sub": {"mode": "template", "batch_s": 0.5},
    "resub": {"mode": "template", "batch_s": 0.5},
    "gift": {"mode": "template", "batch_s": 1.5},
    "cheer": {"mode": "twin", "batch_s": 0.5},
}


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with FakeTwitch() as fake:
        yield Live(fake, tmp_path / "data")


async def test_each_stream_event_gets_its_thank_you_once(live: Live) -> None:
    fake = live.fake
    raider, fan, subber, gifter = (
        fake.add_user(name) for name in ("RaiderRita", "NewFan", "SubSam", "GiftGerri")
    )
    lucky = [fake.add_user(f"lucky{i}") for i in range(50)]
    task = asyncio.create_task(run_daemon(live.settings(reactions=REACTIONS), console=False))
    try:
        async with asyncio.timeout(WAIT_S):
            await fake.wait_for_active_subscriptions(len(SUBSCRIPTIONS) + 1)  # and follows
        await fake.push_notification(
            "raid",
            chatter=raider,
            system_message="RaiderRita is raiding with a party of 500.",
            viewers=500,
        )
        await fake.push_follow(fan)
        await fake.push_notification(
            "sub", chatter=subber, system_message="SubSam subscribed at Tier 1."
        )
        await fake.push_gift_bomb(gifter=gifter, recipients=lucky)
        cheer_id = await fake.push_chat(chatter=live.viewer, text="Cheer500 bread!", bits=500)
        try:
            async with asyncio.timeout(WAIT_S):
                await fake.wait_for_sent(5)
        except TimeoutError:
            raise AssertionError([s.text for s in fake.sent]) from None
        await asyncio.sleep(2.0)  # anything more would come by now: the batches have closed
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    sent = fake.sent
    texts = [s.text for s in sent]
    assert len(sent) == 5, texts
    assert all(s.is_sent for s in sent)
    templates = {
        "Thanks for the follow, NewFan!",
        "Thank you for subscribing, SubSam!",
        "Thank you GiftGerri for 50 gift subs!",
    }
    assert templates <= set(texts)
    # the twin-styled ones: a turn answers the raid (a notice: nothing to thread under) and the
    # cheer (threaded under the cheering message); a turn that says nothing (the embedded twin
    # may find nothing new to say) falls back to the kind's template
    rest = [s for s in sent if s.text not in templates]
    cheer_template = "Thanks for the 500 bits, viewer42!"
    [to_cheer] = [
        s for s in rest if s.reply_parent_message_id == cheer_id or s.text == cheer_template
    ]
    [to_raid] = [s for s in rest if s is not to_cheer]
    assert to_raid.reply_parent_message_id is None
    # Twitch's rules: under the limit per window, no text twice within the duplicate window
    assert len(sent) <= LIMIT and sent[-1].at - sent[0].at < WINDOW_S
    assert len(set(texts)) == len(texts) or sent[-1].at - sent[0].at > DUPLICATE_S
    traces_dir = live.data_dir / "traces"
    traces = [json.loads(line) for f in traces_dir.iterdir() for line in f.read_text().splitlines()]
    thanked = sorted(t["decision"]["message"]["text"].split(".")[0] for t in traces)
    assert thanked == [
        "RaiderRita raided the channel with 500 viewers",
        "viewer42 cheered 500 bits",
    ]
    assert all(t["decision"]["category"] == "thanks" for t in traces)
