"""When a turn starts speaking: the reply's first clause, then whole sentences."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from cohost.core.clock import VirtualClock
from cohost.core.events import Hit, SimLine, Tier
from cohost.core.options import GuardSettings
from cohost.core.ports import FusionRequest
from cohost.pipeline.deliver import RecordingSink
from cohost.pipeline.guard import Guard, default_rules
from cohost.pipeline.privacy import privacy_rule_for
from cohost.pipeline.turn import Turn, TurnOptions, TurnParts
from tests.fakes import RecordingSpeaker, ScriptedSimulator, StaticJournal, message, picked

LINES = [
    # long enough that a reply of three sentences is the twin's usual length (quality.reply_cap)
    SimLine(
        speaker="twin",
        text="long route again tonight, no regrets at all, it is so worth the wait",
        is_twin=True,
    ),
    SimLine(speaker="viewer", text="why", is_twin=False),
]
REPLY = "Okay so the long route again, chat voted for it. Grab a snack, it takes a while."
FIRST_CLAUSE = "Okay so the long route again,"
SENTENCES = ["Okay so the long route again, chat voted for it.", "Grab a snack, it takes a while."]
SECRET = Hit(entry_id="e1", title="Moving", text="We moved.", score=0.9, tier=Tier.PRIVATE)


class ListeningRewriter:
    """Streams a reply word by word and notes, before each word, what had been spoken."""

    def __init__(self, reply: str, speaker: RecordingSpeaker) -> None:
        self.reply = reply
        self.speaker = speaker
        self.heard: list[list[str]] = []

    def prompt(self, request: FusionRequest) -> str:
        return ""

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        for i, word in enumerate(self.reply.split(" ")):
            for _ in range(20):  # let the speaking task take what is queued; no clock involved
                await asyncio.sleep(0)
            self.heard.append(list(self.speaker.said))
            yield word if i == 0 else " " + word


def make_turn(
    rewriter: ListeningRewriter,
    speaker: RecordingSpeaker,
    *,
    first_chunk_words: int | None = 5,
    hits: list[Hit] | None = None,
    sink: RecordingSink | None = None,
) -> Turn:
    settings = GuardSettings()
    parts = TurnParts(
        simulator=ScriptedSimulator(LINES),
        rewriter=rewriter,
        guard=Guard(settings, rules=[*default_rules(settings), privacy_rule_for(n=8)]),
        clock=VirtualClock(1000.0),
        journal=StaticJournal(hits) if hits is not None else None,
        speaker=speaker,
        sink=sink,
    )
    options = TurnOptions(twin="twin", first_chunk_words=first_chunk_words)
    msg = message("twin which route tonight?", id="m1")
    return Turn(parts, options, picked(msg), [msg])


async def test_speech_starts_at_the_first_clause_before_the_sentence_ends() -> None:
    speaker, sink = RecordingSpeaker(), RecordingSink()
    rewriter = ListeningRewriter(REPLY, speaker)
    trace = await make_turn(rewriter, speaker, sink=sink).run()
    assert trace.outcome == "answered", trace.reason
    # heard[i]: what had been spoken before word i; word 9, "it.", ends the first sentence
    assert rewriter.heard[9] == [FIRST_CLAUSE]
    assert speaker.said == [FIRST_CLAUSE, "chat voted for it.", SENTENCES[1]]
    assert trace.spoken == speaker.said
    assert sink.sent == [(REPLY, "m1")]  # chat gets the reply whole


async def test_without_first_chunk_words_speech_waits_for_the_sentence() -> None:
    speaker = RecordingSpeaker()
    rewriter = ListeningRewriter(REPLY, speaker)
    await make_turn(rewriter, speaker, first_chunk_words=None).run()
    assert rewriter.heard[10] == []  # "Grab" starts the second sentence, which ends the first
    assert speaker.said == SENTENCES


async def test_a_short_first_clause_waits_for_more_words() -> None:
    speaker = RecordingSpeaker()
    rewriter = ListeningRewriter(REPLY, speaker)
    await make_turn(rewriter, speaker, first_chunk_words=7).run()
    assert speaker.said == SENTENCES  # "Okay so the long route again," has six


async def test_with_a_private_hit_speech_keeps_a_run_of_words_behind_the_stream() -> None:
    speaker = RecordingSpeaker()
    rewriter = ListeningRewriter(REPLY, speaker)
    trace = await make_turn(rewriter, speaker, hits=[SECRET]).run()
    assert trace.outcome == "answered", trace.reason
    words = REPLY.split(" ")
    # The first clause ends at word 6; any run of 8 words through it shows once 7 more have
    # arrived (word 13, "snack,"): before that nothing, from then on the clause.
    assert all(heard == [] for heard in rewriter.heard[:13])
    assert rewriter.heard[14] == [FIRST_CLAUSE]
    assert words[12] == "snack,"
    # still spoken while the reply streams, where waiting for the whole reply would not be
    assert any(heard for heard in rewriter.heard)
    assert speaker.said == [FIRST_CLAUSE, "chat voted for it.", SENTENCES[1]]


PRIVATE = Hit(
    entry_id="e2",
    title="Moving",
    text="we are moving to lisbon in june and nobody on stream knows yet",
    score=0.9,
    tier=Tier.PRIVATE,
)


async def test_the_voice_stops_where_a_reply_starts_repeating_a_private_entry() -> None:
    speaker, sink = RecordingSpeaker(), RecordingSink()
    leaky = (
        "Okay so the long route again, chat voted for it. Fun fact, we are moving to Lisbon "
        "in June and nobody on stream knows yet. Grab a snack, it takes a while."
    )
    rewriter = ListeningRewriter(leaky, speaker)
    trace = await make_turn(rewriter, speaker, hits=[PRIVATE], sink=sink).run()
    spoken = " ".join(speaker.said).lower()
    assert "lisbon" not in spoken and "moving" not in spoken
    # what came before the run was spoken; from the run on the voice says nothing more
    assert speaker.said == [FIRST_CLAUSE, "chat voted for it."]
    # chat gets the reply with the run cut out (the privacy rule's trim mode)
    [(posted, _)] = sink.sent
    assert "lisbon" not in posted.lower() and "Grab a snack" in posted
    assert any(v.rule == "privacy" and v.action == "changed" for v in trace.guard)


async def test_every_spoken_chunk_passes_the_guard() -> None:
    speaker = RecordingSpeaker()
    rewriter = ListeningRewriter("!Okay so the long route again, chat voted for it.", speaker)
    await make_turn(rewriter, speaker).run()
    # the guard took the command prefix off the first clause before it was spoken
    assert speaker.said == [FIRST_CLAUSE, "chat voted for it."]
