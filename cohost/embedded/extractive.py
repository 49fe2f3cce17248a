"""The embedded rewriter: no model, it picks the simulated twin line that fits the moment best.

It only ever says a line the simulator produced, so journal text reaches the reply only
through the twin's own words: hits steer the choice, they are never copied.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import AsyncGenerator

from cohost.core.events import SimLine, Tier
from cohost.core.ports import FusionRequest
from cohost.text.fold import same_text_key, words
from cohost.text.sentences import content_words

# Shared words count by their square root: the first one shows the line is on topic, more of
# them mostly show that it repeats the viewer.
TOPIC_WEIGHT = 1.0  # content words shared with the message being answered
FACT_WEIGHT = 0.5  # content words shared with the recalled journal hits
LENGTH_WEIGHT = 0.3  # per doubling (or halving) away from the twin's usual line length
ECHO_WEIGHT = 2.0  # for a line made mostly of the viewer's own words
COPY_PENALTY = 1.0  # for a line that repeats a run of the viewer's words
COPY_RUN = 4  # words in a row that count as repeating the viewer
PARROT_SIMILARITY = 0.7  # a line this close to the viewer's message is never said at all


def _runs(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def usual_length(request: FusionRequest, default: float) -> float:
    """The median word count of the twin's own lines in the window, else default."""
    twin = request.twin.casefold()
    counts = [len(m.text.split()) for m in request.window if m.login.casefold() == twin]
    counts = [c for c in counts if c]
    return float(statistics.median(counts)) if counts else default


def score_line(
    line: SimLine,
    *,
    message_words: set[str],
    message_tokens: list[str],
    fact_words: set[str],
    usual_words: float,
) -> float:
    """How well one twin line answers: on topic, informed, the usual length, not a parrot."""
    tokens = words(line.text)
    if not tokens:
        return -math.inf
    own = set(content_words(line.text))
    shared = own & message_words
    score = TOPIC_WEIGHT * math.sqrt(len(shared)) + FACT_WEIGHT * math.sqrt(len(own & fact_words))
    score -= LENGTH_WEIGHT * abs(math.log2(len(line.text.split()) / max(usual_words, 1.0)))
    if own:
        score -= ECHO_WEIGHT * max(0.0, len(shared) / len(own) - 0.5)
    if _runs(tokens, COPY_RUN) & _runs(message_tokens, COPY_RUN):
        score -= COPY_PENALTY
    return score


def parrots(line: SimLine, message_tokens: list[str]) -> bool:
    """Whether a line mostly says the viewer's message back to them."""
    tokens = set(words(line.text))
    theirs = set(message_tokens)
    if not tokens or not theirs:
        return False
    return len(tokens & theirs) / len(tokens | theirs) >= PARROT_SIMILARITY


def rank_lines(request: FusionRequest, *, usual_words: float = 10.0) -> list[tuple[float, SimLine]]:
    """Every simulated twin line with its score, best first (ties keep simulation order).

    Lines that parrot the viewer's message are left out: saying it back is no answer; so are
    the twin's own recent replies (`request.avoid`): a twin that repeats itself sounds canned,
    and Twitch drops the same text sent twice within 30 s anyway.
    """
    names = set(words(f"{request.twin} {request.message.login} {request.message.display_name}"))
    # Addressing the twin by name is not a topic.
    message_words = set(content_words(request.message.text)) - names
    # A secret hit should never arrive; if one does, it must not even steer the choice.
    informing = [hit for hit in request.hits if hit.tier is not Tier.SECRET]
    fact_words = {w for hit in informing for w in content_words(hit.text)} - names
    usual = usual_length(request, usual_words)
    message_tokens = words(request.message.text)
    said = {same_text_key(text) for text in request.avoid}
    scored = [
        (
            score_line(
                line,
                message_words=message_words,
                message_tokens=message_tokens,
                fact_words=fact_words,
                usual_words=usual,
            ),
            i,
            line,
        )
        for i, line in enumerate(request.sim_lines)
        if line.is_twin
        and line.text.strip()
        and not parrots(line, message_tokens)
        and same_text_key(line.text) not in said
    ]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [(score, line) for score, _, line in scored]


class ExtractiveRewriter:
    """The Rewriter port without a model: the best simulated twin line, streamed word by word."""

    def __init__(self, *, usual_words: float = 10.0) -> None:
        """usual_words: the twin's usual line length when the window holds none of its lines."""
        self.usual_words = usual_words

    def prompt(self, request: FusionRequest) -> str:
        """No model, no prompt."""
        return ""

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        """The chosen line in pieces that join back to it; nothing when no twin line exists."""
        ranked = rank_lines(request, usual_words=self.usual_words)
        if not ranked:
            return
        for i, word in enumerate(ranked[0][1].text.split()):
            await asyncio.sleep(0)  # a cancelled turn stops here, between pieces
            yield word if i == 0 else f" {word}"
