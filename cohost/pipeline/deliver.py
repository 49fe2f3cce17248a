"""Delivery without devices: a speaker that writes captions and a sink that records chat posts."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import IO

from cohost.core.events import Caption
from cohost.core.ports import Bus, ChatSink, Clock, Speaker
from cohost.core.serialise import json_line
from cohost.pipeline.guard import GuardResult

# An unhurried speaking pace, for caption end times when nothing is really spoken.
WORDS_PER_SECOND = 2.6


class CaptionSpeaker:
    """The embedded speaker: each sentence becomes a caption event (and a JSON line if asked)."""

    def __init__(self, clock: Clock, *, bus: Bus | None = None, path: Path | None = None) -> None:
        self._clock = clock
        self._bus = bus
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        self.captions: deque[Caption] = deque(maxlen=100)  # the latest; a stream runs for hours

    async def say(self, sentence: str, *, turn_id: str) -> None:
        start = self._clock.now()
        seconds = max(0.6, len(sentence.split()) / WORDS_PER_SECOND)
        caption = Caption(turn_id=turn_id, text=sentence, start=start, end=start + seconds)
        self.captions.append(caption)
        if self._file is not None:
            self._file.write(json_line(asdict(caption)))
            self._file.flush()
        if self._bus is not None:
            self._bus.publish("caption", asdict(caption))

    async def stop(self) -> None:
        """Captions are instant: nothing is ever left playing."""

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class RecordingSink:
    """A chat sink for replay: remembers what would have been posted, and to whom."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []

    async def send(self, text: str, *, reply_to: str | None = None) -> bool:
        self.sent.append((text, reply_to))
        return True


async def say_as_twin(
    checked: GuardResult,
    *,
    sink: ChatSink | None,
    speaker: Speaker | None,
    chat_on: Callable[[], bool],
    voice_on: Callable[[], bool],
) -> None:
    """`!twin say`: the guarded text to chat, message by message, then out loud.

    The switches are asked as each part goes, not when the command came: a `chat off` or
    `voice off` while a send waits for the rate limit still counts.
    """
    if checked.blocked:
        return
    for part in checked.messages:
        if sink is not None and chat_on():
            await sink.send(part)
    if speaker is not None and voice_on():
        await speaker.say(checked.text, turn_id="say")
