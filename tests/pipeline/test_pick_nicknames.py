"""`cohost chatlog nicknames`: the names chat calls the streamer by, from real and made logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohost.chatlog import open_log
from cohost.cli.main import main
from cohost.core.events import ChatMessage
from cohost.core.options import PickerSettings
from cohost.pipeline.pick import learn_nicknames


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("COHOST_DATA_DIR", str(tmp_path / "data"))
    for name in ("COHOST_TWIN__STREAMER", "COHOST_PICKER__STREAMER_NICKNAMES"):
        monkeypatch.delenv(name, raising=False)


def _log(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "chat.txt"
    stamped = [f"[0:00:{i:02d}] {line}" for i, line in enumerate(lines)]
    path.write_text("\n".join(stamped) + "\n", encoding="utf-8")
    return path


def test_the_command_prints_the_names_and_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _log(
        tmp_path,
        [
            "<ann> hey kd how was the trip",
            "<bob> KD, you missed a chest",
            "<cy> good night kd",
            "<dee> kd is so good at this",
            "<KingDragon> thanks chat",
        ],
    )
    assert main(["chatlog", "nicknames", str(log), "--streamer", "KingDragon"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "kd: called so by 3 viewers in 3 messages",
        'COHOST_PICKER__STREAMER_NICKNAMES=["kd"]',
    ]


def test_the_command_needs_a_streamer_and_says_when_it_finds_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path, ["<ann> hi kd", "<bob> what a game"])
    assert main(["chatlog", "nicknames", str(log)]) == 1
    assert "--streamer" in capsys.readouterr().err
    monkeypatch.setenv("COHOST_TWIN__STREAMER", "kingdragon")
    assert main(["chatlog", "nicknames", str(log)]) == 0
    assert "no nickname for kingdragon" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main(["chatlog", "nicknames", str(log), "--min-chatters", "0"])
    assert refused.value.code == 2
    assert "--min-chatters: must be 1 or more, not 0" in capsys.readouterr().err


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("log", "streamer", "names"),
    [
        ("tcd_text/AdumPlaze_0774609027.txt", "adumplaze", ["adum"]),
        ("tcd_text/DKDiamantes_0650637968.txt", "dkdiamantes", ["dk"]),
        ("rechat_json/rechat-158202424.json", "northernlion", ["nl"]),
        ("irc_raw/nymn_recentmessages.irc", "nymn", []),
    ],
)
def test_real_logs_give_the_names_their_chat_uses(
    shared_data: Path, log: str, streamer: str, names: list[str]
) -> None:
    chat = (e for e in open_log(shared_data / "twitch" / log) if isinstance(e, ChatMessage))
    bots = frozenset(PickerSettings().known_bots)
    assert [n.name for n in learn_nicknames(chat, streamer, ignore=bots)] == names
