"""The OpenAI-style voice (`/v1/audio/speech`) against a real server on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from cohost.adapters.http_speech import OpenAiSpeaker, complete_wav_header, speech_endpoint
from cohost.adapters.speech import wav_info
from cohost.app.build import speaker_from_settings
from cohost.app.settings import Settings, load_settings
from cohost.core.clock import RealClock
from cohost.core.errors import SettingsError, SpeakerUnavailable
from cohost.core.events import SimLine
from cohost.core.options import GuardSettings, SpeechSettings
from cohost.embedded.bus import LocalBus
from cohost.pipeline.guard import Guard
from cohost.pipeline.turn import Turn, TurnOptions, TurnParts
from tests.adapters.test_http_speech import RATE, sine_wav
from tests.fakes import ScriptedRewriter, ScriptedSimulator, message, picked

KEY = "sk-local-0a1b2c3d4e5f"
VOICE = "streamer_clone"
WAIT_S = 30.0  # a guard against hanging, never a timing assertion


def streamed(wav: bytes) -> bytes:
    """The WAV as a streaming server sends it: its header cannot know the sizes yet."""
    fixed = bytearray(wav)
    struct.pack_into("<I", fixed, 4, 0xFFFFFFFF)
    struct.pack_into("<I", fixed, 40, 0xFFFFFFFF)  # the data chunk's size (a plain header)
    return bytes(fixed)


@dataclass(kw_only=True)
class SpeechServer:
    """An OpenAI-compatible speech endpoint: streams a tone as long as the input, or a fault."""

    url: str = ""
    mode: str = "ok"  # ok | fail | mp3
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "json": body})
        if self.mode == "fail":
            return web.json_response({"error": {"message": "voice not loaded"}}, status=500)
        if self.mode == "mp3":  # a server that ignores response_format
            return web.Response(body=b"ID3\x04\x00" + bytes(200), content_type="audio/mpeg")
        audio = streamed(sine_wav(0.05 * len(body["input"])))
        response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for at in range(0, len(audio), 4096):  # sent as it is made, in pieces
            await response.write(audio[at : at + 4096])
            await asyncio.sleep(0)
        await response.write_eof()
        return response


@pytest.fixture
async def server() -> AsyncIterator[SpeechServer]:
    speech = SpeechServer()
    app = web.Application()
    app.router.add_post("/v1/audio/speech", speech.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    speech.url = f"http://{host}:{port}/v1"
    yield speech
    await runner.cleanup()


def _speaker(url: str, tmp_path: Path, **kwargs: Any) -> OpenAiSpeaker:
    options: dict[str, Any] = {
        "url": url,
        "voice": VOICE,
        "model": "xtts-v2",
        "api_key": SecretStr(KEY),
        "wav_dir": tmp_path,
        "timeout_s": 5.0,
        "realtime": False,
    }
    return OpenAiSpeaker(RealClock(), **(options | kwargs))


def _dead_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


async def test_each_sentence_is_posted_and_its_streamed_wav_played(
    server: SpeechServer, tmp_path: Path
) -> None:
    bus = LocalBus()
    captions: list[dict[str, object]] = []
    bus.subscribe(lambda topic, payload: captions.append(payload) if topic == "caption" else None)
    async with _speaker(server.url, tmp_path, bus=bus) as speaker:
        await speaker.say("Hello chat.", turn_id="t1")
        await speaker.say("Thanks for the raid, everyone!", turn_id="t1")
    first, second = server.requests
    assert first["path"] == "/v1/audio/speech"
    assert first["json"] == {
        "model": "xtts-v2",
        "input": "Hello chat.",
        "voice": VOICE,
        "response_format": "wav",
    }
    assert first["headers"]["Authorization"] == f"Bearer {KEY}"
    assert second["json"]["input"] == "Thanks for the raid, everyone!"
    info = wav_info(tmp_path / "cohost-t1-2.wav")  # the header was completed: a whole WAV
    assert info.sample_rate == RATE
    assert info.seconds == pytest.approx(0.05 * len("Thanks for the raid, everyone!"), abs=0.001)
    assert [c["text"] for c in captions] == ["Hello chat.", "Thanks for the raid, everyone!"]
    seconds = float(captions[1]["end"]) - float(captions[1]["start"])  # type: ignore[arg-type]
    assert seconds == pytest.approx(info.seconds)
    assert all(u.finished for u in speaker.recent)


def test_a_streamed_header_gets_its_sizes_and_a_whole_wav_is_left_alone(tmp_path: Path) -> None:
    wav = sine_wav(0.2)
    assert complete_wav_header(wav) == wav
    assert complete_wav_header(streamed(wav)) == wav
    zero = bytearray(wav)
    struct.pack_into("<I", zero, 40, 0)
    assert complete_wav_header(bytes(zero)) == wav
    cut = streamed(wav)[:-100]  # the stream ended early: what came is what plays
    (tmp_path / "cut.wav").write_bytes(complete_wav_header(cut))
    assert wav_info(tmp_path / "cut.wav").frames == (len(cut) - 44) // 2
    assert complete_wav_header(b"<html>no</html>") == b"<html>no</html>"


def test_the_endpoint_follows_the_models_base_url() -> None:
    assert speech_endpoint("http://127.0.0.1:8880/v1") == "http://127.0.0.1:8880/v1/audio/speech"
    assert speech_endpoint("http://127.0.0.1:8880/v1/") == "http://127.0.0.1:8880/v1/audio/speech"
    assert speech_endpoint("http://127.0.0.1:8880") == "http://127.0.0.1:8880/v1/audio/speech"
    assert speech_endpoint("https://api.openai.com/v1") == "https://api.openai.com/v1/audio/speech"


async def test_a_failing_or_dead_server_is_a_speaker_error(
    server: SpeechServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.mode = "fail"
    async with _speaker(server.url, tmp_path) as speaker:
        with pytest.raises(SpeakerUnavailable, match=r"HTTP 500: .*voice not loaded"):
            await speaker.say("Hello chat.", turn_id="t")
    server.mode = "mp3"
    async with _speaker(server.url, tmp_path) as speaker:
        with pytest.raises(SpeakerUnavailable, match="205 bytes that are not a WAV file"):
            await speaker.say("Hello chat.", turn_id="t")
    async with _speaker(_dead_url(), tmp_path) as speaker:
        with pytest.raises(SpeakerUnavailable, match="ClientConnectorError") as caught:
            await speaker.say("Hello chat.", turn_id="t")
    assert KEY not in str(caught.value)
    assert KEY not in caplog.text


async def test_a_dead_voice_server_still_lets_the_reply_go_to_chat(tmp_path: Path) -> None:
    sent: list[str] = []

    class Sink:
        async def send(self, text: str, *, reply_to: str | None = None) -> bool:
            sent.append(text)
            return True

    own = "gerald the sourdough starter doubled overnight, and the whole kitchen smells like bread"
    reply = "Gerald doubled overnight. The kitchen smells like bread."
    async with _speaker(_dead_url(), tmp_path) as speaker:
        parts = TurnParts(
            simulator=ScriptedSimulator([SimLine(speaker="twinbot", text=own, is_twin=True)]),
            rewriter=ScriptedRewriter(reply),
            guard=Guard(GuardSettings()),
            clock=RealClock(),
            speaker=speaker,
            sink=Sink(),
        )
        turn = Turn(parts, TurnOptions(twin="twinbot"), picked(message("twinbot gerald?")), [])
        async with asyncio.timeout(WAIT_S):
            trace = await turn.run()
    assert trace.outcome == "answered"
    assert "speech failed" in trace.reason and "ClientConnectorError" in trace.reason
    assert sent == [reply] and trace.spoken == []


async def test_settings_choose_the_openai_voice(server: SpeechServer, tmp_path: Path) -> None:
    speech = SpeechSettings(
        engine="openai",
        openai_url=server.url,
        openai_voice=VOICE,
        openai_api_key=SecretStr(KEY),
    )
    speaker = speaker_from_settings(Settings(data_dir=tmp_path, speech=speech), RealClock())
    assert isinstance(speaker, OpenAiSpeaker)
    async with speaker:
        await speaker.synthesize("Hi.", tmp_path / "hi.wav")
    assert server.requests[0]["json"]["model"] == "tts-1"  # the default model name
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(speech)
    with pytest.raises(SettingsError, match="OPENAI_URL and COHOST_SPEECH__OPENAI_VOICE"):
        speaker_from_settings(
            Settings(data_dir=tmp_path, speech=SpeechSettings(engine="openai")), RealClock()
        )


def test_the_environment_names_the_openai_voice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout's
    monkeypatch.setenv("COHOST_SPEECH__ENGINE", "openai")
    monkeypatch.setenv("COHOST_SPEECH__OPENAI_URL", "http://127.0.0.1:8880/v1")
    monkeypatch.setenv("COHOST_SPEECH__OPENAI_VOICE", "af_bella")
    monkeypatch.setenv("COHOST_SPEECH__OPENAI_API_KEY", KEY)
    speech = load_settings().speech
    assert (speech.engine, speech.openai_voice) == ("openai", "af_bella")
    assert speech.openai_api_key is not None and KEY not in repr(speech)


def test_doctor_checks_the_openai_voice_without_calling_it(tmp_path: Path) -> None:
    from cohost.app.doctor import check_speech  # noqa: PLC0415

    url = _dead_url()  # never asked: a hosted server bills each request
    unset = check_speech(Settings(data_dir=tmp_path, speech=SpeechSettings(engine="openai")))
    assert unset.status == "fail" and "COHOST_SPEECH__OPENAI_VOICE" in unset.fix
    speech = SpeechSettings(engine="openai", openai_url=url, openai_voice=VOICE, output="wav")
    check = check_speech(Settings(data_dir=tmp_path, speech=speech))
    assert check.status == "ok" and VOICE in check.detail and "not probed" in check.detail
