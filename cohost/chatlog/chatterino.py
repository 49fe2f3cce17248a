"""Chatterino's own logs: `# Start logging at …` headers and `[hh:mm:ss] login: text` lines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TextIO

from cohost.chatlog.base import BadLine, ReadContext, day_epoch, iter_lines
from cohost.core.events import ChatEvent, ChatMessage, Moderation

_LINE = re.compile(r"\[([01]\d|2[0-3]):([0-5]\d):([0-5]\d)\] ")
_HEADER = re.compile(
    r"# (?:Start|Stop) logging at (\d{4}-\d\d-\d\d) (\d\d):(\d\d):(\d\d)"
    r"(?: (?:UTC|GMT|Z|([+-])(\d\d):?(\d\d)|\S+))?\s*$"
)
_FILE_DATE = re.compile(r"(\d{4}-\d\d-\d\d)")
_LOGIN = re.compile(r"[A-Za-z0-9_]{1,25}")
_TIMEOUT = re.compile(r"(\w+) (?:has been|was) timed out for (.+?)(?: by \w+)?(?:[.:(]|$)")
_TIMED_OUT_BY = re.compile(r"\w+ timed out (\w+) for (.+?)(?:[.:(]|$)")
_BANNED = re.compile(r"(\w+) (?:has been|was) (?:permanently )?banned\b")
_BANNED_BY = re.compile(r"\w+ banned (\w+)\b")
_CLEARED = re.compile(r"Chat has been cleared by a moderator")
_DURATION = re.compile(r"(\d+)\s*(days?|hours?|minutes?|seconds?|d|h|m|s)\b")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}
ROLLOVER = 12 * 3600  # a clock that goes back more than half a day has passed midnight


def parse_duration(text: str) -> int | None:
    """`1h 30m`, `10m`, `600s`, `10 minutes` → seconds; None when nothing in it is a duration."""
    parts = _DURATION.findall(text)
    if not parts:
        return None
    return sum(int(amount) * _UNIT[unit[0]] for amount, unit in parts)


class ChatterinoParser:
    """Parses one Chatterino log line, keeping the date from the headers."""

    def __init__(self, fmt: str, channel: str, day: float) -> None:
        self.fmt = fmt
        self.channel = channel
        self.day = day  # epoch of midnight of the current day (0.0 when no date is known)
        self.offset = 0  # seconds east of UTC, from the header
        self.last = -1  # seconds into the day of the line before

    def parse(self, line: str, number: int) -> ChatEvent | None:
        """A message, a recognised moderation line, or None for headers and system lines."""
        match = _LINE.match(line)
        if match is None:
            if line[:1] == "#":
                self._header(line)
                return None
            raise BadLine("not a Chatterino log line")
        seconds = int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3])
        if seconds < self.last - ROLLOVER:
            self.day += 86400
        self.last = seconds
        ts = self.day + seconds - self.offset
        rest = line[match.end() :]
        head, colon, text = rest.partition(": ")
        if colon and _LOGIN.fullmatch(head):
            return ChatMessage(
                id=f"{self.fmt}:{number}",
                channel=self.channel,
                login=head.lower(),
                display_name=head,
                text=text,
                ts=ts,
            )
        return self._system(rest, ts)

    def _header(self, line: str) -> None:
        match = _HEADER.match(line)
        if match is None:
            if line.startswith("# "):
                return  # another comment line Chatterino may write
            raise BadLine("not a Chatterino log line")
        self.day = day_epoch(match[1])
        self.last = int(match[2]) * 3600 + int(match[3]) * 60 + int(match[4])
        sign, hours, minutes = match[5], match[6], match[7]
        self.offset = 0
        if sign:
            self.offset = (int(hours) * 3600 + int(minutes) * 60) * (1 if sign == "+" else -1)

    def _system(self, text: str, ts: float) -> ChatEvent | None:
        match = _TIMEOUT.match(text) or _TIMED_OUT_BY.match(text)
        if match:
            duration = parse_duration(match[2])
            if duration is not None:
                return Moderation(
                    kind="timeout",
                    channel=self.channel,
                    ts=ts,
                    target_login=match[1].lower(),
                    duration=duration,
                )
        match = _BANNED.match(text) or _BANNED_BY.match(text)
        if match:
            return Moderation(
                kind="ban", channel=self.channel, ts=ts, target_login=match[1].lower()
            )
        if _CLEARED.match(text):
            return Moderation(kind="clear", channel=self.channel, ts=ts)
        return None  # other system lines (hosts, mode changes, live notices) are not chat


def read_chatterino(ctx: ReadContext, f: TextIO) -> Iterator[ChatEvent]:
    """A Chatterino log; without a header, the date comes from the file name if it has one."""
    found = _FILE_DATE.search(ctx.path.name)
    day = 0.0
    if found:
        try:
            day = day_epoch(found[1])
        except BadLine:
            day = 0.0  # a name that only looks dated
    return iter_lines(ctx, f, ChatterinoParser(ctx.format, ctx.channel, day).parse)
