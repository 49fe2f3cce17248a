"""Logs out of time order are read sorted (through a bounded window) or refused clearly."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cohost.chatlog import open_log
from cohost.chatlog.csvlog import match_schema, parse_columns
from cohost.chatlog.log import SORT_WINDOW_NARROW, sorted_window
from cohost.core.errors import ChatLogError
from cohost.core.events import ChatMessage


def message(ts: float, text: str = "") -> ChatMessage:
    return ChatMessage(id=text, channel="c", login="a", display_name="a", text=text, ts=ts)


def test_a_shuffled_csv_is_read_in_time_order(tmp_path: Path) -> None:
    rows = [f"{1_700_000_000 + 7 * i},user{i % 13},message {i}" for i in range(1922)]
    random.Random(20).shuffle(rows)
    path = tmp_path / "research.csv"
    path.write_text("created_at,username,message\n" + "\n".join(rows) + "\n", encoding="utf-8")
    events = list(open_log(path))
    assert len(events) == 1922
    times = [e.ts for e in events]
    assert times == sorted(times)


def test_jitter_keeps_the_order_chat_saw() -> None:
    events = [message(10.0, "a"), message(9.5, "b"), message(11.0, "c"), message(10.9, "d")]
    assert [e.id for e in sorted_window(events)] == ["a", "b", "c", "d"]


def test_a_real_step_back_is_sorted_and_equal_times_keep_their_order() -> None:
    events = [message(100.0, "late"), message(5.0, "x"), message(5.0, "y"), message(50.0, "z")]
    assert [e.id for e in sorted_window(events)] == ["x", "y", "z", "late"]


def test_disorder_beyond_the_window_is_refused(tmp_path: Path) -> None:
    lines = [
        f"[0:{i // 60:02d}:{i % 60:02d}] <u{i}> later line {i}"
        for i in range(600, 600 + 2 * SORT_WINDOW_NARROW)
    ]
    lines.append("[0:00:01] <early> far too early")
    path = tmp_path / "odd.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ChatLogError, match=r"out of time order.*sort the file by time first"):
        list(open_log(path))


@pytest.mark.parametrize(
    ("header", "user"),
    [
        ("content_offset_seconds,commenter,body", "commenter"),
        ("created,commenter_display_name,message_body", "commenter_display_name"),
        ("timestamp,display_name,message", "display_name"),
        ("time,from,msg", "from"),
    ],
)
def test_more_export_headers_are_known(header: str, user: str) -> None:
    columns = match_schema(header.split(","))
    assert columns is not None
    assert columns["login"] == user


def test_columns_spec_names_roles_as_people_do() -> None:
    assert parse_columns("time=t, user=u ,text=m,name=d") == {
        "ts": "t",
        "login": "u",
        "text": "m",
        "display_name": "d",
    }
