"""Fuzzing the voice with a private entry recalled: however the reply streams, no run is spoken."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from hypothesis import given
from hypothesis import strategies as st

from cohost.core.clock import VirtualClock
from cohost.core.events import Hit, SimLine, Tier
from cohost.core.options import GuardSettings
from cohost.core.ports import FusionRequest
from cohost.pipeline.deliver import RecordingSink
from cohost.pipeline.guard import Guard, default_rules
from cohost.pipeline.privacy import find_private_runs, privacy_rule_for
from cohost.pipeline.turn import Turn, TurnOptions, TurnParts
from cohost.text.fold import folded_words
from tests.fakes import RecordingSpeaker, ScriptedSimulator, StaticJournal, message, picked
from tests.fuzz import fuzz

RUN = 4  # a short run makes leaks easy to write
ENTRY = "we are moving to lisbon in june and my sister will hate it there"
FILLER = ["okay", "chat", "so", "the", "long", "route", "again", "grab", "a", "snack", "lol"]
MARKS = ["", "", "", ",", ".", "!", "?", " -"]
HIT = Hit(entry_id="e1", title="Moving", text=ENTRY, score=0.9, tier=Tier.PRIVATE)


class PieceRewriter:
    """Streams a fixed reply in the given pieces."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces

    def prompt(self, request: FusionRequest) -> str:
        return ""

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        for piece in self.pieces:
            await asyncio.sleep(0)
            yield piece


# A reply of filler and stretches of the private entry (some long enough to leak, some going on
# across a sentence's end), punctuated anywhere, cut into pieces anywhere.
word = st.one_of(st.sampled_from(FILLER), st.just("<entry>"))
reply_words = st.lists(st.tuples(word, st.sampled_from(MARKS)), min_size=1, max_size=30)


@fuzz(150)
@given(
    shape=reply_words,
    # -1: the stretch goes on where the one before ended, across whatever mark came between
    starts=st.lists(st.integers(-1, len(ENTRY.split()) - 1), min_size=30, max_size=30),
    lengths=st.lists(st.integers(1, 8), min_size=30, max_size=30),
    cuts=st.lists(st.integers(1, 12), min_size=1, max_size=40),
    first_chunk=st.sampled_from([None, 2, 5]),
)
def test_no_run_of_a_private_entry_is_ever_spoken(
    shape: list[tuple[str, str]],
    starts: list[int],
    lengths: list[int],
    cuts: list[int],
    first_chunk: int | None,
) -> None:
    entry = ENTRY.split()
    parts: list[str] = []
    end = 0  # where the last stretch of the entry ended: -1 goes on from there
    for i, (token, mark) in enumerate(shape):
        text = token
        if token == "<entry>":
            start = end if starts[i] < 0 else starts[i]
            end = start + lengths[i]
            text = " ".join(entry[start:end]) or "ok"
        parts.append(text + mark)
    reply = " ".join(parts)
    pieces, pos, i = [], 0, 0
    while pos < len(reply):
        size = cuts[i % len(cuts)]
        pieces.append(reply[pos : pos + size])
        pos, i = pos + size, i + 1

    speaker, sink = RecordingSpeaker(), RecordingSink()
    settings = GuardSettings()
    turn = Turn(
        TurnParts(
            simulator=ScriptedSimulator(
                [SimLine(speaker="twin", text="long route again", is_twin=True)]
            ),
            rewriter=PieceRewriter(pieces),
            guard=Guard(settings, rules=[*default_rules(settings), privacy_rule_for(n=RUN)]),
            clock=VirtualClock(1000.0),
            journal=StaticJournal([HIT]),
            speaker=speaker,
            sink=sink,
        ),
        TurnOptions(
            twin="twin", lookahead_lines=0, first_chunk_words=first_chunk, privacy_run_words=RUN
        ),
        picked(message("twin what is new?", id="m1")),
        [message("twin what is new?", id="m1")],
    )
    asyncio.run(turn.run())
    # The voice says a prefix of the reply, and it stops before the first word of any run:
    # not even the start of one is said before the rest of it arrives.
    said = folded_words(" ".join(speaker.said))
    assert [w for w, _, _ in said] == [w for w, _, _ in folded_words(reply)][: len(said)]
    runs = find_private_runs(reply, [HIT], RUN)
    if runs:
        first = min(run.start for run in runs)
        assert len(said) <= len(folded_words(reply[:first])), (reply, speaker.said)
    else:
        assert said, reply  # a clean reply is spoken all the same


def test_a_word_still_arriving_does_not_count_toward_the_margin() -> None:
    # "an" becomes "and" with the next piece: counted early, it would let "okay lisbon." go
    # out before the run "lisbon in june and" shows (a reviewer's case)
    pieces = ["okay lisbon. in june an", "d so"]
    speaker = RecordingSpeaker()
    settings = GuardSettings()
    turn = Turn(
        TurnParts(
            simulator=ScriptedSimulator([SimLine(speaker="twin", text="lisbon", is_twin=True)]),
            rewriter=PieceRewriter(pieces),
            guard=Guard(settings, rules=[*default_rules(settings), privacy_rule_for(n=RUN)]),
            clock=VirtualClock(1000.0),
            journal=StaticJournal([HIT]),
            speaker=speaker,
        ),
        TurnOptions(twin="twin", lookahead_lines=0, first_chunk_words=None, privacy_run_words=RUN),
        picked(message("twin what is new?", id="m1")),
        [message("twin what is new?", id="m1")],
    )
    asyncio.run(turn.run())
    assert speaker.said == []
