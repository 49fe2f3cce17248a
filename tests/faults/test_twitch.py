"""Twitch faults the daemon must ride out, beyond what other tests already cover.

Covered elsewhere, not repeated here: the websocket dropped mid-run (tests/app/test_live.py
`test_a_dropped_websocket_reconnects_and_chat_goes_on`, and the adapter in
tests/adapters/test_twitch.py), a session_reconnect at the adapter (`test_session_reconnect_moves_
to_the_new_url`), a revoked token raising Permanent (test_live.py and test_twitch.py). Missing
were the reconnect message with the whole daemon, and what the streamer sees when the token is
revoked: `cohost run` exiting non-zero with one clear line, not a traceback.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cohost.app.demo import demo_files
from tests.app.test_live import WAIT_S, Live, _sent, _start, _stop
from tests.support.fake_twitch import FakeTwitch

REPO = Path(__file__).resolve().parent.parent.parent


pytestmark = pytest.mark.usefixtures("twitchio_urls_restored")


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with FakeTwitch() as fake:
        yield Live(fake, tmp_path / "data")


async def test_a_reconnect_message_moves_the_daemon_and_chat_goes_on(live: Live) -> None:
    task = await _start(live)
    try:
        await live.fake.push_chat(chatter=live.viewer, text="twinbot hello before the move?")
        await _sent(live, 1)
        await live.fake.send_reconnect()
        async with asyncio.timeout(WAIT_S):
            await live.fake.wait_for_sessions(2)
        await live.fake.push_chat(chatter=live.viewer, text="twinbot are you still with us?")
        await _sent(live, 2)
        assert not task.done()
    finally:
        await _stop(task)
    assert live.fake.sent[1].reply_parent_message_id is not None


def _env(live: Live) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHOST_")}
    twitch = {
        **live.fake.settings_overrides(),
        "channel": live.streamer.login,
        "broadcaster_id": live.streamer.user_id,
        "bot_login": live.bot.login,
        "bot_id": live.bot.user_id,
        "watch_interval_s": "0.2",
        "reconnect_min_s": "0.05",
        "reconnect_max_s": "0.2",
    }
    env.update({f"COHOST_TWITCH__{k.upper()}": str(v) for k, v in twitch.items()})
    env.update(
        COHOST_DATA_DIR=str(live.data_dir),
        COHOST_TWIN__NAME="twinbot",
        COHOST_TWIN__STREAMER=live.streamer.login,
        COHOST_TWIN__WRITINGS=f'["{demo_files() / "writing.md"}"]',
        COHOST_WEB__ENABLED="false",
        COHOST_JOURNAL__EMBEDDING_MODEL="hashing",
        PYTHONUNBUFFERED="1",
    )
    return env


async def test_a_revoked_token_ends_cohost_run_with_one_clear_line(live: Live) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cohost.cli.main",
        "run",
        env=_env(live),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):  # the first start imports a lot
            await live.fake.wait_for_subscriptions(1)
        await live.fake.revoke_token(live.bot)
        async with asyncio.timeout(WAIT_S):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr = err.decode()
    assert proc.returncode == 3, stderr  # EXIT_PERMANENT: systemd does not restart it
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("cohost: ") and "cohost auth" in last, last
    assert not any(s and s in stderr for s in (live.bot.token, live.bot.refresh))
