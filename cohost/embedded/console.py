"""Chat from the terminal: a ChatSource over standard input and a sink that prints replies."""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
from collections import deque
from collections.abc import AsyncGenerator
from typing import TextIO

from cohost.core.events import ChatEvent, ChatMessage, Role
from cohost.core.ports import Clock

# The same badge characters Twitch-Chat-Downloader writes: `~name: hi` is the broadcaster.
BADGES = {"~": Role.BROADCASTER, "@": Role.MODERATOR, "!": Role.VIP, "%": Role.SUBSCRIBER}
DEFAULT_LOGIN = "viewer"


def parse_console_line(line: str, *, ts: float, number: int, channel: str) -> ChatMessage | None:
    """`[~@!%]name: text`, or plain text from a viewer; blank lines are nothing."""
    text = line.strip()
    if not text:
        return None
    roles: frozenset[Role] = frozenset()
    login = DEFAULT_LOGIN
    head, sep, rest = text.partition(": ")
    if sep and head and " " not in head:
        badge = BADGES.get(head[0])
        name = head[1:] if badge is not None else head
        if name:
            login, text = name, rest.strip()
            roles = frozenset({badge}) if badge is not None else frozenset()
    return ChatMessage(
        id=f"console:{number}",
        channel=channel,
        login=login.casefold(),
        display_name=login,
        text=text,
        ts=ts,
        roles=roles,
    )


class ConsoleSource:
    """Reads chat lines from a text stream on a thread (stdin blocks), until it ends."""

    def __init__(self, clock: Clock, *, stream: TextIO | None = None, channel: str = "console"):
        self._clock = clock
        self._stream = stream or sys.stdin
        self._channel = channel

    async def events(self) -> AsyncGenerator[ChatEvent, None]:
        loop = asyncio.get_running_loop()
        # small: a person types slowly; a pasted flood waits in the pipe, not in memory
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=64)

        def pump() -> None:
            try:
                for line in self._stream:
                    asyncio.run_coroutine_threadsafe(queue.put(line), loop).result()
            except RuntimeError:
                return  # the loop closed while we were reading: nothing left to deliver to
            asyncio.run_coroutine_threadsafe(queue.put(None), loop)

        # A daemon thread: a read blocked on a terminal must not keep the process alive.
        threading.Thread(target=pump, name="console-in", daemon=True).start()
        for number in itertools.count(1):
            line = await queue.get()
            if line is None:
                return
            message = parse_console_line(
                line, ts=self._clock.now(), number=number, channel=self._channel
            )
            if message is not None:
                yield message


class ConsoleSink:
    """Prints what the twin posts in chat."""

    def __init__(self, twin: str, *, stream: TextIO | None = None) -> None:
        self._twin = twin
        self._stream = stream or sys.stdout
        self.sent: deque[str] = deque(
            maxlen=100
        )  # the latest, for tests; hours of chat are not kept

    async def send(self, text: str, *, reply_to: str | None = None) -> bool:
        self.sent.append(text)
        print(f"[{self._twin}] {text}", file=self._stream, flush=True)
        return True
