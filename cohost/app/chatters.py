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

Twitch's own marker wins where it is there: a message already flagged (IRC's tag in a log, or
EventSub's `user_intro`) stays flagged whatever the memory says, warm or not.

`RegularsFile` keeps what the twin knows of returning chatters (`cohost.pipeline.regulars`),
off unless `regulars.enabled`. `!twin forget me` erases a chatter from both.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Collection
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import IO, Self

from cohost.app.settings import Settings, login_of
from cohost.core.events import ChatMessage
from cohost.core.files import SHARED, write_atomic
from cohost.core.ports import Clock
from cohost.pipeline.guard import Guard
from cohost.pipeline.regulars import Regular, Regulars

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

    def forget(self, keys: Collection[str]) -> bool:
        """Erase these chatters (user ids or logins) from the memory, rewriting the file whole
        (`!twin forget me`); whether any was in it."""
        gone = {key for key in keys if key} & self._seen
        if not gone:
            return False
        self._seen -= gone
        reopen = self._file is not None
        self.close()
        try:
            kept = [f"{HEADER}{self._since:.0f}"]
            if self.path.exists():
                with self.path.open(encoding="utf-8", errors="replace") as file:
                    kept += [
                        line
                        for number, raw in enumerate(file, start=1)
                        if number > 1 and (line := raw.rstrip("\n")).strip() not in gone
                    ]
            write_atomic(self.path, "\n".join(kept) + "\n", mode=SHARED)
        finally:  # the memory goes on being written, whether or not the rewrite worked
            if reopen:
                self._file = self.path.open("a", encoding="utf-8")
        return True


def chatters_file(data_dir: Path, channel: str) -> Path:
    """Where the memory of a channel's chatters lives."""
    return data_dir / "chatters" / f"{_safe(channel)}.txt"


def _safe(channel: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in channel.lower()) or "channel"


# ---- regulars: what is kept about returning chatters (cohost.pipeline.regulars) -------------

REGULARS_VERSION = 1
SAVE_EVERY_S = 30.0  # chat changes the store all the time: written at most this often (and at
# close, and at once on a forget)


def regulars_file(data_dir: Path, channel: str) -> Path:
    """Where what is kept about a channel's regulars lives."""
    return data_dir / "regulars" / f"{_safe(channel.lstrip('#'))}.json"


class RegularsFile:
    """One channel's regulars in one JSON file, written whole and atomically.

    Derived from chat and nothing else: a file that cannot be read is reported (file and
    what is wrong) and started afresh, and its next write replaces it. Records beyond
    `max_chatters`, or unseen for `retention_days`, are dropped when it is read and written.
    """

    def __init__(
        self, path: Path, clock: Clock, *, max_chatters: int, retention_days: float
    ) -> None:
        self.path = path
        self._clock = clock
        self._max = max_chatters
        self._retention_s = retention_days * 86_400.0
        self._records: dict[str, Regular] = {}
        self._dirty = False
        self._saved_at: float | None = None
        # chat's saves run off the chat loop (50,000 chatters are megabytes of JSON), one at a
        # time; an erase or a close waits for the one running, so no older snapshot lands later
        self._writer: threading.Thread | None = None
        self._write_lock = threading.Lock()

    def open(self) -> Self:
        """Read the file (a missing one is an empty store)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("%s: unreadable (%s); regulars start afresh", self.path, exc)
            return self
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            log.warning(
                "%s:%d: not JSON (%s, a torn or edited file); regulars start afresh",
                self.path,
                exc.lineno,
                exc.msg,
            )
            return self
        chatters = data.get("chatters") if isinstance(data, dict) else None
        if not isinstance(chatters, list):
            log.warning("%s: no `chatters` list; regulars start afresh", self.path)
            return self
        for index, item in enumerate(chatters):
            try:
                regular = _regular(item)
            except (TypeError, ValueError, KeyError) as exc:
                log.warning("%s: chatters[%d] skipped: %s", self.path, index, exc)
                continue
            self._records[regular.login] = regular
        self._trim()
        return self

    def close(self) -> None:
        self._wait_for_writer()
        if self._dirty:
            self.save()

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._records)

    def get(self, login: str) -> Regular | None:
        return self._records.get(login.lower())

    def put(self, regular: Regular) -> None:
        self._records[regular.login] = regular
        self._dirty = True
        now = self._clock.now()
        if self._saved_at is None or now - self._saved_at >= SAVE_EVERY_S:
            self._save_in_background()

    def remove(self, login: str, user_ids: Collection[str] = ()) -> Regular | None:
        ids = {i for i in user_ids if i}
        gone = [r for r in self._records.values() if r.login == login.lower() or r.user_id in ids]
        for regular in gone:
            del self._records[regular.login]
        if gone or self._dirty:
            # at once: what a viewer asked to be erased must not wait on a timer, and a disk
            # that refuses is said (OSError), never taken for an erase
            self._write()
        return gone[0] if gone else None

    def save(self) -> None:
        """Write the store whole (atomically); a failing disk costs the memory, not chat."""
        try:
            self._write()
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc)

    def _write(self) -> None:
        """Write the store now, after any save still running; OSError when the disk refuses."""
        self._wait_for_writer()
        self._trim()
        self._write_records(list(self._records.values()))
        self._dirty = False
        self._saved_at = self._clock.now()

    def _save_in_background(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            return  # the save running is recent enough; the next put after it saves again
        self._trim()
        records = list(self._records.values())  # frozen records: a snapshot of the list will do
        self._dirty = False
        self._saved_at = self._clock.now()

        def write() -> None:
            try:
                self._write_records(records)
            except OSError as exc:
                log.warning("cannot write %s: %s", self.path, exc)
                self._dirty = True  # written again at the next chance

        self._writer = threading.Thread(target=write, name="regulars-save", daemon=True)
        self._writer.start()

    def wait_saved(self) -> None:
        """Wait for a save running off the chat loop, if one is."""
        self._wait_for_writer()

    def _wait_for_writer(self) -> None:
        if self._writer is not None:
            self._writer.join()
            self._writer = None

    def _write_records(self, records: list[Regular]) -> None:
        data = {"version": REGULARS_VERSION, "chatters": [dataclasses.asdict(r) for r in records]}
        with self._write_lock:
            write_atomic(self.path, json.dumps(data, ensure_ascii=False, indent=0) + "\n")

    def _trim(self) -> None:
        now = self._clock.now()
        records = [r for r in self._records.values() if now - r.last_seen <= self._retention_s]
        if len(records) > self._max:
            records = sorted(records, key=lambda r: r.last_seen)[-self._max :]
        if len(records) != len(self._records):
            self._records = {r.login: r for r in records}


def _regular(item: object) -> Regular:
    """A record as the file has it; TypeError or ValueError naming the field that is wrong."""
    if not isinstance(item, dict):
        raise TypeError("not an object")
    fields = {f.name: f.type for f in dataclasses.fields(Regular)}
    unknown = sorted(set(item) - set(fields))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}")
    login = item["login"]
    if not isinstance(login, str) or not login or login != login.lower():
        raise ValueError(f"login: not a lowercase login: {login!r}")
    for name in ("first_seen", "last_seen", "stream"):
        if name in item and not isinstance(item[name], int | float):
            raise TypeError(f"{name}: not a number")
    for name in ("streams", "messages"):
        if name in item and not isinstance(item[name], int):
            raise TypeError(f"{name}: not a whole number")
    notes = item.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise TypeError("notes: not a list of strings")
    return Regular(**{**item, "notes": tuple(notes)})


def open_regulars(
    settings: Settings,
    channel: str,
    folder: Path,
    clock: Clock,
    stack: ExitStack | AsyncExitStack,
) -> RegularsFile | None:
    """The channel's regulars file under `folder`, opened in `stack`; None where they are off
    (`regulars.enabled`, and `regulars.channels` when it names channels)."""
    channel = login_of(channel)
    scope = {login_of(c) for c in settings.regulars.channels}
    if not settings.regulars.enabled or not channel or (scope and channel not in scope):
        return None
    store = RegularsFile(
        regulars_file(folder, channel),
        clock,
        max_chatters=settings.regulars.max_chatters,
        retention_days=settings.regulars.retention_days,
    )
    return stack.enter_context(store)


def regulars_of(
    settings: Settings, store: RegularsFile | None, guard: Guard, *, skip: Collection[str]
) -> Regulars | None:
    """What decides about the channel's regulars (`cohost.pipeline.regulars`); None: off."""
    if store is None:
        return None

    def allowed(text: str) -> bool:
        checked = guard.check(text)  # what the journal guard would change is never kept
        return not checked.blocked and checked.text == text

    bots = {login_of(b) for b in settings.picker.known_bots}
    return Regulars(
        settings.regulars,
        {store.path.stem: store},
        allowed=allowed,
        skip={*skip, *bots} - {""},
        command_prefix=settings.control.prefix,
    )
