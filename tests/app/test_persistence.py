"""The twin's live state kept on disk: the ignore list always, the switches after a crash."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from cohost.app.daemon import Daemon
from cohost.app.persistence import RESTORE_SWITCHES_S, restore_state, save_state
from cohost.app.settings import Settings
from cohost.app.traces import TraceWriter
from cohost.core.clock import RealClock
from cohost.core.state import TwinState
from tests.faults.test_local import (
    WAIT_S,
    Feed,
    RecordingSink,
    _daemon,
    _run,
    _settings,
    streamer,
)

NOW = 1_764_000_000.0


def _steered() -> TwinState:
    return TwinState(
        paused=True, voice=False, chat=True, hold=True, topic="speedrun", ignored={"troll"},
        rate_per_minute=3,
    )  # fmt: skip


def test_a_restart_soon_after_keeps_every_switch(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(_steered(), path, now=NOW)
    state = TwinState()
    restored = restore_state(state, path, now=NOW + RESTORE_SWITCHES_S - 1)
    assert state == _steered()
    assert "paused" in restored and "ignoring 1" in restored
    assert not list(tmp_path.glob(".*.partial"))  # written whole, then moved into place


def test_the_next_stream_keeps_only_whom_the_twin_ignores(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(_steered(), path, now=NOW)
    state = TwinState(topic="from the settings")
    assert restore_state(state, path, now=NOW + RESTORE_SWITCHES_S + 1) == ["ignoring 1"]
    assert state == TwinState(topic="from the settings", ignored={"troll"})


def test_no_file_is_a_first_run_and_a_bad_one_is_named(tmp_path: Path) -> None:
    state = TwinState()
    assert restore_state(state, tmp_path / "state.json", now=NOW) == []
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=f"{bad}: unreadable saved state"):
        restore_state(state, bad, now=NOW)
    bad.write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="not a saved state of this version"):
        restore_state(state, bad, now=NOW)
    assert state == TwinState()


async def test_a_restarted_daemon_comes_back_as_the_moderators_left_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path / "data")
    sink = RecordingSink()
    commands = ("!twin ignore troll", "!twin pause", "!twin status")
    await _run(_daemon(settings, sink), [streamer(c, n) for n, c in enumerate(commands, 1)], sink)
    caplog.set_level(logging.WARNING)
    again = _daemon(settings, RecordingSink())  # a crash and a restart: the same data dir
    assert again.state.paused and again.state.ignored == {"troll"}
    # /healthz needs no token: how many are ignored, never who
    health = again.health()
    assert health["state"]["ignored"] == 1 and "troll" not in json.dumps(health)
    assert "restored from" in caplog.text and ": ignoring 1, paused" in caplog.text


def test_an_unreadable_state_is_kept_aside_and_the_daemon_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "state.json").write_text("{half a file")
    daemon = _daemon(settings, RecordingSink())
    assert daemon.state == TwinState(hold=settings.turn.hold)
    [aside] = settings.data_dir.glob("state.json.unreadable-*")
    assert aside.read_text() == "{half a file"
    assert "starting from the settings" in caplog.text


def test_a_switch_the_settings_changed_since_is_theirs_again(tmp_path: Path) -> None:
    # a moderator turned hold off; the streamer then set COHOST_TURN__HOLD=true and restarted
    path = tmp_path / "state.json"
    save_state(
        TwinState(hold=False, topic="speedrun"),
        path,
        now=NOW,
        defaults=TwinState(hold=False, topic="speedrun"),
    )
    state = TwinState(hold=True, topic="cozy games")  # what the settings now say
    restore_state(state, path, now=NOW + 60)
    assert state.hold is True and state.topic == "cozy games"
    # unchanged settings: the moderators' hold off stands after a crash
    save_state(TwinState(hold=False), path, now=NOW, defaults=TwinState(hold=True))
    state = TwinState(hold=True)
    assert restore_state(state, path, now=NOW + 60) == ["hold off"]
    assert state.hold is False


def test_a_hand_edited_ignore_list_that_is_not_a_list_is_named(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    for bad in (None, "troll", [1, 2]):
        path.write_text(json.dumps({"version": 1, "saved_at": NOW, "ignored": bad}))
        with pytest.raises(ValueError, match="'ignored' must be a list of logins"):
            restore_state(TwinState(), path, now=NOW)


class _LaterClock(RealClock):
    """Real time plus an offset the test moves on (now and monotonic alike)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return super().now() + self.offset

    def monotonic(self) -> float:
        return super().monotonic() + self.offset


async def _run_once(
    settings: Settings, clock: _LaterClock, up_s: float, command: str = "!twin pause"
) -> None:
    """A daemon that takes one command, stays up `up_s` (on its clock), and stops cleanly."""
    sink = RecordingSink()
    daemon = Daemon(settings, source=Feed(), sink=sink, clock=clock)
    source = daemon.source
    assert isinstance(source, Feed)
    task = asyncio.create_task(daemon.run(until_source_ends=True))
    await source.queue.put(streamer(command, 1))
    await sink.wait_for(1)
    clock.offset += up_s
    await source.queue.put(None)
    async with asyncio.timeout(WAIT_S):
        await task


async def test_the_daemon_marks_when_it_was_last_up(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data")
    path = settings.data_dir / "state.json"
    clock = _LaterClock()
    # up ten minutes, then a clean stop: the file says when it went down
    await _run_once(settings, clock, up_s=600)
    saved = json.loads(path.read_text())
    assert saved["paused"] is True
    assert abs(saved["saved_at"] - clock.now()) < 60
    # the next stream, hours later: only the ignore list comes back
    later = TwinState()
    restore_state(later, path, now=saved["saved_at"] + 3 * 3600)
    assert later.paused is False
    # a run that ends within its first minute (a restart loop) does not count as up
    before = saved["saved_at"]
    clock.offset += 3600
    await _run_once(settings, clock, up_s=5, command="!twin status")  # changes nothing
    assert json.loads(path.read_text())["saved_at"] == before


def test_a_trace_file_from_before_becomes_the_owners_alone(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "2026-12-01.jsonl"
    path.parent.mkdir()
    path.write_text("")
    path.chmod(0o644)  # as an older cohost left it
    with TraceWriter(path):
        pass
    assert path.stat().st_mode & 0o777 == 0o600
