"""Speech to text on an OpenAI-compatible server, against a real one on loopback.

The server speaks `POST /v1/audio/transcriptions` as OpenAI documents it (multipart: `file`,
`model`, `response_format`, `language`, `prompt`; a bearer key) and transcribes with the bundled
Whisper tiny.en when it is installed, as faster-whisper-server does; the protocol tests answer
fixed transcripts instead, so they run without the model.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from cohost.adapters.transcription_server import ServerTranscriber, pcm_wav
from cohost.adapters.whisper import TranscriberUnavailable, WhisperTranscriber
from cohost.app.build import build_transcriber
from cohost.app.daemon import Daemon
from cohost.app.demo import demo_files
from cohost.app.settings import Settings, load_settings
from cohost.core.clock import RealClock
from cohost.core.errors import SettingsError
from cohost.core.ports import SAMPLE_RATE, Segment
from tests.app.test_listen import STREAMER, TWIN, Heard, require_whisper, speak
from tests.faults.test_local import WAIT_S, Feed, chat
from tests.faults.test_local import RecordingSink as ChatSent

KEY = "sk-listen-5a4b3c2d1e"


@dataclass(kw_only=True)
class TranscriptionServer:
    """`/v1/audio/transcriptions`: a fixed transcript, or Whisper's, or a fault."""

    url: str = ""
    mode: str = "fixed"  # fixed | whisper | fail | garbage | echo-key
    text: str = "hey twin bot, what game is next?"
    requests: list[dict[str, Any]] = field(default_factory=list)
    whisper: WhisperTranscriber | None = None

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return web.json_response({"error": {"message": "file is required"}}, status=400)
        audio = upload.file.read()
        fields = {k: str(v) for k, v in form.items() if k != "file"}
        self.requests.append(
            {"fields": fields, "headers": dict(request.headers), "name": upload.filename}
        )
        if self.mode == "fail":
            return web.json_response({"error": {"message": "model overloaded"}}, status=503)
        if self.mode == "echo-key":
            key = request.headers.get("Authorization", "")
            return web.Response(status=401, text=f"bad key {key}")
        if self.mode == "garbage":
            return web.Response(text="<html>gateway</html>", content_type="text/html")
        segments = await asyncio.to_thread(self._segments, audio, fields.get("prompt", ""))
        text = " ".join(s["text"] for s in segments)
        if fields.get("response_format") == "verbose_json":
            return web.json_response(
                {"task": "transcribe", "language": "english", "text": text, "segments": segments}
            )
        return web.json_response({"text": text})

    def _segments(self, audio: bytes, prompt: str) -> list[dict[str, Any]]:
        with wave.open(_bytes_io(audio), "rb") as wav:  # the upload must be a real WAV
            pcm = wav.readframes(wav.getnframes())
            seconds = wav.getnframes() / wav.getframerate()
        if self.mode == "whisper":
            assert self.whisper is not None
            heard = self.whisper.transcribe(pcm, hotwords=prompt)
            return [{"id": i, "start": s.start, "end": s.end, "text": s.text}
                    for i, s in enumerate(heard)]  # fmt: skip
        half = seconds / 2
        words = self.text.split()
        return [
            {"id": 0, "start": 0.0, "end": half, "text": " ".join(words[:3])},
            {"id": 1, "start": half, "end": seconds, "text": " ".join(words[3:])},
        ]


def _bytes_io(data: bytes) -> Any:
    import io  # noqa: PLC0415

    return io.BytesIO(data)


@pytest.fixture
async def server() -> AsyncIterator[TranscriptionServer]:
    state = TranscriptionServer()
    app = web.Application()
    app.router.add_post("/v1/audio/transcriptions", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/v1"
    yield state
    await runner.cleanup()


def tone(seconds: float) -> bytes:
    """16-bit PCM at SAMPLE_RATE: a square wave, loud enough to be speech to the cutter."""
    return b"".join(
        (6000 if (i // 40) % 2 else -6000).to_bytes(2, "little", signed=True)
        for i in range(int(seconds * SAMPLE_RATE))
    )


async def _transcribe(t: ServerTranscriber, audio: Path | bytes, **kw: Any) -> list[Segment]:
    return await asyncio.to_thread(lambda: list(t.transcribe(audio, **kw)))


async def test_an_utterance_is_uploaded_as_a_wav_and_its_segments_come_back(
    server: TranscriptionServer,
) -> None:
    t = ServerTranscriber(server.url, model="tiny.en", api_key=SecretStr(KEY))
    segments = await _transcribe(t, tone(2.0), hotwords=TWIN)
    assert [s.text for s in segments] == ["hey twin bot,", "what game is next?"]
    assert segments[0].start == 0.0 and segments[1].end == pytest.approx(2.0)
    [request] = server.requests
    assert request["fields"] == {
        "model": "tiny.en",
        "response_format": "verbose_json",
        "language": "en",
        "prompt": TWIN,
    }
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["name"].endswith(".wav")


async def test_json_gives_the_text_as_one_segment_over_the_audio(
    server: TranscriptionServer,
) -> None:
    t = ServerTranscriber(server.url + "/audio/transcriptions", response_format="json")
    [segment] = await _transcribe(t, tone(1.5), start_s=0.5)  # the first 0.5 s is skipped
    assert segment.text == server.text
    assert segment.start == 0.5 and segment.end == pytest.approx(1.5)
    [request] = server.requests
    assert request["fields"]["model"] == "whisper-1" and "prompt" not in request["fields"]
    assert "Authorization" not in request["headers"]


async def test_a_wav_file_resumes_from_its_start(
    server: TranscriptionServer, tmp_path: Path
) -> None:
    path = tmp_path / "vod.wav"
    path.write_bytes(pcm_wav(tone(4.0)))
    t = ServerTranscriber(server.url)
    segments = await _transcribe(t, path, start_s=1.0)
    # the server saw the last 3 s; its times are shifted back to the whole file's
    assert segments[0].start == pytest.approx(1.0) and segments[-1].end == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("fail", "answered 503: .*model overloaded"),
        ("garbage", "not JSON"),
        ("echo-key", "answered 401: bad key Bearer \\*\\*\\*"),
    ],
)
async def test_a_failing_server_is_a_transient_error_without_the_key(
    server: TranscriptionServer, mode: str, says: str
) -> None:
    server.mode = mode
    t = ServerTranscriber(server.url, api_key=SecretStr(KEY))
    with pytest.raises(TranscriberUnavailable, match=says) as caught:
        await _transcribe(t, tone(1.0))
    assert KEY not in str(caught.value)


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there now


async def test_a_dead_server_is_a_transient_error() -> None:
    with pytest.raises(TranscriberUnavailable, match=r"failed: .*refused"):
        await _transcribe(ServerTranscriber(_dead_url(), timeout_s=2.0), tone(1.0))


def test_the_settings_choose_the_server() -> None:
    settings = load_settings(listen={"url": "http://127.0.0.1:9/v1", "model": "small.en"})
    chosen = build_transcriber(settings)
    assert isinstance(chosen, ServerTranscriber)
    assert chosen.endpoint == "http://127.0.0.1:9/v1/audio/transcriptions"
    assert chosen.model == "small.en"
    assert isinstance(build_transcriber(load_settings()), WhisperTranscriber)
    with pytest.raises(SettingsError, match="COHOST_LISTEN__URL"):
        build_transcriber(load_settings(listen={"url": "127.0.0.1:9"}))


async def test_the_twin_answers_the_streamer_heard_through_a_transcription_server(
    server: TranscriptionServer, tmp_path: Path
) -> None:
    require_whisper()
    server.mode, server.whisper = "whisper", WhisperTranscriber()
    heard = Heard(tmp_path)
    wav = speak(f"Hey {TWIN}, what game is next?", tmp_path / "hey.wav")
    listener = await heard.hear(wav, ServerTranscriber(server.url, model="tiny.en"))
    assert listener.heard == 1 and len(server.requests) == 1
    [decision] = heard.decisions
    assert decision.picked and decision.message.spoken
    assert decision.message.text.lower().startswith(f"hey {TWIN}")
    assert server.requests[0]["fields"]["prompt"] == TWIN  # the name, to be spelled right


def _listening(tmp_path: Path, url: str, device: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        twin={"name": TWIN, "streamer": STREAMER, "writings": [str(demo_files() / "writing.md")]},
        picker={"min_gap_s": 0, "user_cooldown_s": 0, "replies_per_minute": 1000},
        web={"enabled": False},
        journal={"embedding_model": "hashing"},
        speech={"engine": "captions"},
        listen={"enabled": True, "device": str(device), "url": url, "timeout_s": 2.0},
    )


async def test_a_dead_server_degrades_the_daemon_and_chat_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a loud second of "speech" the microphone plays in real time, then quiet; nobody hears it
    device = tmp_path / "mic.wav"
    device.write_bytes(pcm_wav(tone(1.0) + bytes(SAMPLE_RATE * 2 * 8)))
    feed, sink = Feed(), ChatSent()
    daemon = Daemon(
        _listening(tmp_path, _dead_url(), device), source=feed, sink=sink, clock=RealClock()
    )
    assert daemon.listener is not None
    caplog.set_level(logging.WARNING, logger="cohost.pipeline.listen")
    running = asyncio.create_task(daemon.run())
    async with asyncio.timeout(WAIT_S):
        while not daemon.listener.failed:  # noqa: ASYNC110 (a counter, no event)
            await asyncio.sleep(0.02)
        health = daemon.health()
        errors = health["errors"]
        assert isinstance(errors, int) and errors >= 1  # the lost utterance, counted
        assert health["links"] == {"microphone": "up", "transcription": "down"}
        assert health["degraded"] is True
        await feed.queue.put(chat(f"{TWIN} how is gerald doing?", 1))
        await sink.changed.wait()
        daemon.stop()
        await running  # it ends as asked, not with the server's error
    assert sink.sent and daemon.metrics().errors >= 1
    assert "could not hear what the streamer said" in caplog.text
