"""`cohost run --console`: chat in from a pipe, replies out, health endpoint, orderly shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cohost.core.events import Role
from cohost.embedded.console import parse_console_line

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHOST_")}
    env.update(
        COHOST_DATA_DIR=str(tmp_path / "data"),
        COHOST_WEB__PORT="0",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def test_console_lines_carry_roles() -> None:
    m = parse_console_line("~moss: hello twin", ts=1.0, number=3, channel="c")
    assert m is not None
    assert (m.login, m.text, m.role, m.id) == ("moss", "hello twin", Role.BROADCASTER, "console:3")
    m = parse_console_line("@Bob: !twin pause", ts=1.0, number=4, channel="c")
    assert m is not None and m.role == Role.MODERATOR and m.login == "bob"
    m = parse_console_line("just talking: with a colon inside", ts=1.0, number=5, channel="c")
    assert m is not None and m.login == "viewer" and m.text == "just talking: with a colon inside"
    assert parse_console_line("   ", ts=1.0, number=6, channel="c") is None


def test_console_run_answers_and_exits_when_input_ends(tmp_path: Path) -> None:
    chat = "alice: hello mossbot, how is gerald doing?\nbob: nice\n"
    done = subprocess.run(
        [sys.executable, "-m", "cohost.cli.main", "run", "--console"],
        input=chat,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path),
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[mossbot] " in done.stdout
    traces = list((tmp_path / "data" / "traces").glob("*.jsonl"))
    assert len(traces) == 1
    turns = [json.loads(line) for line in traces[0].read_text().splitlines()]
    assert turns[0]["outcome"] == "answered"
    assert turns[0]["decision"]["message"]["login"] == "alice"
    # what the journal gave the turn is in there: the owner's alone, like the journal's files
    assert traces[0].stat().st_mode & 0o777 == 0o600


def test_sigterm_shuts_down_in_order(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "cohost.cli.main", "-v", "run", "--console"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
    ) as proc:
        _stop_with_sigterm(proc)
    traces = list((tmp_path / "data" / "traces").glob("*.jsonl"))
    assert traces and traces[0].read_text().strip(), "the turn's trace was flushed"


def _stop_with_sigterm(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stderr is not None and proc.stdin is not None
        url = ""
        deadline = time.monotonic() + 60
        while not url and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "health endpoint on " in line:
                url = line.rsplit("health endpoint on ", 1)[1].strip()
        assert url, "the daemon never said where its health endpoint is"
        proc.stdin.write("carol: mossbot, what is the best roguelike?\n")
        proc.stdin.flush()
        with urllib.request.urlopen(url, timeout=5) as response:
            health = json.loads(response.read())
        assert health["ok"] is True
        assert health["state"]["paused"] is False
        # wait until the message's turn has begun (or ended), then stop with input still open
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url, timeout=5) as response:
                health = json.loads(response.read())
            if health["busy"] or sum(health["turns"].values()) >= 1:
                break
            time.sleep(0.1)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        took = time.monotonic() - started
        print(f"SIGTERM to exit: {took:.2f} s")
        assert code == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("bad", ["COHOST_WEB__PORT=notaport", "COHOST_TURN__MODE=fastest"])
def test_bad_settings_exit_2_naming_the_field(tmp_path: Path, bad: str) -> None:
    name, value = bad.split("=")
    env = _env(tmp_path)
    env[name] = value
    done = subprocess.run(
        [sys.executable, "-m", "cohost.cli.main", "run", "--console"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2
    assert name in done.stderr and value in done.stderr
