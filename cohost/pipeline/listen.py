"""The streamer's voice as chat: microphone frames → utterances → transcripts → the
broadcaster's lines, marked as spoken.

What it decides:
- Utterances are cut by loudness: a 30 ms frame above `threshold` (RMS, 0-1) is speech; after
  speech, `silence_s` of quiet ends the utterance; one is cut at `max_utterance_s` however
  long the streamer talks. The transcriber's own VAD then skips what is not speech in it.
- "hey <twin>" is matched loosely: speech to text misspells names ("Mossot" for "mossbot"), so
  a word close enough to a twin name near the start is written as that name, and the picker
  sees the streamer address the twin. The names are passed to the model as hotwords too.
- The twin never answers its own voice. While it speaks (`speaking`: a caption's time, from
  `TwinVoice`, and `echo_tail_s` after it) the microphone is not listened to: its frames are
  dropped, and what the streamer said before the twin began is heard at once. And a line close
  to what the twin just said (`said`, its captions) is its echo through the microphone (a late
  sound card, a delay in the stream), and dropped too.
- A transcriber that fails on an utterance (a Transient error) loses that utterance only: it is
  logged and counted, and the microphone goes on. A microphone that fails ends `events()` with
  its error; calling `events()` again opens it anew (the daemon retries with a backoff).
"""

from __future__ import annotations

import array
import asyncio
import difflib
import logging
import math
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass

from cohost.core.bus_events import CaptionCut, CaptionShown
from cohost.core.errors import Transient
from cohost.core.events import ChatMessage, Role
from cohost.core.ports import SAMPLE_RATE, Clock, Transcriber
from cohost.core.serialise import read_bus_event

log = logging.getLogger(__name__)

FRAME_S = 0.03  # one frame of microphone audio
HEARD_STAGE = "heard"  # a turn's trace: from the end of the streamer's speech to its transcript
GREETINGS = frozenset({"hey", "hi", "hello", "ok", "okay", "yo", "oi", "so", "and"})
NAME_SIMILARITY = 0.6  # how close a heard word must be to a twin name to be taken for it
_WORD = re.compile(r"[\w']+")


def fold(text: str) -> str:
    """Case folded: what a heard word is compared as."""
    return text.casefold()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenOptions:
    """How utterances are cut and heard (from `ListenSettings`)."""

    threshold: float = 0.01
    silence_s: float = 0.6
    max_utterance_s: float = 20.0
    echo_similarity: float = 0.75
    mute_while_speaking: bool = True  # drop the microphone's audio while the twin speaks


def rms(frame: bytes) -> float:
    """The loudness of 16-bit PCM, 0-1."""
    samples = array.array("h", frame[: len(frame) // 2 * 2])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768.0


class UtteranceCutter:
    """Frames in, whole utterances out (PCM bytes); pure, frame-clocked."""

    def __init__(self, options: ListenOptions) -> None:
        self.options = options
        self._speech = bytearray()
        self._quiet_s = 0.0
        self._spoken_s = 0.0

    def push(self, frame: bytes) -> bytes | None:
        """One frame; the utterance it ends, if any."""
        frame_s = len(frame) / 2 / SAMPLE_RATE
        loud = rms(frame) >= self.options.threshold
        if not self._speech and not loud:
            return None  # quiet before anyone speaks
        self._speech += frame
        self._spoken_s += frame_s
        self._quiet_s = 0.0 if loud else self._quiet_s + frame_s
        if (
            self._quiet_s >= self.options.silence_s
            or self._spoken_s >= self.options.max_utterance_s
        ):
            return self.flush()
        return None

    def flush(self) -> bytes | None:
        """What was heard so far, as an utterance (the microphone closed)."""
        speech = bytes(self._speech)
        self._speech.clear()
        self._quiet_s = self._spoken_s = 0.0
        return speech or None


def address_twin(text: str, names: Sequence[str]) -> str:
    """The line with a misheard twin name near its start written as the name.

    "Hey Mossot, what's next?" with names ["mossbot"] → "Hey mossbot, what's next?". Only the
    first word after a greeting (or the very first word) is looked at: a name later in a
    sentence is talk about the twin, which the picker weighs as it does in chat.
    """
    wanted = [(n, fold(n)) for n in names if n]
    if not wanted:
        return text
    words = list(_WORD.finditer(text))[:3]
    for i, match in enumerate(words):
        word = fold(match.group())
        if i + 1 < len(words) and word in GREETINGS:
            continue
        # one word heard as two ("twin bot"): the two together, when that comes closer
        tries = [(match.start(), match.end(), word)]
        if i + 1 < len(words):
            after = words[i + 1]
            tries.append((match.start(), after.end(), word + fold(after.group())))
        scored = [
            (difflib.SequenceMatcher(None, heard, folded).ratio(), start, end, name)
            for start, end, heard in tries
            for name, folded in wanted
        ]
        close, start, end, name = max(scored)
        if close >= NAME_SIMILARITY:
            return text[:start] + name + text[end:]
        return text
    return text


def is_echo(text: str, said: Iterable[str], similarity: float) -> bool:
    """Whether a heard line is the twin's own voice: close to something it just said."""
    heard = " ".join(_WORD.findall(fold(text)))
    if not heard:
        return False
    lines = list(said)
    # a reply is spoken (and captioned) sentence by sentence; the microphone hears it whole
    for line in [*lines, " ".join(lines)]:
        own = " ".join(_WORD.findall(fold(line)))
        if own and (
            heard in own or difflib.SequenceMatcher(None, heard, own).ratio() >= similarity
        ):
            return True
    return False


class TwinVoice:
    """When the twin speaks, and what it said, from the captions on the bus (a bus handler).

    Every voice (espeak-ng, piper, a TTS server) shows a caption as each sentence starts playing,
    from `start` to `end` on the clock; a cut (`!twin skip`, voice off) ends it early. Captions
    alone (no TTS) count as speech too: a streamer may have them read out.
    """

    def __init__(self, clock: Clock, *, tail_s: float = 0.3, keep: int = 10) -> None:
        """tail_s: the voice is taken to go on this long after a caption's end (the room's
        echo, the sound card's buffer). keep: how many of the latest sentences `said` gives."""
        self.clock = clock
        self.tail_s = tail_s
        self._said: deque[str] = deque(maxlen=keep)
        self._playing: list[tuple[str, float, float]] = []  # (turn, start, end) per sentence

    def on_event(self, topic: str, payload: dict[str, object]) -> None:
        """A bus handler: captions shown and cut."""
        if topic not in (CaptionShown.TOPIC, CaptionCut.TOPIC):
            return
        event = read_bus_event(topic, payload)
        if isinstance(event, CaptionShown):
            self._said.append(event.text)
            self._playing = [p for p in self._playing if p[2] + self.tail_s >= event.start]
            self._playing.append((event.turn_id, event.start, event.end))
        elif isinstance(event, CaptionCut):
            self._playing = [
                (turn, start, min(end, event.at) if turn == event.turn_id else end)
                for turn, start, end in self._playing
            ]

    def said(self) -> list[str]:
        """The twin's latest sentences, oldest first."""
        return list(self._said)

    def speaking(self) -> bool:
        """Whether the twin's voice plays now (or its echo may still be heard)."""
        now = self.clock.now()
        return any(start <= now <= end + self.tail_s for _, start, end in self._playing)


def _never() -> bool:
    return False


class ListenSource:
    """The streamer's microphone as a `ChatSource` of spoken broadcaster lines.

    `frames` is the microphone (16 kHz mono 16-bit PCM, any frame size), opened at each
    `events()`; `said` gives what the twin said lately (its captions), whose echo is ignored;
    `speaking` says whether the twin's voice plays now (`TwinVoice.speaking`): the microphone is
    not listened to meanwhile, unless `options.mute_while_speaking` is off.
    `on_heard` is told each line with the seconds from the end of the utterance to its
    transcript (for traces and /metrics).
    """

    def __init__(
        self,
        frames: AsyncIterable[bytes],
        transcriber: Transcriber,
        *,
        streamer: str,
        channel: str,
        twin_names: Sequence[str],
        clock: Clock,
        options: ListenOptions | None = None,
        said: Callable[[], Iterable[str]] = tuple,
        speaking: Callable[[], bool] = _never,
        on_heard: Callable[[ChatMessage, float], None] | None = None,
    ) -> None:
        self.frames = frames
        self.transcriber = transcriber
        self.streamer = streamer.lower()
        self.channel = channel
        self.twin_names = [n for n in twin_names if n]
        self.clock = clock
        self.options = options or ListenOptions()
        self.said = said
        self.speaking = speaking
        self.on_heard = on_heard
        self.heard = 0
        self.echoes = 0  # lines dropped as the twin's own voice
        self.failed = 0  # utterances the transcriber failed on
        self.muted_s = 0.0  # microphone audio not listened to: the twin was speaking
        self.transcribing = True  # the last utterance was transcribed (False: the model failed)
        self.live = False  # the microphone gives audio now

    async def events(self) -> AsyncGenerator[ChatMessage, None]:
        cutter = UtteranceCutter(self.options)
        frames = aiter(self.frames)
        try:
            async for frame in frames:
                self.live = True
                if self.options.mute_while_speaking and self.speaking():
                    self.muted_s += len(frame) / 2 / SAMPLE_RATE
                    # what the streamer said before the twin began is theirs alone: heard now
                    utterance = cutter.flush()
                    if utterance is not None and (line := await self._hear(utterance)):
                        yield line
                    continue
                utterance = cutter.push(frame)
                if utterance is not None and (line := await self._hear(utterance)) is not None:
                    yield line
            last = cutter.flush()
            if last is not None and (line := await self._hear(last)) is not None:
                yield line
        finally:
            self.live = False
            close = getattr(frames, "aclose", None)
            if close is not None:
                await close()

    async def _hear(self, pcm: bytes) -> ChatMessage | None:
        ended = time.perf_counter()
        hotwords = " ".join(self.twin_names)

        def transcribe() -> str:
            segments = self.transcriber.transcribe(pcm, hotwords=hotwords)
            return " ".join(s.text for s in segments).strip()

        try:
            text = await asyncio.to_thread(transcribe)
        except Transient as exc:
            self.failed += 1
            self.transcribing = False
            log.warning("could not hear what the streamer said: %s", exc)
            return None
        took = time.perf_counter() - ended
        self.transcribing = True
        if not text:
            return None
        if is_echo(text, self.said(), self.options.echo_similarity):
            self.echoes += 1
            log.info("heard the twin's own voice, ignored: %r", text)
            return None
        self.heard += 1
        message = ChatMessage(
            id=f"spoken:{self.heard}:{int(self.clock.now() * 1000)}",
            channel=self.channel,
            login=self.streamer,
            display_name=self.streamer,
            text=address_twin(text, self.twin_names),
            ts=self.clock.now(),
            roles=frozenset({Role.BROADCASTER}),
            spoken=True,
        )
        log.info("heard the streamer in %.2f s: %r", took, message.text)
        if self.on_heard is not None:
            self.on_heard(message, took)
        return message
