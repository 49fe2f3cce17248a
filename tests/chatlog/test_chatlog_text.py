"""Chatterino logs, Twitch-Chat-Downloader text, OverRustle logs and plain lines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cohost.chatlog import ChatLog, open_log
from cohost.chatlog.chatterino import parse_duration
from cohost.core.errors import ChatLogError
from cohost.core.events import ChatEvent, ChatMessage, Moderation, Role


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def read(path: Path, text: str, **options: Any) -> tuple[list[ChatEvent], ChatLog]:
    path.write_text(text, encoding="utf-8")
    log = open_log(path, **options)
    return list(log), log


CHATTERINO = """\
# Start logging at 2024-01-06 23:59:50 UTC
[23:59:50] Pajlada: hello
[23:59:59] nerixyz: almost midnight
[00:00:02] nerixyz: new day
[00:00:03] e7om has been timed out for 3m.
[00:00:04] abitbol has been timed out for 1h 30m: spam
[00:00:05] mod_guy timed out someone for 10 minutes.
[00:00:06] troll has been permanently banned.
[00:00:07] Chat has been cleared by a moderator.
[00:00:08] nymn is live: playing games
[00:00:08] No one is hosting.
# Stop logging at 2024-01-07 00:00:09 UTC
"""


def test_chatterino_messages_rollover_and_moderation(tmp_path: Path) -> None:
    events, log = read(tmp_path / "pajlada-2024-01-06.log", CHATTERINO)
    assert log.format == "chatterino"
    messages = [e for e in events if isinstance(e, ChatMessage)]
    assert [(m.login, m.display_name, m.text) for m in messages] == [
        ("pajlada", "Pajlada", "hello"),
        ("nerixyz", "nerixyz", "almost midnight"),
        ("nerixyz", "nerixyz", "new day"),
    ]
    assert messages[0].ts == epoch("2024-01-06T23:59:50")
    assert messages[2].ts == epoch("2024-01-07T00:00:02")
    assert messages[0].channel == "pajlada"
    assert messages[0].id == "chatterino:2"
    moderation = [e for e in events if isinstance(e, Moderation)]
    assert [(m.kind, m.target_login, m.duration) for m in moderation] == [
        ("timeout", "e7om", 180),
        ("timeout", "abitbol", 5400),
        ("timeout", "someone", 600),
        ("ban", "troll", None),
        ("clear", None, None),
    ]
    assert log.stats.skipped == 0


def test_chatterino_without_header_takes_the_date_from_the_file_name(tmp_path: Path) -> None:
    events, _ = read(tmp_path / "nymn-2024-01-06.log", "[16:19:44] a_b: hi\n", format="chatterino")
    assert events[0].ts == epoch("2024-01-06T16:19:44")
    events, _ = read(tmp_path / "chat.log", "[00:01:00] a_b: hi\n", format="chatterino")
    assert events[0].ts == 60.0


def test_chatterino_header_offset(tmp_path: Path) -> None:
    text = "# Start logging at 2024-01-06 10:00:00 +0100\n[10:00:00] a: hi\n"
    events, _ = read(tmp_path / "c.log", text, format="chatterino")
    assert events[0].ts == epoch("2024-01-06T09:00:00")


def test_chatterino_small_step_back_is_not_a_new_day(tmp_path: Path) -> None:
    text = "# Start logging at 2024-01-06 10:00:00 UTC\n[10:00:05] a: one\n[10:00:01] b: two\n"
    events, _ = read(tmp_path / "c.log", text, format="chatterino")
    # read in time order: the line that stepped back comes first
    assert [(e.text, e.ts) for e in events if isinstance(e, ChatMessage)] == [
        ("two", epoch("2024-01-06T10:00:01")),
        ("one", epoch("2024-01-06T10:00:05")),
    ]


def test_chatterino_bad_lines(tmp_path: Path) -> None:
    text = "[10:00:00] a: ok\nnot a log line\n[99:00:00] b: bad clock\n#garbage\n"
    events, log = read(tmp_path / "c.log", text, format="chatterino")
    assert len(events) == 1
    assert log.stats.skipped == 3
    with pytest.raises(ChatLogError, match=r"c\.log:2: not a Chatterino log line"):
        read(tmp_path / "c.log", text, format="chatterino", strict=True)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3m", 180), ("1h 30m", 5400), ("1d", 86400), ("600s", 600), ("2 hours", 7200), ("x", None)],
)
def test_durations(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


TCD = """\
[0:00:31] <@vexel_tv> we cant hear you
[0:00:41] <%jrockmaster392> hi adum
[0:00:48] <+kibito2945> Hola adum
[0:01:00] <~AdumPlaze> hello chat
[0:01:05] <$@%BigSpender> Cheer100 nice
[1:00:00] <테스트계정> 안녕
[1:00:01] *Someone waves]
[1:00:02] <emptyuser>
[12:27:08] <plainuser> late
"""


def test_tcd_badges_offsets_and_actions(tmp_path: Path) -> None:
    events, log = read(tmp_path / "AdumPlaze_0774609027.txt", TCD)
    assert log.format == "tcd"
    messages = [e for e in events if isinstance(e, ChatMessage)]
    assert len(messages) == 9
    first = messages[0]
    assert (first.login, first.display_name, first.ts) == ("vexel_tv", "vexel_tv", 31.0)
    assert first.roles == frozenset({Role.MODERATOR})
    assert first.channel == "adumplaze"
    assert messages[1].roles == frozenset({Role.SUBSCRIBER})
    assert messages[2].roles == frozenset()
    assert messages[2].badges == (("premium", ""),)
    assert messages[3].role is Role.BROADCASTER
    assert messages[3].login == "adumplaze"
    assert messages[4].badges == (("bits", ""), ("moderator", ""), ("subscriber", ""))
    assert messages[4].role is Role.MODERATOR
    assert messages[5].display_name == "테스트계정"
    assert (messages[6].action, messages[6].text, messages[6].login) == (True, "waves", "someone")
    assert messages[7].text == ""
    assert messages[8].ts == 12 * 3600 + 27 * 60 + 8


TCD_PADDED = """[0:09:17] <SomeUser > text after a padded name
[0:09:18] <+Name > a premium badge and padding
[0:09:19] <@%Mod  > two spaces
[0:09:20] <plain> unpadded
"""


def test_tcd_names_padded_inside_brackets_are_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "padded.txt"
    path.write_text(TCD_PADDED, encoding="utf-8")
    log = open_log(path, strict=True)  # detected as tcd, and no line is bad
    events = list(log)
    assert log.format == "tcd"
    assert log.stats.skipped == 0
    assert [(e.login, e.display_name, e.text) for e in events if isinstance(e, ChatMessage)] == [
        ("someuser", "SomeUser", "text after a padded name"),
        ("name", "Name", "a premium badge and padding"),
        ("mod", "Mod", "two spaces"),
        ("plain", "plain", "unpadded"),
    ]
    assert events[1].badges == (("premium", ""),)  # type: ignore[union-attr]
    assert events[2].roles == frozenset({Role.MODERATOR, Role.SUBSCRIBER})  # type: ignore[union-attr]


def test_tcd_bad_lines(tmp_path: Path) -> None:
    events, log = read(tmp_path / "v.txt", "[0:00:01] <a> ok\n[0:00:02] a: not tcd\n", format="tcd")
    assert len(events) == 1
    assert log.stats.first_reasons == [f"{tmp_path / 'v.txt'}:2: not a Twitch-Chat-Downloader line"]


OVERRUSTLE = """\
[2017-07-10 22:05:18 UTC] Northernlion: welcome in
[2017-07-10 22:05:19 UTC] twitchnotify: someone just subscribed!
[2017-07-10 23:59:59 UTC] dixego: CLIMAX Kreygasm
broken line
"""


def test_overrustle(tmp_path: Path) -> None:
    folder = tmp_path / "Northernlion chatlog" / "July 2017"
    folder.mkdir(parents=True)
    events, log = read(folder / "2017-07-10.txt", OVERRUSTLE)
    assert log.format == "overrustle"
    assert [e.channel for e in events] == ["northernlion"] * 3
    first = events[0]
    assert isinstance(first, ChatMessage)
    assert (first.login, first.display_name, first.text) == (
        "northernlion",
        "Northernlion",
        "welcome in",
    )
    assert first.ts == epoch("2017-07-10T22:05:18")
    assert log.stats.skipped == 1


def test_channel_argument_wins_over_the_file_name(tmp_path: Path) -> None:
    events, _ = read(tmp_path / "2017-07-10.txt", OVERRUSTLE, channel="#Destiny")
    assert events[0].channel == "destiny"


def test_plain_lines_only_when_named(tmp_path: Path) -> None:
    text = "ResidentSleeper waiting room\r\n\r\nKappa Kappa\r\n"
    events, log = read(tmp_path / "pasta.txt", text, format="lines")
    assert [(e.text, e.ts) for e in events if isinstance(e, ChatMessage)] == [
        ("ResidentSleeper waiting room", 0.0),
        ("Kappa Kappa", 2.0),
    ]
    assert log.stats.lines == 3
    with pytest.raises(ChatLogError, match="cannot tell the chat log format"):
        open_log(tmp_path / "pasta.txt")
