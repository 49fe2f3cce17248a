"""Small chat logs written to hit each cleaning rule a known number of times."""

from __future__ import annotations

from pathlib import Path

import pytest

T0 = 1_700_000_000


def privmsg(i: int, login: str, text: str, *, msg_id: str | None = None) -> str:
    """One raw IRC PRIVMSG, sent at T0 + i seconds."""
    tags = f"id={msg_id or f'm{i}'};tmi-sent-ts={(T0 + i) * 1000};display-name={login}"
    return f"@{tags} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #chan :{text}"


def clearmsg(i: int, login: str, msg_id: str, text: str) -> str:
    """A CLEARMSG (one message deleted) at T0 + i seconds."""
    tags = f"target-msg-id={msg_id};login={login};tmi-sent-ts={(T0 + i) * 1000}"
    return f"@{tags} :tmi.twitch.tv CLEARMSG #chan :{text}"


def timeout(i: int, login: str, seconds: int = 600) -> str:
    """A CLEARCHAT timing a user out at T0 + i seconds."""
    tags = f"ban-duration={seconds};tmi-sent-ts={(T0 + i) * 1000}"
    return f"@{tags} :tmi.twitch.tv CLEARCHAT #chan :{login}"


# Each rule's hits, by design: bots 1, commands 1, moderated 3 (1 deleted, 2 of a timed-out
# user), context 3 (attachment, bare link, reference), short 1, duplicates 2, personal 2 changed.
RULE_LOG = [
    privmsg(1, "alice", "hello everyone"),
    privmsg(2, "nightbot", "Follow the channel for more streams"),
    privmsg(3, "bob", "!uptime"),
    privmsg(4, "carol", "something rude here", msg_id="rude"),
    privmsg(5, "dave", "buy followers at cheap prices"),
    privmsg(6, "erin", "[image]"),
    privmsg(7, "erin", "https://clips.twitch.tv/SomeClipName"),
    privmsg(8, "frank", "lol look at this"),
    privmsg(9, "gina", "k"),
    privmsg(10, "alice", "Hello   EVERYONE"),
    privmsg(11, "henry", "mail me at henry@example.com"),
    privmsg(12, "dave", "second line from dave"),
    privmsg(13, "moss", "call me at 555-123-4567 ok"),
    clearmsg(14, "carol", "rude", "something rude here"),
    timeout(15, "dave"),
    privmsg(16, "alice", "what game is this moss"),
    privmsg(17, "moss", "it is the one with the boats"),
    privmsg(18, "moss", "it is the one with the boats"),
]
RULE_COUNTS = {
    "bots": 1,
    "commands": 1,
    "moderated": 3,
    "context": 3,
    "short": 1,
    "duplicates": 2,
}


@pytest.fixture
def rule_log(tmp_path: Path) -> Path:
    """The log above as raw IRC."""
    path = tmp_path / "rules.irc"
    path.write_text("\n".join(RULE_LOG) + "\n", encoding="utf-8")
    return path
