"""Builds the parts of a turn from Settings: embedded defaults, or model servers when configured."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cohost.config import Settings
from cohost.pipeline.fuse import ExtractiveRewriter
from cohost.pipeline.guard import Guard
from cohost.pipeline.simulate import MarkovSimulator, read_writings
from cohost.ports import Rewriter, Simulator

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Models:
    """The simulator and rewriter, and words a person can read about what they are."""

    simulator: Simulator
    rewriter: Rewriter
    description: str
    look_ahead_lines: int
    notes: tuple[str, ...] = ()


def build_models(
    settings: Settings, *, streamer_lines: Sequence[str] = (), chat_lines: Sequence[str] = ()
) -> Models:
    """The twin simulator and rewriter that settings ask for.

    The embedded Markov simulator learns from the streamer's own chat lines and their writing
    files; when neither has anything, it learns from `chat_lines` (everyone's) and says so.
    """
    notes: list[str] = []
    twin = settings.twin
    markov = MarkovSimulator.from_settings(settings.simulator)
    markov.train(streamer_lines)
    markov.train(read_writings(twin.writings))
    description = (
        f"markov (embedded, order {settings.simulator.markov_order}) on {len(streamer_lines)} "
        f"line(s) by {twin.streamer or 'nobody'} and {len(twin.writings)} writing file(s)"
    )
    if not markov.trained and chat_lines:
        # Lines that name the twin are others talking to it, not it talking.
        names = {n.casefold() for n in (twin.name, *twin.aliases, twin.streamer) if n}
        markov.train(
            line for line in chat_lines if not names & set(re.findall(r"\w+", line.casefold()))
        )
        description = f"markov (embedded) on {len(chat_lines)} chat line(s) by everyone"
        notes.append(
            f"the streamer {twin.streamer or '(not set)'} said nothing here and no writings were "
            "given, so the embedded Markov chain learned from everyone's lines"
        )
    return Models(
        simulator=markov,
        rewriter=ExtractiveRewriter(),
        description=description + "; rewriter: extractive (embedded)",
        # The embedded simulator is instant, and the extractive rewriter chooses among all the
        # twin's simulated lines: let it see the whole simulation.
        look_ahead_lines=settings.simulator.max_lines,
        notes=tuple(notes),
    )


def build_guard(settings: Settings) -> Guard:
    """The guard over settings."""
    return Guard(settings.guard)
