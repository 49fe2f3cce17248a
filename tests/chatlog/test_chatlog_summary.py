"""inspect_log and format_summary."""

from __future__ import annotations

import json
from pathlib import Path

from cohost.chatlog import format_summary, inspect_log

LINES = [
    "@tmi-sent-ts=1704557984000 :a!a@a PRIVMSG #nymn :hi",
    "@tmi-sent-ts=1704557990000 :b!b@b PRIVMSG #nymn :yo",
    "@tmi-sent-ts=1704557991000 :a!a@a PRIVMSG #nymn :again",
    "@msg-id=raid;login=r;msg-param-viewerCount=5;tmi-sent-ts=1704557992000"
    " :tmi.twitch.tv USERNOTICE #nymn",
    "@ban-duration=60;tmi-sent-ts=1704558044000 :tmi.twitch.tv CLEARCHAT #nymn :b",
    "garbage",
]


def test_summary_counts_and_text(tmp_path: Path) -> None:
    path = tmp_path / "nymn.irc"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    summary = inspect_log(path)
    assert (summary.format, summary.messages, summary.users, summary.events) == ("irc", 3, 2, 5)
    assert summary.notices == {"raid": 1}
    assert summary.moderation == {"timeout": 1}
    assert summary.span_seconds == 60.0
    assert summary.skipped == 1
    data = summary.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["span_seconds"] == 60.0
    assert data["first_reasons"] == [f"{path}:6: not an IRC command: 'garbage'"]
    text = format_summary(summary)
    assert text.splitlines() == [
        f"{path} (irc, #nymn)",
        "  3 messages from 2 users (5 events in 6 lines)",
        "  from 2024-01-06 16:19:44 UTC to 2024-01-06 16:20:44 UTC (0:01:00)",
        "  user notices: raid 1",
        "  moderation: timeout 1",
        "  skipped lines: 1",
        f"    {path}:6: not an IRC command: 'garbage'",
    ]
