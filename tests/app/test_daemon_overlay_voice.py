"""The running daemon gives the overlay its voice and serves the commands page (issue #19)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import wave
from pathlib import Path

import httpx

from cohost.app.daemon import run_daemon
from cohost.app.demo import demo_files
from cohost.app.settings import load_settings
from cohost.control.controller import USAGE
from tests.app.test_daemon_web import TOKEN, WAIT_S, _free_port, _until
from tests.support.audio import require_espeak


async def _first_spoken_caption(client: httpx.AsyncClient) -> dict[str, object]:
    """The first caption the overlay's stream carries with a clip."""
    async with client.stream("GET", "/events") as events:
        topic = ""
        async for line in events.aiter_lines():
            if line.startswith("event: "):
                topic = line.removeprefix("event: ")
            elif line.startswith("data: ") and topic == "caption":
                caption = json.loads(line.removeprefix("data: "))
                if caption.get("audio"):
                    return dict(caption)
    raise AssertionError("the overlay's stream ended without a caption")


async def test_the_overlay_hears_what_the_daemon_says(tmp_path: Path) -> None:
    require_espeak()
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
        speech={"engine": "espeak", "output": "wav", "wav_dir": str(tmp_path / "speech")},
        simulator={"seed": 7},
    )
    read_fd, write_fd = os.pipe()
    stdin = os.fdopen(read_fd, "r")
    writer = os.fdopen(write_fd, "w")
    with stdin, writer, (tmp_path / "out.txt").open("w") as stdout:
        daemon = asyncio.create_task(run_daemon(settings, console=True, stdin=stdin, stdout=stdout))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await _until(lambda h: h["ok"], client, "/healthz")
            # the commands page: public, every command of this daemon's controller
            page = await client.get("/commands")
            assert page.status_code == 200
            for name in USAGE:
                assert f'data-command="{name}"' in page.text, name
            listening = asyncio.create_task(_first_spoken_caption(client))
            await asyncio.sleep(0.2)  # the stream is open before anything is said
            writer.write("~mossbyte: !twin say Dash through them, never jump.\n")
            writer.flush()
            async with asyncio.timeout(WAIT_S):
                caption = await listening
            assert caption["text"] == "Dash through them, never jump."
            clip = await client.get(str(caption["audio"]))  # no token, as OBS fetches it
            assert clip.status_code == 200 and clip.headers["content-type"] == "audio/wav"
            with wave.open(io.BytesIO(clip.content)) as wav:
                seconds = wav.getnframes() / wav.getframerate()
            assert abs(seconds - float(caption["seconds"])) < 0.01  # type: ignore[arg-type]
            # the very file the voice wrote for that sentence
            written = sorted((tmp_path / "speech").glob("cohost-*.wav"))
            assert clip.content in [p.read_bytes() for p in written]
            writer.close()
            async with asyncio.timeout(WAIT_S):
                assert await daemon == 0
