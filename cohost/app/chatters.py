"""Who has chatted in the channel before: first-time chatters, live.

Twitch marks a first-time chatter on IRC (the `first-msg` tag, which logged chat keeps), but
EventSub's chat messages carry no such flag: only a "user_intro" message says it. So the live
daemon remembers each chatter it has read, across streams, in one file per channel
(`DATA_DIR/chatters/CHANNEL.txt`: a header with when the memory began, then one Twitch user id
per line, or the login where there is no id), and a chatter not in it is new to the channel.

Until the memory is `WARMUP_S` old it flags no one: on the first stream the twin watches,
everyone is new to it, and calling all of chat first-time chatters would only add noise to
the picker. The memory holds at most `limit` chatters; once full, newcomers are no longer
flagged (never the other way round), and the daemon says so once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection
from pathlib import Path
from typing import IO, Self

from cohost.core.events import ChatMessage
from cohost.core.ports import Clock

log = logging.getLogger(__name__)

WARMUP_S = 12 * 3600.0  # the memory must span an earlier stream before it flags anyone
HEADER = "# cohost chatters since "


class Chatters:
    """The chatters seen in one channel, kept in an append-only file."""

    def __init__(
        self, path: Path, clock: Clock, *, limit: int = 1_000_000, skip: Collection[str] = ()
    ) -> None:
        self.path = path
        self._clock = clock
        self._limit = limit
        self._skip = frozenset(login.lower() for login in skip)  # the twin's own account
        self._seen: set[str] = set()
        self._since = clock.now()
        self._file: IO[str] | None = None
        self._full_said = False

    def open(self) -> Self:
        """Read the memory (a missing file starts one); `#` lines but the header are skipped."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            with self.path.open(encoding="utf-8", errors="replace") as file:
                for number, raw in enumerate(file, start=1):
                    line = raw.strip()
                    if number == 1 and line.startswith(HEADER):
                        try:
                            self._since = float(line.removeprefix(HEADER).split()[0])
                        except (ValueError, IndexError):
                            log.warning("%s:1: unreadable start time; counting from now", self.path)
                    elif line and not line.startswith("#"):
                        self._seen.add(line)
        else:
            self.path.write_text(f"{HEADER}{self._since:.0f}\n", encoding="utf-8")
        self._file = self.path.open("a", encoding="utf-8")
        return self

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def flagging(self) -> bool:
        """Whether the memory is old enough to tell a newcomer from a regular."""
        return self._clock.now() - self._since >= WARMUP_S

    def mark(self, message: ChatMessage) -> ChatMessage:
        """The message, flagged `first_msg` when its chatter is new to the channel."""
        key = message.user_id or message.login
        if not key or key in self._seen or any(c.isspace() for c in key):
            return message
        if message.login.lower() in self._skip:
            return message
        if len(self._seen) >= self._limit:
            if not self._full_said:
                self._full_said = True
                log.warning(
                    "%s holds %d chatters, its limit: newcomers are no longer flagged "
                    "(move the file away to start a new memory)",
                    self.path,
                    self._limit,
                )
            return message
        self._seen.add(key)
        if self._file is not None:
            try:
                self._file.write(key + "\n")
                self._file.flush()  # a crash loses no one already seen
            except OSError as exc:  # a full disk costs the memory, never the message
                log.warning("cannot write %s: %s", self.path, exc)
        if message.first_msg or not self.flagging:
            return message
        return dataclasses.replace(message, first_msg=True)


def chatters_file(data_dir: Path, channel: str) -> Path:
    """Where the memory of a channel's chatters lives."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in channel.lower()) or "channel"
    return data_dir / "chatters" / f"{safe}.txt"
