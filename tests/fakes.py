"""Small in-process parts that implement the ports, for driving turns in tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence

from cohost.core.errors import RewriterUnavailable, SimulatorUnavailable
from cohost.core.events import ChatMessage, Decision, Hit, Role, SimLine
from cohost.core.ports import FusionRequest, SimRequest


def message(
    text: str,
    *,
    login: str = "viewer",
    ts: float = 1000.0,
    id: str | None = None,
    roles: frozenset[Role] = frozenset(),
) -> ChatMessage:
    """A chat message with sensible defaults."""
    return ChatMessage(
        id=id or f"m-{login}-{ts}",
        channel="chan",
        login=login,
        display_name=login,
        text=text,
        ts=ts,
        roles=roles,
    )


def picked(msg: ChatMessage, score: float = 2.0) -> Decision:
    """A decision that picked this message."""
    return Decision(
        message=msg,
        picked=True,
        score=score,
        parts=(("direct", score),),
        reason="test",
        category="picked",
    )


class ScriptedSimulator:
    """Yields scripted lines, optionally waiting between them; records that it was closed."""

    def __init__(
        self, lines: Sequence[SimLine], *, delay: float = 0.0, fail_after: int | None = None
    ) -> None:
        self.lines = list(lines)
        self.delay = delay
        self.fail_after = fail_after
        self.closed = 0
        self.yielded = 0
        self.requests: list[SimRequest] = []

    async def stream(self, request: SimRequest) -> AsyncGenerator[SimLine, None]:
        self.requests.append(request)
        try:
            for i, line in enumerate(self.lines):
                if self.fail_after is not None and i >= self.fail_after:
                    raise SimulatorUnavailable("scripted failure")
                if self.delay:
                    await asyncio.sleep(self.delay)
                self.yielded += 1
                yield line
        finally:
            self.closed += 1


class ScriptedRewriter:
    """Streams a fixed reply word by word, optionally slowly, or fails at once."""

    def __init__(self, reply: str, *, delay: float = 0.0, fail: bool = False) -> None:
        self.reply = reply
        self.delay = delay
        self.fail = fail
        self.closed = 0
        self.requests: list[FusionRequest] = []

    def prompt(self, request: FusionRequest) -> str:
        return f"answer {request.message.text!r} from {len(request.sim_lines)} simulated line(s)"

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        self.requests.append(request)
        try:
            if self.fail:
                raise RewriterUnavailable("connection refused")
            for i, word in enumerate(self.reply.split(" ")):
                if self.delay:
                    await asyncio.sleep(self.delay)
                yield word if i == 0 else " " + word
        finally:
            self.closed += 1


class RecordingSpeaker:
    """Remembers what it said and whether it was stopped."""

    def __init__(self, delay: float = 0.0) -> None:
        self.said: list[str] = []
        self.stops = 0
        self.delay = delay

    async def say(self, sentence: str, *, turn_id: str) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.said.append(sentence)

    async def stop(self) -> None:
        self.stops += 1


class StaticJournal:
    """Returns the same hits for every query."""

    def __init__(self, hits: Sequence[Hit]) -> None:
        self.hits = list(hits)
        self.queries: list[str] = []

    async def search(self, query: str, *, k: int) -> list[Hit]:
        self.queries.append(query)
        return self.hits[:k]
