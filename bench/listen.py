"""The streamer speaks to the twin: end of speech → transcript → first audio of the reply.

    python bench/listen.py [--quick] [--runs N]

espeak-ng speaks a few "hey twinbot, …?" questions into WAV files. Each is played through the
microphone path (a WAV-file microphone, as fast as it reads), cut into an utterance by the
listener, heard by the bundled Whisper tiny.en (faster-whisper, int8, 2 threads), and fed to a
session with the embedded twin (the Markov stand-in) whose voice is the project's default TTS,
espeak-ng into WAV files. The first sentence's audio is ready when its WAV is synthesised (the
speaker's caption event follows at once, before playback).

Figures, per utterance, p50 and p95 in ms:
- heard: from the utterance's cut (the silence after the last word, `silence_s`, has passed)
  to its transcript;
- reply first audio: from the transcript to the reply's first audio ready;
- end to first audio: from the end of the last word to the first audio: the two above plus the
  silence the listener waits for (a setting, 600 ms by default), which a live microphone adds.
The turn's own stages (from its trace) are printed too. The last line holds the key figures as
name=value pairs. A warm-up utterance (the model's first load) is left out.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from cohost.adapters.microphone import WavFileMicrophone
from cohost.adapters.speech import EspeakSpeaker
from cohost.adapters.whisper import WhisperTranscriber
from cohost.app.build import build_guard, build_models, turn_setup
from cohost.app.demo import demo_files
from cohost.app.settings import load_settings
from cohost.core.bus_events import CaptionShown
from cohost.core.clock import VirtualClock
from cohost.core.events import ChatMessage, TurnTrace
from cohost.core.serialise import read_bus_event
from cohost.core.state import TwinState
from cohost.embedded.bus import LocalBus
from cohost.pipeline.deliver import RecordingSink
from cohost.pipeline.listen import ListenOptions, ListenSource
from cohost.session import Session, SessionOptions

STREAMER = "mossbyte"
TWIN = "twinbot"
QUESTIONS = [
    f"Hey {TWIN}, what game is next?",
    f"Hey {TWIN}, how was your day?",
    f"Hey {TWIN}, should we play frog night again?",
    f"Hey {TWIN}, what did you have for dinner?",
    f"Hey {TWIN}, do you like the new overlay?",
    f"Hey {TWIN}, when do we take a break?",
    f"Hey {TWIN}, is the cat asleep?",
    f"Hey {TWIN}, which song should I play?",
]
LINES = [
    "the next game is frog night, we start it after the break",
    "my day was long but the bread came out great",
    "dinner was rye bread and soup, nothing fancy",
    "the overlay is new this week, I made it myself",
]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    at = (len(ordered) - 1) * q / 100
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


class Run:
    """One session hearing the questions, with a stamp at each point that is timed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.clock = VirtualClock(1000.0)
        self.transcriber = WhisperTranscriber()
        self.traces: list[TurnTrace] = []
        self.cut_at = self.heard_at = self.audio_at = 0.0
        self.text = ""

    def session(self) -> Session:
        """A fresh session: each question is the first the twin hears (no reply repeats one)."""
        settings = load_settings(
            data_dir=self.folder / "data",
            twin={
                "name": TWIN,
                "streamer": STREAMER,
                "writings": [str(demo_files() / "writing.md")],
            },
            simulator={"seed": 7},
        )
        bus = LocalBus()
        bus.subscribe(self._caption)
        speaker = EspeakSpeaker(
            self.clock, output="wav", wav_dir=self.folder / "voice", bus=bus, realtime=False
        )
        session = Session(
            SessionOptions(channel=STREAMER),
            control=settings.control,
            state=TwinState(),
            clock=self.clock,
            guard=build_guard(settings),
            sink=RecordingSink(),
            speaker=speaker,
            bus=bus,
            on_trace=self.traces.append,
        )
        session.start(
            turn_setup(settings, build_models(settings, streamer_lines=LINES), journal=None)
        )
        return session

    def _caption(self, topic: str, payload: dict[str, object]) -> None:
        if isinstance(read_bus_event(topic, payload), CaptionShown) and not self.audio_at:
            self.audio_at = time.perf_counter()

    def _heard(self, message: ChatMessage, seconds: float) -> None:
        self.heard_at = time.perf_counter()
        self.cut_at = self.heard_at - seconds
        self.text = message.text

    async def hear(self, wav: Path) -> tuple[float, float] | None:
        """(heard, reply first audio) in seconds for one question; None: no reply was said."""
        session = self.session()
        self.cut_at = self.heard_at = self.audio_at = 0.0
        self.clock.advance(60.0)  # a minute between questions
        listener = ListenSource(
            WavFileMicrophone(wav).__aiter__(),
            self.transcriber,
            streamer=STREAMER,
            channel=STREAMER,
            twin_names=[TWIN],
            clock=self.clock,
            options=ListenOptions(),
            on_heard=self._heard,
        )
        await session.chat_in(listener)
        if not self.heard_at or not self.audio_at:
            return None
        return self.heard_at - self.cut_at, self.audio_at - self.heard_at


def speak(text: str, path: Path) -> Path:
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, timeout=30)
    return path


async def bench(runs: int, folder: Path) -> None:
    wavs = [speak(q, folder / f"q{i}.wav") for i, q in enumerate(QUESTIONS)]
    run = Run(folder)
    started = time.perf_counter()
    await run.hear(wavs[0])  # warm-up: the speech model loads, and espeak-ng starts
    warm_s = time.perf_counter() - started
    run.traces.clear()
    heard: list[float] = []
    reply: list[float] = []
    unanswered = 0
    for i in range(runs):
        timed = await run.hear(wavs[i % len(wavs)])
        if timed is None:
            unanswered += 1
            print(f"  {i + 1:2d}: no reply said (heard {run.text!r})")
            continue
        heard.append(timed[0] * 1000)
        reply.append(timed[1] * 1000)
        print(f"  {i + 1:2d}: heard {heard[-1]:6.0f} ms, reply first audio {reply[-1]:6.0f} ms"
              f"  {run.text!r}")  # fmt: skip
    if not heard:
        sys.exit("the twin answered none of the questions")
    silence_ms = ListenOptions().silence_s * 1000
    total = [silence_ms + h + r for h, r in zip(heard, reply, strict=True)]
    stages: dict[str, list[float]] = defaultdict(list)
    for trace in run.traces:
        for stage in trace.stages:
            stages[stage.name].append(stage.seconds * 1000)
    print(f"\nwarm-up (model load + first utterance) {warm_s:.1f} s; {len(heard)} answered of "
          f"{runs}; Whisper tiny.en int8 on 2 threads, espeak-ng into WAV files")  # fmt: skip
    print(f"{'figure':34s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for name, values in (
        ("heard (cut → transcript)", heard),
        ("reply first audio (→ audio ready)", reply),
        (f"end to first audio (+{silence_ms:.0f} ms quiet)", total),
    ):
        print(f"{name:34s} {percentile(values, 50):8.0f} {percentile(values, 95):8.0f}")
    print("turn stages (from the traces):")
    for name, values in stages.items():
        print(f"  {name:32s} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f}")
    print(
        f"heard_p50_ms={percentile(heard, 50):.0f} heard_p95_ms={percentile(heard, 95):.0f} "
        f"reply_first_audio_p50_ms={percentile(reply, 50):.0f} "
        f"reply_first_audio_p95_ms={percentile(reply, 95):.0f} "
        f"end_to_first_audio_p50_ms={percentile(total, 50):.0f} "
        f"end_to_first_audio_p95_ms={percentile(total, 95):.0f} "
        f"answered={len(heard)} runs={runs} "
        f"mean_heard_ms={statistics.fmean(heard):.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 questions instead of 30")
    parser.add_argument("--runs", type=int, help="how many questions to time")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng)")
    runs = args.runs or (8 if args.quick else 30)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench(runs, Path(tmp)))


if __name__ == "__main__":
    main()
