"""Real and virtual clocks behind the Clock port."""

from __future__ import annotations

import asyncio
import time


class RealClock:
    """The machine's clocks."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """A clock that only moves when told to (replay) or when something sleeps on it (tests).

    `now()` is virtual log time. `monotonic()` stays real: stage times in a replay measure what
    cohost itself spent, which is what its report is for.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return time.perf_counter()

    def advance_to(self, t: float) -> None:
        """Move forward to t; never backwards (logs can be slightly out of order)."""
        self._now = max(self._now, t)

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        # Sleeping on a virtual clock passes virtual time at once and yields to the loop.
        self.advance(seconds)
        await asyncio.sleep(0)
