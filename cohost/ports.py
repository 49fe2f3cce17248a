"""The seams to the outside world; adapters implement these, the core only sees them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from cohost.events import ChatEvent, ChatMessage, Hit, SimLine


class Clock(Protocol):
    """Wall time for events, monotonic time for durations, and sleeping; virtual in replay."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds for measuring durations."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait this long on this clock."""
        ...


class ChatSource(Protocol):
    """Where chat comes from: Twitch, a log being replayed, the console."""

    def events(self) -> AsyncIterator[ChatEvent]:
        """Chat events in order, until the source ends."""
        ...


class ChatSink(Protocol):
    """Where replies go: Twitch chat, a replay's record, the console."""

    async def send(self, text: str, *, reply_to: str | None = None) -> None:
        """Post one chat message (already within Twitch's rules)."""
        ...


class Journal(Protocol):
    """Recall over the streamer's journal; secret entries never come back."""

    async def search(self, query: str, *, k: int) -> list[Hit]:
        """The k best chunks for the query, best first."""
        ...


class Embedder(Protocol):
    """Text to unit vectors."""

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text (blocking: call it off the event loop)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SimRequest:
    """What the simulator continues: the recent chat, ending where the twin speaks next."""

    window: Sequence[ChatMessage]
    twin: str
    max_lines: int


class Simulator(Protocol):
    """Simulates how the conversation goes on, in the twin's style."""

    def stream(self, request: SimRequest) -> AsyncIterator[SimLine]:
        """Simulated lines as they are produced; closing the iterator stops generation."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class FusionRequest:
    """Everything the rewriter fuses into one reply."""

    twin: str
    message: ChatMessage
    window: Sequence[ChatMessage]
    hits: Sequence[Hit]
    sim_lines: Sequence[SimLine]


class Rewriter(Protocol):
    """Fuses the simulation with the journal facts into one short reply."""

    def stream(self, request: FusionRequest) -> AsyncIterator[str]:
        """The reply's text in pieces as they arrive; closing the iterator stops it."""
        ...


class Speaker(Protocol):
    """Says replies out loud (or writes captions), sentence by sentence."""

    async def say(self, sentence: str, *, turn_id: str) -> None:
        """Speak one sentence; returns when it has been spoken."""
        ...

    async def stop(self) -> None:
        """Stop speaking now."""
        ...


class Bus(Protocol):
    """Publishes every event; never blocks a turn."""

    def publish(self, topic: str, payload: dict[str, object]) -> None:
        """Queue one event for publishing (dropped and counted when full)."""
        ...
