"""Live on (a fake) Twitch: Twitch's first-message marker, regulars welcomed, `forget me`."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cohost.app.chatters import chatters_file, regulars_file
from cohost.pipeline.regulars import Regular
from tests.app.test_live import Live, _sent, _start, _stop
from tests.support.fake_twitch import FakeTwitch

pytestmark = pytest.mark.usefixtures("twitchio_urls_restored")


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with FakeTwitch() as fake:
        yield Live(fake, tmp_path / "data")


def _parts(live: Live) -> dict[str, dict[str, float]]:
    [trace_file] = (live.data_dir / "traces").iterdir()
    traces = [json.loads(line) for line in trace_file.read_text().splitlines()]
    return {t["decision"]["message"]["login"]: dict(t["decision"]["parts"]) for t in traces}


async def test_twitchs_own_marker_flags_a_first_time_chatter_from_the_first_stream(
    live: Live,
) -> None:
    # the memory of chatters is new (it flags no one for 12 hours), but EventSub's
    # `user_intro` is Twitch saying so: that chatter is a first-time chatter at once
    newcomer = live.fake.add_user("newcomer7")
    task = await _start(live)
    try:
        await live.fake.push_chat(chatter=live.viewer, text="twinbot how is gerald doing?")
        await _sent(live, 1)
        await live.fake.push_chat(
            chatter=newcomer, text="twinbot hi! first time here", message_type="user_intro"
        )
        await _sent(live, 2)
    finally:
        await _stop(task)
    parts = _parts(live)
    assert "first_time" not in parts[live.viewer.login]
    assert parts[newcomer.login]["first_time"] > 0
    memory = chatters_file(live.data_dir, live.streamer.login).read_text()
    assert newcomer.user_id in memory.splitlines()


async def test_a_regular_is_welcomed_back_and_can_have_themselves_forgotten(live: Live) -> None:
    viewer = live.viewer
    path = regulars_file(live.data_dir, live.streamer.login)
    path.parent.mkdir(parents=True)
    seen = time.time() - 86_400
    kept = Regular(
        login=viewer.login,
        user_id=viewer.user_id,
        display_name=viewer.display_name,
        first_seen=seen - 86_400 * 20,
        last_seen=seen,
        streams=3,
        messages=50,
        notes=("my cat is called biscuit",),
        stream=seen - 3600,
    )
    path.write_text(json.dumps({"version": 1, "chatters": [dataclasses.asdict(kept)]}))
    task = await _start(live, regulars={"enabled": True})
    try:
        await live.fake.push_chat(chatter=viewer, text="hey hey, back for the bread stream")
        await _sent(live, 1)
        assert live.replies() == [f"welcome back, {viewer.display_name}!"]
        await live.fake.push_chat(chatter=viewer, text="!twin forget me")
        await _sent(live, 2)
        assert live.replies()[1] == "done: cohost keeps nothing about you now"
    finally:
        await _stop(task)
    for file in (path, chatters_file(live.data_dir, live.streamer.login)):
        text = file.read_text()
        assert viewer.login not in text and viewer.user_id not in text.splitlines()
        assert "biscuit" not in text
