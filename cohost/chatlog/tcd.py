"""Twitch-Chat-Downloader's text format: `[h:mm:ss] <BADGEname> text`, time from the VOD start."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TextIO

from cohost.chatlog.base import BadLine, ReadContext, iter_lines
from cohost.core.events import ChatEvent, ChatMessage, Role

# tcd's settings.json: one character per badge, the highest first ("multiple_badges" may list more).
BADGE_CHARS: Mapping[str, tuple[str, Role | None]] = {
    "~": ("broadcaster", Role.BROADCASTER),
    "@": ("moderator", Role.MODERATOR),
    "%": ("subscriber", Role.SUBSCRIBER),
    "$": ("bits", None),
    "+": ("premium", None),  # tcd writes prime and turbo alike
    "!": ("admin", None),
    "*": ("global_mod", None),
    "&": ("staff", None),
}
# Some exports pad the name inside the brackets (`<SomeUser >`, `<+Name >`): spaces are trimmed.
_MESSAGE = re.compile(
    r"\[(\d+):([0-5]\d):([0-5]\d)\] < *([~@%$+!*&]*)([^<>\s]+) *> ?(.*)", re.DOTALL
)
# tcd's action_format ends in a stray ']', kept here so /me lines read back as written.
_ACTION = re.compile(r"\[(\d+):([0-5]\d):([0-5]\d)\] \*([^\s*]+) (.*?)\]?", re.DOTALL)

_PREFIX_CACHE: dict[str, tuple[tuple[tuple[str, str], ...], frozenset[Role]]] = {}


def badges_from_prefix(prefix: str) -> tuple[tuple[tuple[str, str], ...], frozenset[Role]]:
    """`@%` → (("moderator", ""), ("subscriber", "")) and the roles they grant."""
    cached = _PREFIX_CACHE.get(prefix)
    if cached is None:
        badges = tuple((BADGE_CHARS[char][0], "") for char in prefix)
        roles = frozenset(role for char in prefix if (role := BADGE_CHARS[char][1]) is not None)
        cached = (badges, roles)
        _PREFIX_CACHE[prefix] = cached
    return cached


class TcdParser:
    """Parses one tcd line."""

    def __init__(self, fmt: str, channel: str) -> None:
        self.fmt = fmt
        self.channel = channel

    def parse(self, line: str, number: int) -> ChatEvent | None:
        """A chat message (sub messages written as chat stay chat messages)."""
        match = _MESSAGE.fullmatch(line)
        action = False
        if match is None:
            match = _ACTION.fullmatch(line)
            if match is None:
                raise BadLine("not a Twitch-Chat-Downloader line")
            action = True
            prefix, name, text = "", match[4], match[5]
        else:
            prefix, name, text = match[4], match[5], match[6]
        badges, roles = badges_from_prefix(prefix)
        return ChatMessage(
            id=f"{self.fmt}:{number}",
            channel=self.channel,
            login=name.lower(),
            display_name=name,
            text=text,
            ts=float(int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3])),
            roles=roles,
            badges=badges,
            action=action,
        )


def read_tcd(ctx: ReadContext, f: TextIO) -> Iterator[ChatEvent]:
    """A tcd text file; channel from the argument or the file name."""
    return iter_lines(ctx, f, TcdParser(ctx.format, ctx.channel).parse)
