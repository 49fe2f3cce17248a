"""Deliver: the one way a reply reaches chat and the voice, and the deviceless stand-ins.

A turn's reply, an approved held reply and a `!twin say` all post through `post` (the
threading rule, chat's switch asked as each part goes, what chat took recorded as it goes);
the whole-text ones then speak through `speak`. Replay and the demo deliver to a speaker that
writes captions and a sink that records chat posts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import IO

from cohost.core.bus_events import CaptionShown
from cohost.core.events import Caption, ChatMessage
from cohost.core.ports import Bus, ChatSink, Clock, Speaker
from cohost.core.serialise import emit, json_line
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
        emit(self._bus, CaptionShown(**asdict(caption)))

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


def _always() -> bool:
    return True


def thread_of(answered: ChatMessage | None) -> str | None:
    """The message a reply is threaded under: the one it answers, when Twitch can thread it."""
    return answered.id if answered is not None and answered.threadable else None


async def post(
    checked: GuardResult,
    sink: ChatSink,
    *,
    answering: ChatMessage | None = None,
    chat_on: Callable[[], bool] = _always,
    sent: list[str] | None = None,
) -> list[str]:
    """The guarded text to chat, message by message; returns the messages chat took.

    The first message is threaded under the one it answers (see `thread_of`). Chat's switch is
    asked as each part goes, not when the reply began: a `chat off` while a send waits for the
    rate limit still counts. Each message chat took is appended to `sent` at once, so a cancel
    later knows what went out.
    """
    taken = [] if sent is None else sent
    if checked.blocked:
        return taken
    thread = thread_of(answering)
    for i, part in enumerate(checked.messages):
        if chat_on() and await sink.send(part, reply_to=thread if i == 0 else None):
            taken.append(part)
            checked.said(part)  # the guard reads the next text with this one
    return taken


async def speak(
    text: str,
    speaker: Speaker,
    *,
    turn_id: str,
    voice_on: Callable[[], bool] = _always,
    said: Callable[[str], None] | None = None,
) -> bool:
    """The whole text out loud, unless the voice is off by now; whether it was said.

    `said`: told the text once it is spoken (`GuardResult.said`).
    """
    if not voice_on():
        return False
    await speaker.say(text, turn_id=turn_id)
    if said is not None:
        said(text)
    return True


async def say_as_twin(
    checked: GuardResult,
    *,
    sink: ChatSink | None,
    speaker: Speaker | None,
    chat_on: Callable[[], bool],
    voice_on: Callable[[], bool],
) -> None:
    """`!twin say`: the guarded text to chat, message by message, then out loud."""
    if checked.blocked:
        return
    if sink is not None:
        await post(checked, sink, chat_on=chat_on)
    if speaker is not None:
        await speak(checked.text, speaker, turn_id="say", voice_on=voice_on, said=checked.said)
