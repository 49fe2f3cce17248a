"""Held replies inside the daemon: chat commands take only an unambiguous one; moderation drops."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cohost.app.daemon import Daemon
from cohost.core.clock import RealClock
from cohost.core.events import Moderation
from tests.faults.test_local import STREAMER, WAIT_S, Feed, RecordingSink, _settings, chat


async def _until_held(daemon: Daemon, count: int) -> None:
    async with asyncio.timeout(WAIT_S):
        while daemon.session.approvals.waiting() < count:  # noqa: ASYNC110 (the daemon's state)
            await asyncio.sleep(0.01)


async def _turns_done(daemon: Daemon, count: int) -> None:
    async with asyncio.timeout(WAIT_S):
        while sum(daemon.session.counters.turns.values()) < count:  # noqa: ASYNC110 (a counter)
            await asyncio.sleep(0.01)


async def test_chat_commands_take_only_the_one_held_reply_and_moderation_drops_them(
    tmp_path: Path,
) -> None:
    base = _settings(tmp_path / "data")
    settings = base.model_copy(update={"turn": base.turn.model_copy(update={"hold": True})})
    sink = RecordingSink()
    daemon = Daemon(settings, source=Feed(), sink=sink, clock=RealClock())
    source = daemon.source
    assert isinstance(source, Feed)
    task = asyncio.create_task(daemon.run(until_source_ends=True))
    try:
        for n, text in enumerate(["how is gerald doing?", "what are you baking next?"]):
            await source.queue.put(chat(f"twinbot {text}", n, login=f"viewer{n}"))
            await _turns_done(daemon, n + 1)
        await _until_held(daemon, 2)
        assert sink.sent == []

        # two waiting: "the newest" is a guess, so a chat command takes neither
        assert await daemon.session.approve_held(0, login="oakmod") == (
            False,
            "2 replies are held: choose on the dashboard",
        )
        assert (await daemon.session.reject_held(login="oakmod"))[0] is False

        # the first question is deleted by a moderator: its held reply can never go out
        held = daemon.session.approvals.held()
        first = held[0]
        deleted = Moderation(
            kind="delete", channel=STREAMER, ts=0.0, target_message_id=first.decision.message.id
        )
        await source.queue.put(deleted)
        async with asyncio.timeout(WAIT_S):
            while first.outcome == "held":  # noqa: ASYNC110 (the daemon's state)
                await asyncio.sleep(0.01)
        assert first.reason == "the message it answered was deleted"

        # one left: the command is unambiguous now
        ok, said = await daemon.session.approve_held(0, login="oakmod")
        assert ok and said == "approved", said
        assert (
            daemon.session.approvals.held() == []
        )  # taken at once: a second command finds nothing
        assert (await daemon.session.approve_held(0, login="othermod"))[0] is False
        await sink.wait_for(1)  # the reply goes out on its own task
        assert [reply_to for _, reply_to in sink.sent] == [held[1].decision.message.id]
        async with asyncio.timeout(WAIT_S):
            while held[1].outcome == "held":  # noqa: ASYNC110 (the daemon's state)
                await asyncio.sleep(0.01)
        assert daemon.session.counters.settled == {"silent": 1, "answered": 1}
    finally:
        await source.queue.put(None)
        async with asyncio.timeout(WAIT_S):
            await task
