"""Plain text, one message a line and no user (copypasta lists): only when asked for by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from cohost.chatlog.base import ReadContext, iter_lines
from cohost.core.events import ChatEvent, ChatMessage

UNKNOWN_USER = "unknown"


def read_lines(ctx: ReadContext, f: TextIO) -> Iterator[ChatEvent]:
    """Each non-blank line is a message from `unknown`, one second after the line before."""
    fmt, channel = ctx.format, ctx.channel

    def parse(line: str, number: int) -> ChatEvent:
        return ChatMessage(
            id=f"{fmt}:{number}",
            channel=channel,
            login=UNKNOWN_USER,
            display_name=UNKNOWN_USER,
            text=line,
            ts=float(number - 1),
        )

    return iter_lines(ctx, f, parse)
