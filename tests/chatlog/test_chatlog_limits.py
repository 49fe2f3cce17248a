"""Depth and size limits of the log readers: hostile input ends in a located ChatLogError or a
counted skip, never a RecursionError or a line held whole in memory (issue #16, finding 6)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pytest

from cohost.chatlog import open_log
from cohost.chatlog.base import MAX_LINE_CHARS
from cohost.core.errors import ChatLogError
from cohost.core.events import ChatMessage

DEEP = 1_100


def _comment(number: int, body: object) -> dict[str, object]:
    return {
        "_id": f"id-{number}",
        "created_at": "2017-07-10T22:05:27.582Z",
        "commenter": {"display_name": "Dixego", "_id": "1", "name": "dixego"},
        "message": {"body": body},
    }


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("where", ["item", "key"])
def test_json_nested_too_deep_is_a_located_error(tmp_path: Path, where: str) -> None:
    path = tmp_path / "vod.json"
    first = json.dumps(_comment(1, "hi"))
    if where == "item":  # a comment nested past the decoder's recursion
        text = '{"comments": [\n' + first + ",\n" + _deep(DEEP) + "\n]}"
        line = 3
    else:  # a field before the comments
        text = '{"streamer": {"name": "x"},\n"video": ' + _deep(DEEP) + ',\n"comments": []}'
        line = 2
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ChatLogError) as caught:
        list(open_log(path, format="twitchdownloader"))
    assert caught.value.line == line
    assert "nested too deep" in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_rechat_and_recent_messages_nested_too_deep(tmp_path: Path) -> None:
    rechat = tmp_path / "rechat.json"
    rechat.write_text("[\n" + _deep(DEEP) + "\n]", encoding="utf-8")
    recent = tmp_path / "recent.json"
    recent.write_text('{"messages": [\n' + _deep(DEEP) + "]}", encoding="utf-8")
    for path, fmt in ((rechat, "rechat"), (recent, "irc_json")):
        with pytest.raises(ChatLogError, match="nested too deep") as caught:
            list(open_log(path, format=fmt))
        assert caught.value.line == 2


def _gzip_log(path: Path, long_chars: int) -> None:
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        f.write("[12:00:01] alice: before\n")
        f.write("[12:00:02] mallory: ")
        chunk = "x" * (1 << 20)
        for _ in range(long_chars // len(chunk)):
            f.write(chunk)
        f.write("\n[12:00:03] bob: after\n")


def test_a_huge_line_in_a_gzip_log_is_skipped_without_holding_it(tmp_path: Path) -> None:
    path = tmp_path / "chat-2024-01-06.log.gz"
    _gzip_log(path, 48 << 20)  # 48 MiB on one line: whole, it would take ≥ 48 MB (str + bytes)
    log = open_log(path, format="chatterino")
    tracemalloc.start()
    try:
        messages = [e for e in log if isinstance(e, ChatMessage)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [m.text for m in messages] == ["before", "after"]
    assert log.stats.skipped == 1
    assert log.stats.lines == 3
    assert log.stats.first_reasons == [
        f"{path}:2: a line longer than {MAX_LINE_CHARS:,} characters: not a chat line"
    ]
    assert peak < 16 << 20


def test_a_huge_line_is_an_error_when_strict(tmp_path: Path) -> None:
    path = tmp_path / "chat.log"
    path.write_text(
        "[12:00:01] alice: hi\n[12:00:02] mallory: " + "y" * (MAX_LINE_CHARS + 10) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ChatLogError, match="longer than") as caught:
        list(open_log(path, format="chatterino", strict=True))
    assert caught.value.line == 2


def test_a_huge_csv_line_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "chat.csv"
    path.write_text(
        "time,user,message\n"
        "2024-01-06T12:00:01Z,alice,hi\n"
        f'2024-01-06T12:00:02Z,mallory,"{"z" * (MAX_LINE_CHARS + 10)}"\n'
        "2024-01-06T12:00:03Z,bob,there\n",
        encoding="utf-8",
    )
    log = open_log(path, format="csv")
    messages = [e for e in log if isinstance(e, ChatMessage)]
    assert [m.text for m in messages] == ["hi", "there"]
    assert log.stats.skipped == 1
    assert log.stats.first_reasons[0].startswith(f"{path}:3: a line longer than")
