"""The journal store: durable, atomic, never overwrites, reads past bad files."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cohost.core.errors import JournalFormatError
from cohost.core.events import Tier
from cohost.core.options import JournalSettings
from cohost.journal.store import TEMP_PREFIX, TEMP_SUFFIX, JournalStore, safe_stem

NOW = datetime(2026, 11, 23, 19, 40, 12, 345678, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def test_add_writes_a_tiddlywiki_journal_tiddler(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "journal")
    entry = store.add(
        "Played the new map.\r\nIt was hard.  ", tags=["stream", "late night"], now=NOW
    )
    assert entry.path == tmp_path / "journal" / "2026-11-23 19_40_12.345.tid"
    assert entry.id == "2026-11-23 19_40_12.345"
    assert entry.path.read_text(encoding="utf-8") == (
        "created: 20261123194012345\n"
        "modified: 20261123194012345\n"
        "tags: stream [[late night]]\n"
        "title: 2026-11-23 19:40:12.345\n"
        "type: text/vnd.tiddlywiki\n"
        "\n"
        "Played the new map.\nIt was hard."
    )
    assert entry.title == "2026-11-23 19:40:12.345"
    assert entry.text == "Played the new map.\nIt was hard."
    assert entry.created == entry.modified == datetime(2026, 11, 23, 19, 40, 12, 345000, tzinfo=UTC)
    assert entry.tags == ("stream", "late night")
    assert entry.tier is Tier.PRIVATE
    assert store.get(entry.id) == entry
    assert list(store.entries()) == [entry]


def test_default_title_is_in_the_writers_own_zone_and_created_in_utc(tmp_path: Path) -> None:
    local = NOW.astimezone(timezone(timedelta(hours=-5)))
    entry = JournalStore(tmp_path).add("x", now=local)
    assert entry.title == "2026-11-23 14:40:12.345"
    assert entry.created == datetime(2026, 11, 23, 19, 40, 12, 345000, tzinfo=UTC)


def test_tiers_come_from_tags(tmp_path: Path) -> None:
    store = JournalStore(tmp_path, JournalSettings(secret_tag="hush"))
    assert store.add("a", tags=["public"], title="a").tier is Tier.PUBLIC
    assert store.add("b", tags=["public", "Hush"], title="b").tier is Tier.SECRET
    assert store.add("c", title="c").tier is Tier.PRIVATE


def test_same_title_never_overwrites_and_gets_a_number_as_tiddlywiki_gives_it(
    tmp_path: Path,
) -> None:
    store = JournalStore(tmp_path)
    ids = [store.add(f"take {n}", title="Stream notes", now=NOW).id for n in range(3)]
    assert ids == ["Stream notes", "Stream notes 2", "Stream notes 3"]
    assert [store.get(i).text for i in ids] == ["take 0", "take 1", "take 2"]
    # titles that share a file name keep their own titles; a repeated one gets a number
    entries = [
        store.add(f"take {n}", title=title, now=NOW)
        for n, title in enumerate(["a/b: c?", "a?b: c/", "a/b: c?"])
    ]
    assert [e.title for e in entries] == ["a/b: c?", "a?b: c/", "a/b: c? 2"]
    assert len({e.id for e in entries}) == 3


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = JournalStore(tmp_path)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(10):
                store.add(f"{worker}-{n}", title="same", now=NOW)
        except BaseException as exc:
            errors.append(exc)
            raise

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    texts = sorted(e.text for e in store.entries())
    assert texts == sorted(f"{w}-{n}" for w in range(6) for n in range(10))
    assert not list(tmp_path.glob(f"{TEMP_PREFIX}*"))


@pytest.mark.parametrize(
    ("title", "stem"),
    [
        (
            "2019.01.12 - Wiki: Dictionary lookup macro",
            "2019.01.12 - Wiki_ Dictionary lookup macro",
        ),
        ("$:/sk/WhiteList", "$__sk_WhiteList"),
        ("../../etc/passwd", "_._.._etc_passwd"),
        ("..", "untitled"),
        (".hidden", "_hidden"),
        ("CON", "_CON"),
        ("lpt1.txt", "_lpt1.txt"),
        ("tab\there\x00nul", "tab_here_nul"),
        ('a<b>c"d|e?f*g\\h', "a_b_c_d_e_f_g_h"),
        ("ends with dots...", "ends with dots"),
    ],
)
def test_safe_file_names(title: str, stem: str) -> None:
    assert safe_stem(title) == stem


def test_long_titles_are_cut_at_a_character_boundary(tmp_path: Path) -> None:
    title = "ü" * 300
    stem = safe_stem(title)
    assert len(stem.encode()) <= 200
    assert stem == "ü" * 100
    entry = JournalStore(tmp_path).add("x", title=title)
    assert entry.title == title
    assert entry.path.parent == tmp_path


def test_hostile_titles_stay_inside_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    store = JournalStore(journal)
    for title in ("../escape", "/etc/passwd", "..", ".", "a/../../b", "\\..\\x"):
        entry = store.add("x", title=title)
        assert entry.path.parent == journal
        assert entry.title == title
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal"]


def test_bad_input_is_refused(tmp_path: Path) -> None:
    store = JournalStore(tmp_path)
    with pytest.raises(ValueError, match="empty"):
        store.add(" \n\t ")
    with pytest.raises(ValueError, match="aware"):
        store.add("x", now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="title"):
        store.add("x", title="two\nlines")
    assert list(tmp_path.iterdir()) == []


def test_entries_read_past_bad_files_and_ignore_the_rest(tmp_path: Path) -> None:
    store = JournalStore(tmp_path)
    good = store.add("fine", title="good", now=NOW)
    (tmp_path / "broken.tid").write_text("no header here\n\nbody", encoding="utf-8")
    (tmp_path / "latin1.tid").write_bytes("title: caf\xe9\n\nx".encode("latin-1"))
    (tmp_path / "notes.txt").write_text("title: not a tid\n\nx", encoding="utf-8")
    (tmp_path / ".hidden.tid").write_text("title: hidden\n\nx", encoding="utf-8")
    (tmp_path / f"{TEMP_PREFIX}{os.getpid()}-abc{TEMP_SUFFIX}").write_text("title: t\n\nx")
    (tmp_path / "sub.tid").mkdir()
    problems: list[JournalFormatError] = []
    assert list(store.entries(problems.append)) == [good]
    assert sorted(Path(p.path or "").name for p in problems) == ["broken.tid", "latin1.tid"]
    assert {p.line for p in problems} == {1, None}
    # Without a handler they go to the log, and iteration still finishes.
    assert [e.id for e in store.entries()] == ["good"]


def test_get(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "j")
    with pytest.raises(KeyError):
        store.get("nothing")
    entry = store.add("x", title="x")
    for bad in ("", "../j/x", ".tmp-1", "x/..", "a\\b"):
        with pytest.raises(KeyError):
            store.get(bad)
    (tmp_path / "j" / "bad.tid").write_text("oops", encoding="utf-8")
    with pytest.raises(JournalFormatError):
        store.get("bad")
    assert store.get("x") == entry


def test_missing_dates_fall_back(tmp_path: Path) -> None:
    (tmp_path / "a.tid").write_text("modified: 20200101000000000\ntitle: a\n\nx", encoding="utf-8")
    (tmp_path / "b.tid").write_text("title: b\n\nx", encoding="utf-8")
    store = JournalStore(tmp_path)
    a = store.get("a")
    assert a.created == a.modified == datetime(2020, 1, 1, tzinfo=UTC)
    b = store.get("b")
    mtime = datetime.fromtimestamp((tmp_path / "b.tid").stat().st_mtime, UTC)
    assert b.created == b.modified == mtime


def test_old_temp_files_go_young_live_ones_stay(tmp_path: Path) -> None:
    live = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-live{TEMP_SUFFIX}"
    old = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-old{TEMP_SUFFIX}"
    for p in (live, old):
        p.write_text("partial")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    JournalStore(tmp_path)
    assert live.exists()
    assert not old.exists()


_WRITER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from cohost.journal.store import JournalStore

def pause(temp):
    print("READY", temp, flush=True)
    time.sleep(600)

store = JournalStore(Path(sys.argv[1]), before_commit=pause if sys.argv[2] == "pause" else None)
body = "x" * int(sys.argv[3])
n = 0
while True:
    store.add(f"{n}:{body}:end", title=f"entry {n}", now=datetime.now(UTC))
    print("WROTE", n, flush=True)
    n += 1
    if sys.argv[2] == "pause":
        break
"""


def _writer(directory: Path, mode: str, size: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(directory), mode, str(size)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def _assert_only_complete_entries(directory: Path, size: int) -> int:
    store = JournalStore(directory)  # opening it removes what dead writers left
    assert not list(directory.glob(f"{TEMP_PREFIX}*"))
    problems: list[JournalFormatError] = []
    entries = list(store.entries(problems.append))
    assert problems == []
    assert sorted(p.name for p in directory.iterdir()) == sorted(e.path.name for e in entries)
    for e in entries:
        number, body, end = e.text.split(":")
        assert re.fullmatch(rf"entry {number}( \d+)?", e.title)  # a title again: numbered
        assert body == "x" * size
        assert end == "end"
    return len(entries)


def test_a_writer_killed_before_the_rename_leaves_no_entry(tmp_path: Path) -> None:
    size = 4_000_000
    with _writer(tmp_path, "pause", size) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline().split(" ", 1)
        assert line[0] == "READY"
        temp = Path(line[1].strip())
        assert temp.parent == tmp_path
        assert temp.stat().st_size > size  # the whole entry is in the temp file, fsynced
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert temp.exists()  # a killed writer cannot clean up after itself...
    assert list(JournalStore(tmp_path).entries()) == []  # ...but it is never an entry
    assert _assert_only_complete_entries(tmp_path, size) == 0


def test_writers_killed_at_random_moments_leave_only_complete_entries(tmp_path: Path) -> None:
    size = 2_000_000
    for round_ in range(6):
        with _writer(tmp_path, "loop", size) as proc:
            assert proc.stdout is not None
            # Wait for a few finished entries, then kill it mid-way through the next ones.
            for _ in range(round_ % 3):
                assert proc.stdout.readline().startswith("WROTE")
            time.sleep(0.01 * round_)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
    assert _assert_only_complete_entries(tmp_path, size) >= 6
