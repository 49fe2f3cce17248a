"""Files written whole (a reader, or the disk after a crash, finds the old contents or the new),
and lines appended durably.

Every file cohost writes whole goes through here: the data go to a temporary file beside the
target, created with the final mode (so private text is never readable by others, not even
for a moment), flushed to the disk, renamed over the target, and the folder is flushed so
the rename survives a power cut. `PRIVATE` is the default: journal text, state, tokens and
traces are the owner's alone; a caller writing what anyone may read says so.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

PRIVATE = 0o600
SHARED = 0o666  # as open() makes a file: the umask decides who else may read it
TEMP_SUFFIX = ".partial"


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a new name, a rename) to the disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def new_file(path: Path, *, mode: int = PRIVATE, fsync: bool = True) -> Iterator[BinaryIO]:
    """A file created at `path`, which must not exist yet, to write in the block.

    Flushed to the disk (with `fsync`) when the block ends; removed again when it raises.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            if fsync:
                os.fsync(file.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(path: Path, *, mode: int = PRIVATE, fsync: bool = True) -> Iterator[BinaryIO]:
    """A file to write in the block that replaces `path` whole when the block ends.

    Until then `path` keeps its old contents (or stays absent); if the block raises, nothing
    changes. Two writers at once each write their own temporary file; the last rename wins.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    with new_file(temp, mode=mode, fsync=fsync) as file:
        yield file
    try:
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_folder(path.parent)


def write_atomic(path: Path, data: bytes | str, *, mode: int = PRIVATE, fsync: bool = True) -> None:
    """Replace `path` with `data` (text as UTF-8) whole: see `atomic_file`."""
    with atomic_file(path, mode=mode, fsync=fsync) as file:
        file.write(data.encode("utf-8") if isinstance(data, str) else data)


def append_durably(path: Path, data: bytes, *, mode: int = PRIVATE) -> None:
    """Append `data` (whole lines) in one write, flushed to the disk.

    After a torn last line (a crash mid-write) the new lines start on a line of their own: the
    torn one stays unreadable, the new ones do not.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
