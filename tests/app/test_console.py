"""`cohost run --console`: a ready line, a note under every line, and log lines kept out of chat."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from pathlib import Path

import pytest

from cohost.app.console import ConsoleNotes, quiet_terminal_logs
from cohost.app.daemon import run_daemon
from cohost.app.demo import demo_files
from cohost.app.settings import load_settings
from cohost.core.events import TurnTrace
from tests.fakes import message, picked


async def test_the_console_says_it_is_ready_and_notes_each_line(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        twin={
            "name": "mossbot",
            "streamer": "mossbyte",
            "writings": [str(demo_files() / "writing.md")],
        },
        picker={"min_gap_s": 0, "user_cooldown_s": 0, "replies_per_minute": 1000},
        web={"enabled": False},
        journal={"embedding_model": "hashing"},
    )
    typed = io.StringIO(
        "alice: mossbot how is gerald the sourdough starter doing?\n"
        "bob: lol\n"
        "~mossbyte: !twin pause please\n"
    )
    out = io.StringIO()
    async with asyncio.timeout(60):
        assert await run_daemon(settings, console=True, stdin=typed, stdout=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("cohost: ready, mossbot is listening (markov (embedded")
    assert any(line.startswith("Log lines go to ") for line in lines[:3])
    assert any("→ picked (" in line for line in lines)
    assert any("· skipped: " in line and "(" not in line.split(":", 1)[0] for line in lines)
    assert "[mossbot] paused" in lines  # the streamer's polite pause
    assert (settings.data_dir / "logs" / "console.log").exists()


def test_notes_say_why_a_turn_was_silent() -> None:
    out = io.StringIO()
    notes = ConsoleNotes("mossbot", stream=out)
    asked = message("mossbot, hi?")
    notes.decision(picked(asked))
    trace = TurnTrace(
        turn_id="t1",
        decision=picked(asked),
        started=1000.0,
        outcome="silent",
        reason="nothing new to say",
    )
    notes.trace(trace)
    said = out.getvalue().splitlines()
    assert said[0].lstrip().startswith("→ picked (2.0")
    assert said[1].strip() == "· no reply (silent): nothing new to say"


def test_info_lines_go_to_the_file_and_warnings_still_to_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    terminal = logging.StreamHandler(sys.stderr)
    root.addHandler(terminal)
    old_level = root.level
    root.setLevel(logging.INFO)
    log_file = tmp_path / "logs" / "console.log"
    try:
        with quiet_terminal_logs(log_file):
            logging.getLogger("cohost.test").info("index synced")
            logging.getLogger("cohost.test").warning("the voice failed")
        assert terminal.level == logging.NOTSET  # as it was
    finally:
        root.removeHandler(terminal)
        root.setLevel(old_level)
    err = capsys.readouterr().err
    assert "index synced" not in err
    assert "the voice failed" in err
    logged = log_file.read_text(encoding="utf-8")
    assert "index synced" in logged and "the voice failed" in logged
