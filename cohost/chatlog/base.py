"""What every chat-log reader shares: read statistics, bad-line policy, file opening, times."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from cohost.core.errors import ChatLogError
from cohost.core.events import ChatEvent, Role

MAX_REASONS = 5
# A chat line is at most a few KiB (Twitch caps messages at 500 characters); a longer one is
# skipped as bad without ever being held whole, so a 300 MB "line" cannot take a GB of memory.
MAX_LINE_CHARS = 1 << 20
_DRAIN_CHARS = 1 << 16

# Badges that grant a role; the rest (premium, bits, partner, …) are kept as badges only.
BADGE_ROLES: Mapping[str, Role] = {
    "broadcaster": Role.BROADCASTER,
    "moderator": Role.MODERATOR,
    "vip": Role.VIP,
    "subscriber": Role.SUBSCRIBER,
    "founder": Role.SUBSCRIBER,
}


class BadLine(Exception):
    """A line (or JSON item) a reader cannot use; skipped and counted, or raised when strict."""


@dataclass(slots=True, kw_only=True)
class ReadStats:
    """Counters of one pass over a log; mutable because they grow while the log is read."""

    lines: int = 0  # lines read (JSON formats: items read)
    events: int = 0
    messages: int = 0
    skipped: int = 0
    first_reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadContext:
    """What a reader needs besides the text: where it reads, the fallback channel, the policy."""

    path: Path
    format: str
    channel: str  # used when the data names no channel
    strict: bool
    stats: ReadStats
    csv_columns: Mapping[str, str] | None = None

    def bad(self, line: int | None, reason: str) -> None:
        """Skip and count a bad line, or raise `file:line: reason` when strict."""
        error = ChatLogError(reason, path=self.path, line=line)
        if self.strict:
            raise error
        self.stats.skipped += 1
        if len(self.stats.first_reasons) < MAX_REASONS:
            self.stats.first_reasons.append(error.located())

    def fail(self, reason: str, line: int | None = None) -> ChatLogError:
        """An error that ends the read whatever the policy (the file's shape is wrong)."""
        return ChatLogError(reason, path=self.path, line=line)


LineParser = Callable[[str, int], ChatEvent | None]
Reader = Callable[[ReadContext, TextIO], Iterator[ChatEvent]]


def bounded_lines(
    ctx: ReadContext, f: TextIO, limit: int = MAX_LINE_CHARS
) -> Iterator[tuple[int, str]]:
    """The stream's lines with their numbers; a line over `limit` characters goes to policy
    (skipped and counted, or an error when strict) and comes out empty, keeping the numbering."""
    readline = f.readline
    number = 0
    while raw := readline(limit + 1):
        number += 1
        if len(raw) > limit and not raw.endswith("\n"):
            while (rest := readline(_DRAIN_CHARS)) and not rest.endswith("\n"):
                pass  # read past the rest of the line in pieces, keeping none of it
            ctx.bad(number, f"a line longer than {limit:,} characters: not a chat line")
            raw = "\n"
        yield number, raw


def iter_lines(ctx: ReadContext, f: TextIO, parse: LineParser) -> Iterator[ChatEvent]:
    """Run a line parser over a text stream; blank lines are ignored, bad lines go to policy."""
    stats = ctx.stats
    for number, raw in bounded_lines(ctx, f):
        stats.lines = number
        line = raw.rstrip("\r\n")
        if not line or line.isspace():
            continue
        try:
            event = parse(line, number)
        except BadLine as exc:
            ctx.bad(number, str(exc))
            continue
        if event is not None:
            yield event


class LogFile:
    """A log opened for text reading: gzip is undone, bad UTF-8 replaced, a BOM dropped."""

    def __init__(self, path: Path) -> None:
        self._raw: BinaryIO = path.open("rb")
        try:
            magic = self._raw.read(2)
            self._raw.seek(0)
            binary: BinaryIO = self._raw
            if magic == b"\x1f\x8b":
                binary = gzip.GzipFile(fileobj=self._raw, mode="rb")  # type: ignore[assignment]
            # newline="\n": only LF ends a line, so a stray CR inside a message cannot split it.
            self.text: TextIO = io.TextIOWrapper(
                binary, encoding="utf-8-sig", errors="replace", newline="\n"
            )
        except BaseException:
            self._raw.close()
            raise

    @property
    def bytes_read(self) -> int:
        """Bytes taken from the file so far (compressed bytes for gzip)."""
        if self._raw.closed:
            return 0
        return self._raw.tell()

    def close(self) -> None:
        """Close the text wrapper and the file."""
        try:
            self.text.close()
        finally:
            self._raw.close()


def read_head(path: Path, size: int = 8192) -> tuple[str, bool]:
    """The first `size` characters of a log and whether that is the whole file."""
    log = LogFile(path)
    try:
        head = log.text.read(size)
        return head, len(head) < size or not log.text.read(1)
    finally:
        log.close()


_DAY_CACHE: dict[str, float] = {}


def day_epoch(date: str) -> float:
    """Epoch seconds of midnight UTC of a `YYYY-MM-DD` date (cached: logs repeat the date)."""
    cached = _DAY_CACHE.get(date)
    if cached is None:
        try:
            cached = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
        except ValueError as exc:
            raise BadLine(f"not a date: {date!r}") from exc
        if len(_DAY_CACHE) > 4096:
            _DAY_CACHE.clear()
        _DAY_CACHE[date] = cached
    return cached


def iso_epoch(text: str) -> float:
    """Epoch seconds of an ISO-8601 time; a time without an offset is taken as UTC."""
    value = text.strip()
    if value.endswith(" UTC"):
        value = value[:-4]
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadLine(f"not an ISO time: {text[:40]!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


_CLOCK = re.compile(r"(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?")
EPOCH_MS_ABOVE = 1e11  # an epoch in seconds reaches 1e11 only in the year 5138


def parse_when(text: str) -> float:
    """A time as logs write it: epoch seconds or ms, `h:mm:ss` from the start, or ISO-8601."""
    value = text.strip()
    if _NUMBER.fullmatch(value):
        number = float(value)
        return number / 1000.0 if abs(number) >= EPOCH_MS_ABOVE else number
    clock = _CLOCK.fullmatch(value)
    if clock:
        return int(clock[1]) * 3600 + int(clock[2]) * 60 + float(clock[3])
    if not value:
        raise BadLine("empty time")
    return iso_epoch(value)


_BADGE_CACHE: dict[str, tuple[tuple[tuple[str, str], ...], frozenset[Role]]] = {}


def parse_badges(text: str) -> tuple[tuple[tuple[str, str], ...], frozenset[Role]]:
    """`broadcaster/1,subscriber/12` → badge pairs and the roles they grant (cached)."""
    cached = _BADGE_CACHE.get(text)
    if cached is not None:
        return cached
    pairs: list[tuple[str, str]] = []
    roles: set[Role] = set()
    for item in text.split(","):
        if not item:
            continue
        name, _, version = item.partition("/")
        pairs.append((name, version))
        role = BADGE_ROLES.get(name)
        if role is not None:
            roles.add(role)
    cached = (tuple(pairs), frozenset(roles))
    if len(_BADGE_CACHE) > 4096:
        _BADGE_CACHE.clear()
    _BADGE_CACHE[text] = cached
    return cached


_ID_SUFFIX = re.compile(r"[-_ ](?:\d{4}-\d\d-\d\d|\d{5,})$")
_DATE_OR_MONTH = re.compile(r"\d{4}-\d\d(?:-\d\d)?|[A-Za-z]+ \d{4}|\d{4}")


def channel_from_path(path: Path) -> str:
    """A channel name guessed from a file name: `nymn-2024-01-06.log` → `nymn`."""
    name = path.name
    for suffix in (".gz", ".log", ".txt", ".irc", ".json", ".csv", ".tcd"):
        name = name.removesuffix(suffix)
    stem = _ID_SUFFIX.sub("", name)
    if _DATE_OR_MONTH.fullmatch(stem):
        # OverRustle keeps logs as `<Channel> chatlog/<Month Year>/<date>.txt`.
        for parent in path.parents[:2]:
            if parent.name.endswith(" chatlog"):
                return parent.name.removesuffix(" chatlog").lower()
    return stem.lower()
