"""The HTTP speaker against a real TTS server on loopback: WAV replies, failures, a secret key."""

from __future__ import annotations

import asyncio
import io
import logging
import math
import socket
import struct
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from cohost.adapters.http_speech import HttpSpeaker
from cohost.adapters.speech import wav_info
from cohost.app.build import speaker_from_settings
from cohost.app.settings import Settings
from cohost.core.clock import RealClock
from cohost.core.errors import SettingsError, SpeakerUnavailable
from cohost.core.options import SpeechSettings
from cohost.embedded.bus import LocalBus

KEY = "sk-test-9f8e7d6c5b4a"
VOICE = "streamer clone/1"
RATE = 16000


def sine_wav(seconds: float, rate: int = RATE) -> bytes:
    """A 440 Hz tone as 16-bit mono WAV bytes."""
    frames = int(seconds * rate)
    samples = (int(12000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


@dataclass(kw_only=True)
class TtsServer:
    """An ElevenLabs-style TTS server: answers a tone as long as the text, or a chosen fault."""

    url: str = ""
    mode: str = "ok"  # ok | fail | hang | garbage | echo-key
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(
            {
                "path": request.path,
                "voice_id": request.match_info["voice_id"],
                "headers": dict(request.headers),
                "query": dict(request.query),
                "json": body,
            }
        )
        if self.mode == "fail":
            return web.Response(status=500, text="model overloaded")
        if self.mode == "echo-key":
            key = request.headers.get("xi-api-key", "")
            return web.Response(status=401, text=f"invalid api key {key}")
        if self.mode == "hang":
            await self.release.wait()
        if self.mode == "garbage":
            return web.Response(body=b"<html>not audio</html>", content_type="audio/wav")
        return web.Response(body=sine_wav(0.05 * len(body["text"])), content_type="audio/wav")


@pytest.fixture
async def server() -> AsyncIterator[TtsServer]:
    tts = TtsServer()
    app = web.Application()
    app.router.add_post("/v1/text-to-speech/{voice_id}", tts.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    tts.url = f"http://{host}:{port}"
    yield tts
    tts.release.set()
    await runner.cleanup()


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _speaker(server: TtsServer, tmp_path: Path, **kwargs: Any) -> HttpSpeaker:
    options: dict[str, Any] = {
        "url": server.url,
        "voice_id": VOICE,
        "api_key": SecretStr(KEY),
        "wav_dir": tmp_path,
        "timeout_s": 5.0,
        "realtime": False,
    }
    return HttpSpeaker(RealClock(), **(options | kwargs))


async def test_say_posts_the_sentence_and_writes_the_wav(server: TtsServer, tmp_path: Path) -> None:
    bus = LocalBus()
    captions: list[dict[str, object]] = []
    bus.subscribe(lambda topic, payload: captions.append(payload) if topic == "caption" else None)
    async with _speaker(server, tmp_path, bus=bus) as speaker:
        await speaker.say("Hello chat.", turn_id="t1")
        await speaker.say("Thanks for the raid, everyone!", turn_id="t1")
    (first, second) = server.requests
    assert first["voice_id"] == VOICE
    assert first["path"] == "/v1/text-to-speech/streamer clone/1"
    assert first["json"] == {"text": "Hello chat.", "voice_id": VOICE}
    assert first["headers"]["xi-api-key"] == KEY
    assert first["headers"]["Accept"] == "audio/wav"
    assert second["json"]["text"] == "Thanks for the raid, everyone!"
    info = wav_info(tmp_path / "cohost-t1-2.wav")
    assert info.sample_rate == RATE
    assert info.seconds == pytest.approx(0.05 * len("Thanks for the raid, everyone!"), abs=0.001)
    assert wav_info(tmp_path / "cohost-t1-1.wav").frames < info.frames
    assert [c["text"] for c in captions] == ["Hello chat.", "Thanks for the raid, everyone!"]
    assert all(u.finished for u in speaker.recent)


async def test_the_path_key_header_and_query_are_configurable(
    server: TtsServer, tmp_path: Path
) -> None:
    speaker = _speaker(
        server,
        tmp_path,
        key_header="Authorization",
        params={"output_format": "wav_16000"},
        api_key=SecretStr("Bearer abc"),
    )
    await speaker.synthesize("Hi.", tmp_path / "hi.wav")
    await speaker.aclose()
    (request,) = server.requests
    assert request["headers"]["Authorization"] == "Bearer abc"
    assert "xi-api-key" not in request["headers"]
    assert request["query"] == {"output_format": "wav_16000"}


async def test_a_server_error_is_a_speaker_error(
    server: TtsServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.mode = "fail"
    caplog.set_level(logging.DEBUG)
    async with _speaker(server, tmp_path) as speaker:
        with pytest.raises(SpeakerUnavailable, match="HTTP 500: model overloaded") as caught:
            await speaker.say("Hello chat.", turn_id="t")
    assert KEY not in str(caught.value)
    assert KEY not in caplog.text


async def test_a_key_echoed_by_the_server_is_masked(
    server: TtsServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.mode = "echo-key"
    caplog.set_level(logging.DEBUG)
    async with _speaker(server, tmp_path) as speaker:
        with pytest.raises(SpeakerUnavailable, match=r"HTTP 401: invalid api key \*\*\*") as caught:
            await speaker.say("Hello chat.", turn_id="t")
    assert KEY not in str(caught.value)
    assert KEY not in caplog.text


async def test_a_hanging_server_times_out(server: TtsServer, tmp_path: Path) -> None:
    server.mode = "hang"
    async with _speaker(server, tmp_path, timeout_s=0.3) as speaker:
        with pytest.raises(SpeakerUnavailable, match=r"no audio within 0\.3 s"):
            await speaker.say("Hello chat.", turn_id="t")
    assert len(server.requests) == 1


async def test_a_reply_that_is_not_a_wav_is_refused(server: TtsServer, tmp_path: Path) -> None:
    server.mode = "garbage"
    async with _speaker(server, tmp_path) as speaker:
        with pytest.raises(SpeakerUnavailable, match="22 bytes that are not a WAV file"):
            await speaker.say("Hello chat.", turn_id="t")
    assert _names(tmp_path) == []


async def test_a_refused_connection_is_a_speaker_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caplog.set_level(logging.DEBUG)
    speaker = _speaker(TtsServer(url=f"http://127.0.0.1:{port}"), tmp_path)
    with pytest.raises(SpeakerUnavailable, match="ClientConnectorError") as caught:
        await speaker.say("Hello chat.", turn_id="t")
    await speaker.aclose()
    assert KEY not in str(caught.value)
    assert KEY not in caplog.text


async def test_settings_build_an_http_speaker(server: TtsServer, tmp_path: Path) -> None:
    speech = SpeechSettings(
        engine="http", http_url=server.url, http_voice_id=VOICE, http_api_key=SecretStr(KEY)
    )
    speaker = speaker_from_settings(Settings(data_dir=tmp_path, speech=speech), RealClock())
    assert isinstance(speaker, HttpSpeaker)
    async with speaker:
        await speaker.synthesize("Hi.", tmp_path / "hi.wav")
    assert server.requests[0]["headers"]["xi-api-key"] == KEY
    assert KEY not in repr(speech)
    with pytest.raises(SettingsError, match="HTTP_URL"):
        speaker_from_settings(
            Settings(data_dir=tmp_path, speech=SpeechSettings(engine="http")), RealClock()
        )
