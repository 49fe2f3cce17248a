"""Every real log in ../shared/data/twitch reads with zero skipped lines and the right counts.

Expected numbers were counted outside the readers (grep/wc over the files; see the report).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from cohost.chatlog import detect_format, format_summary, inspect_log, open_log
from cohost.core.errors import ChatLogError
from cohost.core.events import ChatMessage, Moderation, Role, UserNotice

pytestmark = pytest.mark.shared_data

# path, format, messages, distinct users, user notices, moderation events
EXPECTED = [
    ("irc_raw/nymn_recentmessages.irc", "irc", 798, 118, 0, 2),
    ("irc_raw/recentmessages-nymn.json", "irc_json", 798, 118, 0, 2),
    ("irc_raw/chatterino_test_snapshot_inputs.irc", "irc", 70, 19, 29, 10),
    ("chatterino_log/nymn-2024-01-06.log", "chatterino", 798, 118, 0, 2),
    ("tcd_text/AdumPlaze_0774609027.txt", "tcd", 6304, 456, 0, 0),
    ("tcd_text/DKDiamantes_0650637968.txt", "tcd", 3036, 166, 0, 0),
    ("rechat_json/rechat-158202424.json", "rechat", 1970, 611, 0, 0),
]


@pytest.mark.parametrize("case", EXPECTED, ids=[row[0] for row in EXPECTED])
def test_real_logs(shared_data: Path, case: tuple[str, str, int, int, int, int]) -> None:
    name, fmt, messages, users, notices, moderation = case
    path = shared_data / "twitch" / name
    assert detect_format(path) == fmt
    log = open_log(path, strict=True)
    events = list(log)
    assert log.stats.skipped == 0
    assert log.stats.messages == messages
    kinds = Counter(type(e) for e in events)
    assert kinds[ChatMessage] == messages
    assert kinds[UserNotice] == notices
    assert kinds[Moderation] == moderation
    assert len({e.login for e in events if isinstance(e, ChatMessage)}) == users
    ids = [e.id for e in events if isinstance(e, ChatMessage)]
    assert all(ids)


def test_nymn_formats_agree(shared_data: Path) -> None:
    twitch = shared_data / "twitch"
    raw = list(open_log(twitch / "irc_raw/nymn_recentmessages.irc"))
    wrapped = list(open_log(twitch / "irc_raw/recentmessages-nymn.json"))
    assert raw == wrapped
    chatterino = list(open_log(twitch / "chatterino_log/nymn-2024-01-06.log"))
    pairs = list(zip(raw, chatterino, strict=True))
    for irc_event, log_event in pairs:
        assert irc_event.channel == log_event.channel == "nymn"
        # Chatterino keeps whole seconds only.
        assert int(irc_event.ts) == log_event.ts
        if isinstance(irc_event, ChatMessage):
            assert isinstance(log_event, ChatMessage)
            assert (irc_event.login, irc_event.text) == (log_event.login, log_event.text)
    timeouts = [e for e in raw if isinstance(e, Moderation)]
    assert [(t.kind, t.target_login, t.duration) for t in timeouts] == [
        ("timeout", "e7om", 180),
        ("timeout", "abitbol", 180),
    ]


def test_snapshot_inputs_details(shared_data: Path) -> None:
    summary = inspect_log(shared_data / "twitch/irc_raw/chatterino_test_snapshot_inputs.irc")
    assert summary.notices == {
        "announcement": 5,
        "other": 8,
        "raid": 1,
        "resub": 6,
        "sub": 3,
        "subgift": 6,
    }
    assert summary.moderation == {"clear": 4, "delete": 2, "timeout": 4}
    assert summary.channels == ("pajlada", "robcdee")
    assert summary.lines == 110
    assert summary.events == 109  # the one NOTICE is not chat
    events = list(open_log(shared_data / "twitch/irc_raw/chatterino_test_snapshot_inputs.irc"))
    # the file gathers test inputs from 2017 to 2026 in no time order: they are read sorted
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    first = next(e for e in events if isinstance(e, ChatMessage) and e.text == "Kappa" and e.action)
    assert (first.action, first.text, first.role) == (True, "Kappa", Role.BROADCASTER)
    raid = next(e for e in events if isinstance(e, UserNotice) and e.kind == "raid")
    assert (raid.login, raid.viewers) == ("nerixyz", 2)
    assert raid.system_text == "2 raiders from nerixyz have joined!"


def test_rechat_channel_and_span(shared_data: Path) -> None:
    summary = inspect_log(shared_data / "twitch/rechat_json/rechat-158202424.json")
    assert summary.channels == ("northernlion",)
    assert summary.relative_time is False
    assert 600 < summary.span_seconds < 700  # a 650-second highlight


def test_tcd_summary_is_relative(shared_data: Path) -> None:
    summary = inspect_log(shared_data / "twitch/tcd_text/DKDiamantes_0650637968.txt")
    assert summary.relative_time is True
    assert summary.first_ts == 26.0
    text = format_summary(summary)
    assert "3036 messages from 166 users" in text
    assert "from 0:00:26 to" in text
    assert summary.to_dict()["messages"] == 3036


def test_copypasta_list_is_not_a_chat_log(shared_data: Path) -> None:
    path = shared_data / "twitch/spam_copypasta/sgdq2017_pasta_text_gamesdonequick.txt"
    with pytest.raises(ChatLogError, match="cannot tell the chat log format"):
        detect_format(path)
    log = open_log(path, format="lines")
    assert sum(1 for _ in log) == 4122
    assert log.stats.skipped == 0
