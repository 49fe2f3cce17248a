"""Folders that hold journal text or state are the owner's alone (0700), and so are the files
in them (0600), even under a lax umask (issue #16, finding 6)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cohost.app.journal_wiring import index_dir
from cohost.app.paths import journal_dir
from cohost.app.replay import replay
from cohost.app.settings import load_settings
from cohost.journal.store import JournalStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def lax_umask() -> Iterator[None]:
    old = os.umask(0o022)  # as most desktops have it: new folders 0755, new files 0644
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_journal_folder_and_its_entries_are_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    store = JournalStore(journal_dir(settings), settings.journal)
    entry = store.add("the clinic on Elm street", title="a private title")
    assert _mode(journal_dir(settings)) == 0o700
    assert _mode(entry.path) == 0o600


def test_an_older_journal_folder_is_made_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    (settings.data_dir / "journal").mkdir(parents=True, mode=0o755)
    (settings.data_dir / "journal").chmod(0o755)
    assert _mode(journal_dir(settings)) == 0o700
    assert _mode(index_dir(settings)) == 0o700


async def test_replay_keeps_its_index_and_reports_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", journal={"embedding_model": "hashing"})
    journal = tmp_path / "journal"
    JournalStore(journal, settings.journal).add("walked to the mill bridge at dawn", tags=["x"])
    log = tmp_path / "chat.log"
    log.write_text(
        "[12:00:01] twin: hello chat, good morning\n"
        "[12:00:05] viewer: where did you walk today twin?\n"
        "[12:00:09] twin: to the bridge, it was lovely\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = await replay(log, out, settings, twin="twin", progress=False, journal=journal)
    assert _mode(out / "index") == 0o700
    assert _mode(result.report_json) == 0o600
    assert _mode(result.report_md) == 0o600
    assert _mode(result.traces) == 0o600
