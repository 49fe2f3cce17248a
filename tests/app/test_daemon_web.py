"""The daemon's own web app: health, metrics, the dashboard's controls change the daemon's state."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import httpx
import pytest

from cohost.app.daemon import run_daemon
from cohost.app.demo import demo_files
from cohost.app.settings import load_settings
from cohost.core.errors import SettingsError

TOKEN = "a-long-random-test-token-0123456789"
WAIT_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until(predicate: object, client: httpx.AsyncClient, path: str) -> dict[str, object]:
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                response = await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
                if response.status_code == 200 and predicate(response.json()):  # type: ignore[operator]
                    return dict(response.json())
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.05)


async def test_dashboard_controls_the_running_daemon(tmp_path: Path) -> None:
    port = _free_port()
    settings = load_settings(
        data_dir=tmp_path / "data",
        web={"port": port, "token": TOKEN},
        twin={
            "name": "mossbot",
            "streamer": "mossbyte",
            "writings": [str(demo_files() / "writing.md")],
        },
        journal={"embedding_model": "hashing"},
    )
    read_fd, write_fd = os.pipe()
    stdin = os.fdopen(read_fd, "r")
    writer = os.fdopen(write_fd, "w")
    out = tmp_path / "out.txt"
    with stdin, writer, out.open("w") as stdout:
        daemon = asyncio.create_task(run_daemon(settings, console=True, stdin=stdin, stdout=stdout))
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as client:
            await _until(lambda h: h["ok"], client, "/healthz")
            writer.write("alice: mossbot how is gerald doing?\n")
            writer.flush()
            health = await _until(lambda h: h["turns"], client, "/healthz")
            assert health["embedded"] and "markov (embedded" in str(health["models"])

            refused = await client.post("/api/command", json={"command": "pause"})
            assert refused.status_code == 401
            paused = await client.post(
                "/api/command",
                json={"command": "pause"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert paused.status_code == 200, paused.text
            state = await _until(lambda s: s["state"]["paused"], client, "/api/state")
            assert state["state"] == {**state["state"], "paused": True, "voice": True}

            turns = await client.get("/api/turns", headers={"Authorization": f"Bearer {TOKEN}"})
            turn = turns.json()[0]
            assert turn["message"]["login"] == "alice" and turn["outcome"] == "answered"
            metrics = (await client.get("/metrics")).text
            assert "cohost_turns_total" in metrics and "cohost_stage_seconds_bucket" in metrics
        writer.close()  # end of input: the console daemon finishes and exits
        async with asyncio.timeout(WAIT_S):
            assert await daemon == 0
    audit = (tmp_path / "data" / "audit" / "commands.jsonl").read_text()
    assert '"source": "dashboard"' in audit
    assert "[mossbot]" in out.read_text()


async def test_a_port_in_use_is_a_settings_error_that_says_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        settings = load_settings(
            data_dir=tmp_path / "data",
            web={"port": port, "token": TOKEN},
            journal={"embedding_model": "hashing"},
        )
        read_fd, write_fd = os.pipe()
        with (
            os.fdopen(read_fd, "r") as stdin,
            os.fdopen(write_fd, "w"),
            (tmp_path / "out.txt").open("w") as stdout,
            pytest.raises(SettingsError) as caught,
        ):
            await run_daemon(settings, console=True, stdin=stdin, stdout=stdout)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "COHOST_WEB__PORT" in str(caught.value)
