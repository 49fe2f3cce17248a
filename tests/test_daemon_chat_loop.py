"""Reading chat never waits on what the twin says: a send held by Twitch's limit, or a voice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cohost.clock import RealClock
from cohost.daemon import Daemon
from cohost.events import Role
from tests.faults.test_local import WAIT_S, Feed, _settings, chat


class FullChat:
    """A sink at Twitch's rate limit: every send waits until the test opens it."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.waiting = 0
        self.sent: list[str] = []

    async def send(self, text: str, *, reply_to: str | None = None) -> bool:
        self.waiting += 1
        await self.open.wait()
        self.waiting -= 1
        self.sent.append(text)
        return True


async def test_commands_are_read_while_a_send_waits_for_the_rate_limit(tmp_path: Path) -> None:
    sink = FullChat()
    daemon = Daemon(_settings(tmp_path / "data"), source=Feed(), sink=sink, clock=RealClock())
    source = daemon.source
    assert isinstance(source, Feed)
    mod = (Role.MODERATOR,)
    task = asyncio.create_task(daemon.run(until_source_ends=True))
    try:
        await source.queue.put(chat("!twin say back in five, chat", 1, login="oakmod", roles=mod))
        await source.queue.put(chat("!twin pause", 2, login="oakmod", roles=mod))
        async with asyncio.timeout(WAIT_S):  # before: reading waited on the `say` send
            while not daemon.state.paused:  # noqa: ASYNC110 (the daemon's state)
                await asyncio.sleep(0.01)
        assert sink.sent == [] and sink.waiting >= 1  # the `say` is still held by the limit
        sink.open.set()
    finally:
        await source.queue.put(None)
        async with asyncio.timeout(WAIT_S):
            await task
    # once chat had room, everything went out, in the order it was said
    assert sink.sent == ["back in five, chat", "paused"]
