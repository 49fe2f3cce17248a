"""Files written whole: the old contents or the new, the mode from the start, nothing left over."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cohost.core.files import PRIVATE, append_durably, atomic_file, new_file, write_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_file_is_replaced_whole_and_private_by_default(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")
    path.chmod(0o644)
    write_atomic(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert _mode(path) == PRIVATE
    write_atomic(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failed_write_changes_nothing_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(path) as file:
        file.write(b"half")
        raise RuntimeError("the records ran out")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]


def test_a_new_file_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "entry.tid"
    with new_file(path, mode=0o640) as file:
        file.write(b"one")
    assert path.read_bytes() == b"one"
    assert _mode(path) & ~0o640 == 0  # the umask may take more away, never add
    with pytest.raises(FileExistsError), new_file(path) as file:
        file.write(b"two")
    assert path.read_bytes() == b"one"


def test_lines_appended_after_a_torn_line_start_on_their_own(tmp_path: Path) -> None:
    path = tmp_path / "lines" / "log.jsonl"
    append_durably(path, b'{"a": 1}\n')
    with path.open("ab") as file:
        file.write(b'{"torn": ')  # a crash mid-write
    append_durably(path, b'{"b": 2}\n')
    assert path.read_bytes().splitlines() == [b'{"a": 1}', b'{"torn": ', b'{"b": 2}']
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
