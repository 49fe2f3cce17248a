"""The journal on disk: one `.tid` per entry, written atomically; the files are the truth."""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cohost.core.errors import JournalFormatError
from cohost.core.events import Tier
from cohost.core.files import fsync_folder, new_file
from cohost.core.options import JournalSettings
from cohost.journal.tid import Tiddler, format_tags, format_tid, format_tw_date, parse_tid
from cohost.journal.tiers import tier_of

log = logging.getLogger(__name__)

ENTRY_TYPE = "text/vnd.tiddlywiki"
TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".partial"
STALE_TEMP_AGE = timedelta(hours=1)
MAX_STEM_BYTES = 200  # leaves room for " (NNN).tid" under the usual 255-byte name limit

_UNSAFE = re.compile(r'[<>:"/\\|?*^~\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(10)}

ProblemHandler = Callable[[JournalFormatError], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One journal entry as the rest of cohost sees it."""

    id: str  # the file name without `.tid`; stable for the life of the file
    path: Path
    title: str
    text: str
    created: datetime  # aware, UTC
    modified: datetime  # aware, UTC
    tags: tuple[str, ...]
    tier: Tier


def safe_stem(title: str) -> str:
    """A file name stem for a title, safe on Linux, macOS and Windows (TiddlyWiki's rules)."""
    stem = unicodedata.normalize("NFC", title.replace("$:/", "$__"))
    stem = _UNSAFE.sub("_", stem).strip(" ").rstrip(" .")
    if stem.startswith("."):
        stem = "_" + stem[1:]
    if stem.split(".")[0].upper() in _RESERVED:
        stem = "_" + stem
    raw = stem.encode("utf-8")
    if len(raw) > MAX_STEM_BYTES:
        stem = raw[:MAX_STEM_BYTES].decode("utf-8", errors="ignore").rstrip(" .")
    return stem or "untitled"


def default_title(now: datetime) -> str:
    """The title of an untitled entry: its time, like TiddlyWiki's journal tiddlers."""
    return f"{now:%Y-%m-%d %H:%M:%S}.{now.microsecond // 1000:03d}"


class JournalStore:
    """A folder of `.tid` files; adding writes the file to disk before it returns."""

    def __init__(
        self,
        directory: Path,
        settings: JournalSettings | None = None,
        *,
        before_commit: Callable[[Path], None] | None = None,
    ) -> None:
        self.directory = directory
        self.settings = settings or JournalSettings()
        # Called with the finished, fsynced temp file just before it is linked into place;
        # the crash tests kill the process here.
        self._before_commit = before_commit
        if directory.is_dir():
            self.clean_stale_temp_files()

    def add(
        self,
        text: str,
        *,
        tags: Sequence[str] = (),
        title: str | None = None,
        now: datetime | None = None,
    ) -> Entry:
        """Write a new entry (durably, under a name no other entry has) and return it."""
        body = text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if not body:
            raise ValueError("an empty entry is not worth a file")
        when = now or datetime.now().astimezone()
        if when.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        name = (title if title is not None else default_title(when)).strip()
        if not name or "\n" in name or "\r" in name:
            raise ValueError(f"not a usable title: {name!r}")
        name = self._free_title(name)
        stamp = format_tw_date(when)
        fields = [("created", stamp), ("modified", stamp)]
        unique_tags = tuple(dict.fromkeys(t.strip() for t in tags if t.strip()))
        if unique_tags:
            fields.append(("tags", format_tags(unique_tags)))
        fields.append(("type", ENTRY_TYPE))
        return self.add_tiddler(Tiddler(title=name, text=body, fields=tuple(fields)))

    def add_tiddler(self, tiddler: Tiddler) -> Entry:
        """Write a tiddler as it is (an import keeps its fields) under a fresh file name."""
        data = format_tid(tiddler).encode("utf-8")
        # A new journal folder is the owner's alone: its file names are the entries' titles.
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stem = safe_stem(tiddler.title)
        temp = self._write_temp(data)
        try:
            if self._before_commit is not None:
                self._before_commit(temp)
            path = self._link_unique(temp, stem)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        fsync_folder(self.directory)
        return self._entry(path, tiddler)

    def entries(self, on_problem: ProblemHandler | None = None) -> Iterator[Entry]:
        """Every readable entry, by file name; unreadable files go to on_problem (or the log)."""
        for path, tiddler in self.tiddlers(on_problem):
            yield self._entry(path, tiddler)

    def tiddlers(self, on_problem: ProblemHandler | None = None) -> Iterator[tuple[Path, Tiddler]]:
        """Every readable `.tid` with its path, as parsed; for export and import checks."""
        report = on_problem or _log_problem
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.tid")):
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                tiddler = _read(path)
            except FileNotFoundError:
                continue  # deleted while we looked
            except JournalFormatError as exc:
                report(exc)
                continue
            yield path, tiddler

    def get(self, entry_id: str) -> Entry:
        """The entry with this id; KeyError if there is none, JournalFormatError if unreadable."""
        if not entry_id or entry_id.startswith(".") or "/" in entry_id or "\\" in entry_id:
            raise KeyError(entry_id)
        path = self.directory / f"{entry_id}.tid"
        try:
            tiddler = _read(path)
        except FileNotFoundError:
            raise KeyError(entry_id) from None
        return self._entry(path, tiddler)

    def clean_stale_temp_files(self) -> int:
        """Remove temp files a killed writer left behind; returns how many went."""
        removed = 0
        limit = datetime.now(UTC) - STALE_TEMP_AGE
        for path in self.directory.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
            try:
                pid = int(path.name[len(TEMP_PREFIX) :].split("-", 1)[0])
                old = datetime.fromtimestamp(path.stat().st_mtime, UTC) < limit
            except (ValueError, FileNotFoundError):
                continue
            if old or not _alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        return removed

    def _write_temp(self, data: bytes) -> Path:
        # The pid in the name tells a later store whether the writer is still alive.
        name = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{TEMP_SUFFIX}"
        temp = self.directory / name
        with new_file(temp) as file:  # 0600, flushed to the disk
            file.write(data)
        return temp

    def _free_title(self, title: str) -> str:
        """The title, numbered ("title 2") if an entry has it: TiddlyWiki keys by title."""
        n, candidate = 1, title
        while self._has_title(candidate):
            n += 1
            candidate = f"{title} {n}"
        return candidate

    def _has_title(self, title: str) -> bool:
        stem = safe_stem(title)
        paths = [
            self.directory / f"{stem}.tid",
            *self.directory.glob(f"{glob.escape(stem)} (*).tid"),
        ]
        for path in paths:  # where `_link_unique` puts a file for this title
            with contextlib.suppress(OSError, JournalFormatError):
                if _read(path).title == title:
                    return True
        return False

    def _link_unique(self, temp: Path, stem: str) -> Path:
        # os.link fails if the name exists, so no entry is ever overwritten, not even by
        # another process; os.replace could not promise that.
        n = 1
        while True:
            path = self.directory / (f"{stem}.tid" if n == 1 else f"{stem} ({n}).tid")
            try:
                os.link(temp, path)
            except FileExistsError:
                n += 1
                continue
            except OSError:
                # A file system without hard links: rename, which is atomic but can race.
                if path.exists():
                    n += 1
                    continue
                temp.replace(path)
            return path

    def _entry(self, path: Path, t: Tiddler) -> Entry:
        created = t.created or t.modified
        modified = t.modified or t.created
        if created is None or modified is None:
            mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            created, modified = created or mtime, modified or mtime
        tags = t.tags
        return Entry(
            id=path.stem,
            path=path,
            title=t.title,
            text=t.text,
            created=created,
            modified=modified,
            tags=tags,
            tier=tier_of(tags, self.settings),
        )


def _read(path: Path) -> Tiddler:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JournalFormatError(f"not UTF-8 ({exc.reason})", path=path) from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise JournalFormatError(f"cannot read it ({exc.strerror})", path=path) from None
    return parse_tid(text, source=str(path))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_problem(exc: JournalFormatError) -> None:
    log.warning("skipping journal file: %s", exc)
