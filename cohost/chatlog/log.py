"""Opening a chat log: choose the reader, then stream its events lazily."""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from cohost.chatlog.base import LogFile, ReadContext, Reader, ReadStats, channel_from_path
from cohost.chatlog.chatterino import read_chatterino
from cohost.chatlog.csvlog import read_csv
from cohost.chatlog.detect import detect_format
from cohost.chatlog.irc import read_irc, read_irc_json
from cohost.chatlog.overrustle import read_overrustle
from cohost.chatlog.plain import read_lines
from cohost.chatlog.tcd import read_tcd
from cohost.chatlog.vod import read_rechat, read_twitchdownloader
from cohost.core.errors import ChatLogError
from cohost.core.events import ChatEvent, ChatMessage

READERS: Mapping[str, Reader] = {
    "irc": read_irc,
    "irc_json": read_irc_json,
    "chatterino": read_chatterino,
    "tcd": read_tcd,
    "rechat": read_rechat,
    "twitchdownloader": read_twitchdownloader,
    "overrustle": read_overrustle,
    "csv": read_csv,
    "lines": read_lines,  # never detected: only when named
}
FORMATS: tuple[str, ...] = tuple(READERS)
# Logs are put in time order through a window of events (bounded memory): a wide one for
# exports of tables (CSV), which come in any row order, a narrow one for the rest, which only
# jitter (and stays lazy: the first event comes after a few hundred lines, not the whole file).
# A log that still goes back in time by more than ORDER_SLACK_S (a replay would call everything
# after it stale) is refused with an error that says so.
SORT_WINDOW = 10_000
SORT_WINDOW_NARROW = 256
WIDE_WINDOW_FORMATS = frozenset({"csv"})
ORDER_SLACK_S = 60.0
JITTER_S = 2.0


def sorted_window(events: Iterable[ChatEvent], window: int = SORT_WINDOW) -> Iterator[ChatEvent]:
    """The events in time order, as far as a window of `window` events can put them so.

    Jitter is not reordered: an event less than JITTER_S behind the latest one keeps its place
    (servers stamp times a few ms apart from the order chat saw), so only a real step back
    moves an event; events with the same time keep their order.
    """
    heap: list[tuple[float, int, ChatEvent]] = []
    latest = float("-inf")
    for number, event in enumerate(events):
        ts = event.ts
        if ts >= latest - JITTER_S:
            latest = max(latest, ts)
            key = latest
        else:
            key = ts
        if len(heap) < window:
            heapq.heappush(heap, (key, number, event))
        else:
            yield heapq.heappushpop(heap, (key, number, event))[2]
    while heap:
        yield heapq.heappop(heap)[2]


def _in_time_order(
    events: Iterable[ChatEvent], ctx: ReadContext, *, window: int
) -> Iterator[ChatEvent]:
    latest = float("-inf")
    for event in events:
        ts = event.ts
        if ts > latest:
            latest = ts
        elif ts < latest - ORDER_SLACK_S:
            raise ctx.fail(
                f"the log is out of time order beyond what a window of {window:,} events can "
                f"sort: an event {latest - ts:.0f} s before one read earlier (by line "
                f"{ctx.stats.lines}); sort the file by time first"
            )
        yield event


class ChatLog:
    """A chat log on disk; iterating reads it again from the start, one event at a time."""

    def __init__(
        self,
        path: Path,
        *,
        format: str,
        strict: bool = False,
        channel: str | None = None,
        csv_columns: Mapping[str, str] | None = None,
    ) -> None:
        if format not in READERS:
            raise ChatLogError(
                f"unknown chat log format {format!r}; known: {', '.join(FORMATS)}", path=path
            )
        self.path = path
        self.format = format
        self.strict = strict
        self.channel = (channel or channel_from_path(path)).lstrip("#").lower()
        self.csv_columns = csv_columns
        self.stats = ReadStats()
        self._file: LogFile | None = None

    @property
    def bytes_read(self) -> int:
        """How far into the file the current pass has read (0 when not reading)."""
        return self._file.bytes_read if self._file is not None else 0

    def __iter__(self) -> Iterator[ChatEvent]:
        return self._events()

    def _events(self) -> Iterator[ChatEvent]:
        stats = self.stats = ReadStats()
        try:
            log = LogFile(self.path)
        except OSError as exc:
            raise ChatLogError(f"cannot read: {exc.strerror or exc}", path=self.path) from None
        self._file = log
        ctx = ReadContext(
            path=self.path,
            format=self.format,
            channel=self.channel,
            strict=self.strict,
            stats=stats,
            csv_columns=self.csv_columns,
        )
        window = SORT_WINDOW if self.format in WIDE_WINDOW_FORMATS else SORT_WINDOW_NARROW
        try:
            events = sorted_window(READERS[self.format](ctx, log.text), window)
            for event in _in_time_order(events, ctx, window=window):
                stats.events += 1
                if type(event) is ChatMessage:
                    stats.messages += 1
                yield event
        except (OSError, EOFError, zlib.error) as exc:  # a broken gzip stream, a file gone
            raise ChatLogError(f"cannot read: {exc}", path=self.path) from None
        finally:
            self._file = None
            log.close()

    def __repr__(self) -> str:
        return f"ChatLog({str(self.path)!r}, format={self.format!r})"


def open_log(
    path: Path,
    *,
    format: str | None = None,
    strict: bool = False,
    channel: str | None = None,
    csv_columns: Mapping[str, str] | None = None,
) -> ChatLog:
    """A chat log of the named format, or of the detected one; nothing is read until iterated."""
    path = Path(path)
    if format is None:
        format = "csv" if csv_columns is not None else detect_format(path)
    return ChatLog(path, format=format, strict=strict, channel=channel, csv_columns=csv_columns)
