"""The memory of who chatted before: first-time chatters on a live channel."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cohost.app.chatters import HEADER, WARMUP_S, Chatters, chatters_file
from cohost.core.clock import VirtualClock
from cohost.core.events import ChatMessage

START = 1_764_000_000.0


def _msg(login: str, user_id: str = "", *, first: bool = False) -> ChatMessage:
    return ChatMessage(
        id=f"m-{login}",
        channel="mossbyte",
        login=login,
        display_name=login,
        text="hi",
        ts=START,
        user_id=user_id,
        first_msg=first,
    )


def _flags(chatters: Chatters, *messages: ChatMessage) -> list[bool]:
    return [chatters.mark(m).first_msg for m in messages]


def test_the_first_stream_flags_no_one_and_the_next_flags_newcomers(tmp_path: Path) -> None:
    path = chatters_file(tmp_path, "MossByte")
    assert path == tmp_path / "chatters" / "mossbyte.txt"
    clock = VirtualClock(START)
    with Chatters(path, clock) as chatters:
        # everyone is new to a new memory: flagging all of chat would be noise
        assert _flags(chatters, _msg("ana", "1"), _msg("bo", "2"), _msg("ana", "1")) == [
            False,
            False,
            False,
        ]
        # Twitch's own flag (a user_intro) is kept
        assert _flags(chatters, _msg("cyra", "3", first=True)) == [True]
    assert path.read_text().splitlines() == [f"{HEADER}{START:.0f}", "1", "2", "3"]

    clock.advance(WARMUP_S)  # the next stream
    with Chatters(path, clock) as chatters:
        assert len(chatters) == 3
        assert _flags(
            chatters,
            _msg("ana_renamed", "1"),  # by user id: a new name is not a new chatter
            _msg("dee", "4"),  # new to the channel
            _msg("dee", "4"),  # only once
            _msg("console_user"),  # no user id: by login
            _msg("console_user"),
        ) == [False, True, False, True, False]
    assert path.read_text().splitlines()[-2:] == ["4", "console_user"]


def test_a_full_memory_stops_flagging_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.txt"
    path.write_text(f"{HEADER}0\n1\n")
    with Chatters(path, VirtualClock(START), limit=2) as chatters:
        assert _flags(chatters, _msg("b", "2"), _msg("c", "3"), _msg("d", "4")) == [
            True,
            False,
            False,
        ]
    assert path.read_text().splitlines() == [f"{HEADER}0", "1", "2"]
    full = [r for r in caplog.records if "its limit" in r.getMessage()]
    assert len(full) == 1


def test_an_unreadable_start_counts_from_now(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.txt"
    path.write_text(f"{HEADER}yesterday\n1\n\n# a comment\n")
    with caplog.at_level(logging.WARNING), Chatters(path, VirtualClock(START)) as chatters:
        assert len(chatters) == 1
        assert not chatters.flagging
    assert any(f"{path}:1: unreadable start time" in r.getMessage() for r in caplog.records)
