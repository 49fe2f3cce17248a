"""OverRustle logs: `[2017-07-10 22:05:18 UTC] nick: text`, one file per channel and day."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TextIO

from cohost.chatlog.base import BadLine, ReadContext, day_epoch, iter_lines
from cohost.core.events import ChatEvent, ChatMessage

_LINE = re.compile(
    r"\[(\d{4}-\d\d-\d\d) ([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(?: UTC)?\] ([^\s:]+): ?(.*)",
    re.DOTALL,
)


class OverRustleParser:
    """Parses one OverRustle line."""

    def __init__(self, fmt: str, channel: str) -> None:
        self.fmt = fmt
        self.channel = channel

    def parse(self, line: str, number: int) -> ChatEvent | None:
        """A chat message."""
        match = _LINE.fullmatch(line)
        if match is None:
            raise BadLine("not an OverRustle log line")
        seconds = int(match[2]) * 3600 + int(match[3]) * 60 + int(match[4])
        name = match[5]
        return ChatMessage(
            id=f"{self.fmt}:{number}",
            channel=self.channel,
            login=name.lower(),
            display_name=name,
            text=match[6],
            ts=day_epoch(match[1]) + seconds,
        )


def read_overrustle(ctx: ReadContext, f: TextIO) -> Iterator[ChatEvent]:
    """An OverRustle day log; channel from the argument or the path."""
    return iter_lines(ctx, f, OverRustleParser(ctx.format, ctx.channel).parse)
