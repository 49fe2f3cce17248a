"""Live on (a fake) Twitch: a regular welcomed back in the twin's own words, or in its answer."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cohost.app.chatters import regulars_file
from cohost.pipeline.regulars import Regular
from tests.app.test_live import WAIT_S, Live, _sent, _start, _stop
from tests.support.fake_twitch import FakeTwitch, FakeUser

pytestmark = pytest.mark.usefixtures("twitchio_urls_restored")


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with FakeTwitch() as fake:
        yield Live(fake, tmp_path / "data")


def _kept(live: Live, *viewers: FakeUser) -> None:
    """These viewers chatted here in earlier streams."""
    path = regulars_file(live.data_dir, live.streamer.login)
    path.parent.mkdir(parents=True)
    seen = time.time() - 86_400
    kept = [
        Regular(
            login=v.login, user_id=v.user_id, display_name=v.display_name,
            first_seen=seen - 86_400 * 20, last_seen=seen, streams=3, messages=50,
            notes=("my cat is called biscuit",), stream=seen - 3600,
        )
        for v in viewers
    ]  # fmt: skip
    path.write_text(json.dumps({"version": 1, "chatters": [dataclasses.asdict(k) for k in kept]}))


def _traces(live: Live) -> list[dict[str, Any]]:
    files = list((live.data_dir / "traces").glob("*"))
    if not files:
        return []
    [trace_file] = files
    return [json.loads(line) for line in trace_file.read_text().splitlines()]


async def test_a_regular_saying_hello_gets_a_welcome_turn_and_one_asking_one_answer(
    live: Live,
) -> None:
    asker = live.fake.add_user("breadfan")
    _kept(live, live.viewer, asker)
    task = await _start(live, regulars={"enabled": True, "greeting": "twin", "cooldown_s": 0})
    try:
        await live.fake.push_chat(chatter=live.viewer, text="hey hey, back for the bread stream")
        await _sent(live, 1)
        asked = await live.fake.push_chat(
            chatter=asker, text="twinbot how is gerald the sourdough starter doing?"
        )
        await _sent(live, 2)
        async with asyncio.timeout(WAIT_S):  # the answer's turn ends (and its trace is written)
            while len(_traces(live)) < 2:  # noqa: ASYNC110 (a file)
                await asyncio.sleep(0.02)
    finally:
        await _stop(task)
    welcome, answer = live.fake.sent
    # the hello is welcomed by a turn of its own, a line in the twin's words (or, had it said
    # nothing, the template), threaded under nothing
    traces = _traces(live)
    assert [t["decision"]["category"] for t in traces] == ["welcome", "picked"]
    assert [t["outcome"] for t in traces] == ["answered", "answered"]
    assert traces[0]["decision"]["message"]["text"] == (
        f"{live.viewer.display_name} is back in chat for the first time this stream."
    )
    assert welcome.text == traces[0]["reply"] and welcome.reply_parent_message_id is None
    # the question gets one answer, threaded under it: that answer is the asker's welcome
    assert answer.reply_parent_message_id == asked
    assert not any(s.text.startswith("welcome back") for s in live.fake.sent)
    [hit] = [h for h in traces[1]["hits"] if h["title"] == f"{asker.display_name} in chat"]
    assert "back in chat for the first time this stream" in hit["text"]
