"""Logged `!twin` commands steer a replay as they steered the stream."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from cohost.app.replay import replay
from cohost.app.settings import load_settings

STREAMER = "mossbyte"
T0 = 1_700_000_000_000  # ms


def irc(login: str, text: str, at_s: float, *, badge: str = "") -> str:
    tags = (
        f"@badges={badge};display-name={login};id={uuid.uuid4()};"
        f"tmi-sent-ts={T0 + int(at_s * 1000)};user-id={abs(hash(login)) % 10**8}"
    )
    return f"{tags} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{STREAMER} :{text}"


async def test_a_logged_pause_pauses_the_replay_until_a_moderator_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    streamer = [
        "gerald the sourdough starter doubled overnight",
        "we are baking rye bread tonight chat",
        "the oven is preheating, give it ten minutes",
        "thanks for hanging out while the dough rises",
        "honestly rye is the best bread, fight me",
    ]
    lines = [irc(STREAMER, text, i, badge="broadcaster/1") for i, text in enumerate(streamer)]
    lines += [
        irc("ana", f"{STREAMER} how is gerald the sourdough starter?", 100),
        # what a replay cannot do as the stream did, refused; another bot's line, ignored
        irc("oakmod", "!twin hold on", 150, badge="moderator/1"),
        irc(STREAMER, "!twin note the oven is new", 160, badge="broadcaster/1"),
        irc("nightbot", "!twin pause", 170, badge="moderator/1"),
        irc("oakmod", "!twin pause", 200, badge="moderator/1"),
        irc("bo", f"{STREAMER} what are we baking next?", 300),
        irc("bo", "!twin resume", 400),  # a viewer may not
        irc("cyra", f"{STREAMER} is the oven hot yet?", 500),
        irc("oakmod", "!twin resume", 600, badge="moderator/1"),
        irc("dex", f"{STREAMER} do you like rye bread?", 700),
    ]
    log = tmp_path / "stream.irc"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = load_settings(data_dir=tmp_path / "data", twin={"streamer": STREAMER})
    result = await replay(log, tmp_path / "out", settings, twin=STREAMER, progress=False)

    report = json.loads(result.report_json.read_text())
    assert report["commands"] == {
        "hold refused": 1,
        "note refused": 1,
        "pause accepted": 1,
        "resume refused": 1,
        "resume accepted": 1,
    }
    assert report["skipped_by_category"].get("paused") == 2  # bo's and cyra's questions
    traces = [json.loads(line) for line in result.traces.read_text().splitlines()]
    asked = [t["decision"]["message"]["login"] for t in traces]
    assert asked == ["ana", "dex"]
    md = result.report_md.read_text()
    assert "`!twin` commands in the log" in md and "a replay never writes the journal" in md
    assert not [r for r in caplog.records if r.exc_info]  # refused quietly, no tracebacks
    assert not (tmp_path / "data" / "journal").exists()
