"""Telling formats apart from the first few KB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohost.chatlog import FORMATS, detect_format, open_log
from cohost.core.errors import ChatLogError

DATA = Path(__file__).parent / "data"

SAMPLES = {
    "irc": (
        "c.log",
        "@badges=;tmi-sent-ts=1 :a!a@a.tmi.twitch.tv PRIVMSG #c :hi\n"
        "@room-id=1 :tmi.twitch.tv ROOMSTATE #c\n",
    ),
    "irc_json": ("r.txt", json.dumps({"messages": ["@a=1 :a!a@a PRIVMSG #c :hi"]})),
    "chatterino": ("c.txt", "# Start logging at 2024-01-06 16:19:44 UTC\n[16:19:44] a: hi\n"),
    "tcd": ("t.log", "[0:00:31] <@vexel_tv> we cant hear you\n[10:00:32] <b> adam\n"),
    "rechat": ("r.data", json.dumps([{"_id": "v1", "recorded_at": "2017-07-10T22:05:18Z"}])),
    "twitchdownloader": ("td.txt", json.dumps({"streamer": {"name": "x"}, "comments": []})),
    "overrustle": ("o.log", "[2017-07-10 22:05:18 UTC] nick: text\n"),
    "csv": ("c.txt", "time,user_name,user_id,message\n1,a,2,hi\n"),
}


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_detects_each_format(tmp_path: Path, fmt: str) -> None:
    name, text = SAMPLES[fmt]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert detect_format(path) == fmt
    assert fmt in FORMATS


def test_detects_the_twitchdownloader_fixture() -> None:
    assert detect_format(DATA / "twitchdownloader_sample.json") == "twitchdownloader"


def test_a_bom_and_leading_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    path.write_bytes(b"\xef\xbb\xbf\n\n[16:19:44] a: hi\n")
    assert detect_format(path) == "chatterino"


def test_majority_wins_over_a_few_odd_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("[0:00:01] <a> x\n[0:00:02] <b> y\ngarbage\n", encoding="utf-8")
    assert detect_format(path) == "tcd"


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("empty.log", "", "the file is empty"),
        ("pasta.txt", "Kappa Kappa Kappa\nPogChamp WR\n", "with `--format lines`"),
        ("odd.json", '{"data": [1, 2]}', "neither rechat, TwitchDownloader nor recent-messages"),
        ("odd.csv", "x,y,z\n1,2,3\n", "--columns time=COL"),
    ],
)
def test_nothing_fits(tmp_path: Path, name: str, content: str, error: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ChatLogError, match=error) as caught:
        detect_format(path)
    assert caught.value.path == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ChatLogError, match="cannot read"):
        detect_format(tmp_path / "nope.log")
    with pytest.raises(ChatLogError, match="cannot read"):
        list(open_log(tmp_path / "nope.log", format="irc"))


def test_unknown_format_name(tmp_path: Path) -> None:
    with pytest.raises(ChatLogError, match="unknown chat log format 'xml'"):
        open_log(tmp_path / "x", format="xml")
