"""Opening a chat log: choose the reader, then stream its events lazily."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
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
        try:
            for event in READERS[self.format](ctx, log.text):
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
