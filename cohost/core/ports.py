"""The seams to the outside world; adapters implement these, the core only sees them."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cohost.core.events import ChatMessage, Hit, SimLine, SourceEvent, Tier


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

    def events(self) -> AsyncGenerator[SourceEvent, None]:
        """Chat events (and, live, follows) in order, until the source ends."""
        ...


class ChatSink(Protocol):
    """Where replies go: Twitch chat, a replay's record, the console."""

    async def send(self, text: str, *, reply_to: str | None = None) -> bool:
        """Post one chat message; False when none of it went out (a limit, a refusal)."""
        ...


class Journal(Protocol):
    """Recall over the streamer's journal; secret entries never come back."""

    async def search(self, query: str, *, k: int) -> list[Hit]:
        """The k best entries for the query, one chunk each (its best), best first."""
        ...


class Embedder(Protocol):
    """Text to unit vectors."""

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text (blocking: call it off the event loop)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunk:
    """A piece of one journal entry, as the vector index stores it (never a secret one)."""

    entry_id: str
    index: int  # position within the entry, from 0
    text: str
    title: str
    created: float  # seconds since the epoch
    modified: float  # the entry's modified stamp when this chunk was made
    digest: str  # of the entry's indexed content, so hand-edited files are seen as stale
    tags: tuple[str, ...]
    tier: Tier


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexedEntry:
    """What the vector index holds about one entry."""

    modified: float
    digest: str
    chunks: int


class VectorStore(Protocol):
    """Chunk vectors with payload; blocking calls (run them off the event loop)."""

    def ensure(self, dimension: int) -> bool:
        """Open or create the collection; True when it starts empty (new, rebuilt or reset)."""
        ...

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Store these chunks (one vector each), replacing chunks with the same entry and index."""
        ...

    def delete_entries(self, entry_ids: Collection[str]) -> None:
        """Remove every chunk of these entries."""
        ...

    def search(self, vector: Sequence[float], *, k: int) -> list[Hit]:
        """The k nearest chunks by cosine similarity, best first; secret chunks never match."""
        ...

    def indexed(self) -> dict[str, IndexedEntry]:
        """Every entry id in the index, with the stamp and digest it was indexed at."""
        ...

    def count(self) -> int:
        """How many chunks the index holds."""
        ...

    def reset(self) -> None:
        """Drop every chunk (the collection stays)."""
        ...

    def close(self) -> None:
        """Flush and release the index."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SimRequest:
    """What the simulator continues: the recent chat, ending where the twin speaks next."""

    window: Sequence[ChatMessage]
    twin: str
    max_lines: int
    # which draw of this conversation: 0 is the turn's own; a candidate asks for 1, 2, ... when
    # the first draw has nothing new to offer (a seeded simulator must then draw differently)
    draw: int = 0


class Simulator(Protocol):
    """Simulates how the conversation goes on, in the twin's style."""

    def stream(self, request: SimRequest) -> AsyncGenerator[SimLine, None]:
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
    # Replies the twin gave recently, and candidates already tried (the guard may have blocked
    # one for quoting the journal): steer away from them, never send them anywhere.
    avoid: Sequence[str] = ()
    # What the twin already said or offered, every one passed by the guard: a model's prompt
    # shows these so that it says something new.
    said: Sequence[str] = ()


class Rewriter(Protocol):
    """Fuses the simulation with the journal facts into one short reply."""

    def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        """The reply's text in pieces as they arrive; closing the iterator stops it."""
        ...

    def prompt(self, request: FusionRequest) -> str:
        """What the model is given for this request, as text ("" when there is no model)."""
        ...


class Speaker(Protocol):
    """Says replies out loud (or writes captions), sentence by sentence."""

    async def say(self, sentence: str, *, turn_id: str) -> None:
        """Speak one sentence; returns when it has been spoken."""
        ...

    async def stop(self) -> None:
        """Stop speaking now."""
        ...


# Who hears every published event: (topic, payload)
Handler = Callable[[str, dict[str, object]], None]


class Bus(Protocol):
    """Publishes every event; never blocks a turn."""

    def publish(self, topic: str, payload: dict[str, object]) -> None:
        """Queue one event for publishing (dropped and counted when full)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """A stretch of transcribed speech, in seconds from the start of the audio."""

    start: float
    end: float
    text: str


# Audio as the transcriber takes it: 16 kHz mono, 16-bit signed little-endian samples.
SAMPLE_RATE = 16_000


class Transcriber(Protocol):
    """Speech to text, offline; blocking calls (run them off the event loop)."""

    def transcribe(
        self, audio: Path | bytes, *, hotwords: str = "", start_s: float = 0.0
    ) -> Iterator[Segment]:
        """Segments as they are recognised: a file (any format), or PCM at SAMPLE_RATE;
        `hotwords`: names to spell right; `start_s`: skip the audio before this."""
        ...
