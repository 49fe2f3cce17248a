"""CSV logs: recognised layouts and explicit column mappings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cohost.chatlog import open_log
from cohost.core.errors import ChatLogError
from cohost.core.events import ChatMessage, Role


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def messages(path: Path, **options: Any) -> list[ChatMessage]:
    return [e for e in open_log(path, **options) if isinstance(e, ChatMessage)]


def test_user_name_layout(tmp_path: Path) -> None:
    path = write(
        tmp_path / "export.csv",
        "time,user_name,user_id,message\n"
        '2024-01-06T16:19:44Z,Purple_Geco,253596827,"forsenParty, EDM"\n'
        '1704557985,mon_dieud,417575252,"a ""quoted""\nsecond line"\n',
    )
    log = open_log(path)
    assert log.format == "csv"
    first, second = [e for e in log if isinstance(e, ChatMessage)]
    assert (first.login, first.display_name, first.user_id) == (
        "purple_geco",
        "Purple_Geco",
        "253596827",
    )
    assert first.text == "forsenParty, EDM"
    assert first.ts == 1704557984.0
    assert first.id == "csv:2"
    assert first.channel == "export"
    assert second.ts == 1704557985.0
    assert second.text == 'a "quoted"\nsecond line'


def test_username_badges_layout(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bot.csv",
        "timestamp,username,message,badges\n"
        "1704557984095,nymn,hello,broadcaster/1\n"
        '1704557985000,modguy,hi,"moderator/1,subscriber/12"\n',
    )
    first, second = messages(path)
    assert first.ts == pytest.approx(1704557984.095)  # milliseconds are recognised
    assert first.role is Role.BROADCASTER
    assert second.roles == frozenset({Role.MODERATOR, Role.SUBSCRIBER})


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("timestamp,username,message", "1704557984,Nymn,hello there"),
        ("time,user,text", "2024-01-06T16:19:44Z,Nymn,hello there"),
        ("Date,Author,Content", "2024-01-06 16:19:44,Nymn,hello there"),
        (
            "message_id,timestamp,chatter_user_login,chatter_user_name,message",
            "abc,1704557984,nymn,Nymn,hello there",
        ),
    ],
)
def test_columns_are_known_by_their_usual_names(tmp_path: Path, header: str, row: str) -> None:
    path = write(tmp_path / "chat.csv", f"{header}\n{row}\n")
    log = open_log(path)
    assert log.format == "csv"
    [first] = [e for e in log if isinstance(e, ChatMessage)]
    assert (first.login, first.display_name, first.text) == ("nymn", "Nymn", "hello there")


def test_another_delimiter_fails_clearly(tmp_path: Path) -> None:
    path = write(tmp_path / "custom.txt", "When;Who;Said\n0:01:02;Alice;hi\n")
    columns = {"ts": "when", "login": "who", "text": "said"}
    with pytest.raises(ChatLogError, match=r"custom\.txt:1: no CSV column 'when'"):
        list(open_log(path, csv_columns=columns))


def test_explicit_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path / "custom.txt",
        "When,Who,Said,Chan\n"
        "0:01:02,Alice,hi,#Pajlada\n"
        "later,Bob,bad time,\n"
        "0:01:05,,no user,\n"
        "0:01:06,Carol\n"
        "0:01:07,Dave,ok,\n",
    )
    columns = {"ts": "when", "login": "Who", "text": "said", "channel": "chan"}
    log = open_log(path, csv_columns=columns)
    assert log.format == "csv"
    found = [e for e in log if isinstance(e, ChatMessage)]
    assert [(m.login, m.ts, m.channel) for m in found] == [
        ("alice", 62.0, "pajlada"),
        ("dave", 67.0, "custom"),
    ]
    assert log.stats.skipped == 3
    assert log.stats.first_reasons == [
        f"{path}:3: not an ISO time: 'later'",
        f"{path}:4: empty user name",
        f"{path}:5: 2 fields, the mapping needs 4",
    ]
    with pytest.raises(ChatLogError, match=r"custom\.txt:3: not an ISO time"):
        list(open_log(path, csv_columns=columns, strict=True))


@pytest.mark.parametrize(
    ("columns", "error"),
    [
        ({"ts": "when", "login": "who"}, "lacks text"),
        ({"ts": "when", "login": "who", "text": "said", "colour": "c"}, "unknown CSV column roles"),
        ({"ts": "when", "login": "who", "text": "nope"}, "no CSV column 'nope'"),
    ],
)
def test_bad_mappings(tmp_path: Path, columns: dict[str, str], error: str) -> None:
    path = write(tmp_path / "c.csv", "when,who,said\n1,a,b\n")
    with pytest.raises(ChatLogError, match=error):
        list(open_log(path, csv_columns=columns))


def test_unknown_header_without_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(ChatLogError, match="unknown columns"):
        open_log(path)
    with pytest.raises(ChatLogError, match="unknown CSV columns") as caught:
        list(open_log(path, format="csv"))
    assert "login: login, user_login" in str(caught.value)
