"""The streamer's voice as chat: microphone frames → utterances → transcripts → the
broadcaster's lines, marked as spoken.

What it decides:
- Utterances are cut by loudness: a 30 ms frame above `threshold` (RMS, 0-1) is speech; after
  speech, `silence_s` of quiet ends the utterance; one is cut at `max_utterance_s` however
  long the streamer talks. The transcriber's own VAD then skips what is not speech in it.
- "hey <twin>" is matched loosely: speech to text misspells names ("Mossot" for "mossbot"), so
  a word close enough to a twin name near the start is written as that name, and the picker
  sees the streamer address the twin. The names are passed to the model as hotwords too.
- The twin never answers its own voice: a line close to what the twin just said (`said`, its
  captions) is its echo through the microphone, and dropped.
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
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass

from cohost.core.errors import Transient
from cohost.core.events import ChatMessage, Role
from cohost.core.ports import SAMPLE_RATE, Clock, Transcriber

log = logging.getLogger(__name__)

FRAME_S = 0.03  # one frame of microphone audio
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


class ListenSource:
    """The streamer's microphone as a `ChatSource` of spoken broadcaster lines.

    `frames` is the microphone (16 kHz mono 16-bit PCM, any frame size), opened at each
    `events()`; `said` gives what the twin said lately (its captions), whose echo is ignored.
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
        self.on_heard = on_heard
        self.heard = 0
        self.echoes = 0  # lines dropped as the twin's own voice
        self.failed = 0  # utterances the transcriber failed on
        self.live = False  # the microphone gives audio now

    async def events(self) -> AsyncGenerator[ChatMessage, None]:
        cutter = UtteranceCutter(self.options)
        frames = aiter(self.frames)
        try:
            async for frame in frames:
                self.live = True
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
            log.warning("could not hear what the streamer said: %s", exc)
            return None
        took = time.perf_counter() - ended
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
