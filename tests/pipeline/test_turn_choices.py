"""Held replies, candidate replies, and a twin that does not repeat itself, in one turn."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator

import pytest

from cohost.core.events import SimLine
from cohost.core.options import GuardSettings
from cohost.core.ports import FusionRequest, Rewriter, SimRequest
from cohost.embedded.extractive import ExtractiveRewriter
from cohost.pipeline.deliver import RecordingSink
from cohost.pipeline.turn import Turn
from tests.fakes import RecordingSpeaker, ScriptedRewriter, ScriptedSimulator
from tests.pipeline.test_turn import make_turn

# Three twin lines that all answer the question, in the order the extractive rewriter ranks them.
FIRST = "gerald the starter lives on my counter"
SECOND = "gerald is thriving and bubbly today"
THIRD = "gerald doubled overnight, very proud"
LINES = [
    SimLine(speaker="twin", text=SECOND, is_twin=True),
    SimLine(speaker="viewer", text="who is gerald", is_twin=False),
    SimLine(speaker="twin", text=THIRD, is_twin=True),
    SimLine(speaker="twin", text=FIRST, is_twin=True),
]


def turn_with(
    rewriter: Rewriter,
    *,
    hold: bool = False,
    candidates: int = 1,
    avoid: tuple[str, ...] = (),
    guard: GuardSettings | None = None,
    mode: str = "sequential",
) -> tuple[Turn, RecordingSink, RecordingSpeaker]:
    sink, speaker = RecordingSink(), RecordingSpeaker()
    turn = make_turn(
        ScriptedSimulator(LINES),
        ScriptedRewriter(""),
        speaker=speaker,
        sink=sink,
        mode=mode,
        guard=guard,
    )
    turn.parts.rewriter = rewriter
    turn.options = dataclasses.replace(turn.options, hold=hold, candidates=candidates, avoid=avoid)
    return turn, sink, speaker


async def test_a_held_reply_is_neither_posted_nor_spoken() -> None:
    turn, sink, speaker = turn_with(ExtractiveRewriter(), hold=True)
    trace = await turn.run()
    assert trace.outcome == "held", trace.reason
    assert trace.reply == FIRST
    assert sink.sent == [] and speaker.said == [] and trace.spoken == []
    assert trace.alternatives == []


class RecordingExtractive(ExtractiveRewriter):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[FusionRequest] = []

    def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        self.requests.append(request)
        return super().stream(request)


async def test_held_candidates_are_distinct_guarded_lines() -> None:
    rewriter = RecordingExtractive()
    turn, sink, _ = turn_with(rewriter, hold=True, candidates=3)
    trace = await turn.run()
    assert trace.outcome == "held"
    assert [trace.reply, *trace.alternatives] == [FIRST, SECOND, THIRD]
    assert sink.sent == []
    assert "candidates" in [s.name for s in trace.stages]
    # each later fusion sees what was already offered; blocked texts never reach a prompt
    assert [list(r.said) for r in rewriter.requests] == [[], [FIRST], [FIRST, SECOND]]


async def test_live_candidates_come_after_the_reply_went_out() -> None:
    turn, sink, speaker = turn_with(ExtractiveRewriter(), candidates=2)
    trace = await turn.run()
    assert trace.outcome == "answered"
    assert sink.sent == [(FIRST, "m1")]
    assert speaker.said == [FIRST]
    assert trace.alternatives == [SECOND]


async def test_fewer_candidates_when_the_rewriter_has_nothing_new() -> None:
    # a rewriter that always says the same thing yields no alternatives, not duplicates
    turn, _, _ = turn_with(ScriptedRewriter("gerald is fine"), hold=True, candidates=4)
    trace = await turn.run()
    assert trace.outcome == "held"
    assert trace.reply == "gerald is fine" and trace.alternatives == []


async def test_a_candidate_the_guard_blocks_is_left_out() -> None:
    guard = GuardSettings(blocklist=["bubbly"])
    rewriter = RecordingExtractive()
    turn, _, _ = turn_with(rewriter, hold=True, candidates=3, guard=guard)
    trace = await turn.run()
    assert trace.reply == FIRST and trace.alternatives == [THIRD]
    # the blocked candidate steers the next fusion away, but is never shown to one
    assert SECOND in rewriter.requests[2].avoid
    assert all(SECOND not in r.said for r in rewriter.requests)


async def test_the_twin_does_not_say_a_recent_reply_again() -> None:
    rewriter = ExtractiveRewriter()
    turn, sink, _ = turn_with(rewriter, avoid=("Gerald the starter  lives on my counter",))
    trace = await turn.run()
    assert trace.outcome == "answered"
    assert sink.sent == [(SECOND, "m1")]


async def test_a_repeated_reply_from_a_model_stays_silent() -> None:
    # a model rewriter may ignore the hint; the turn itself will not post the same text again
    turn, sink, speaker = turn_with(ScriptedRewriter("gerald is fine"), avoid=("Gerald is fine",))
    trace = await turn.run()
    assert trace.outcome == "silent"
    assert trace.reason == "the reply repeats one the twin gave recently"
    assert sink.sent == [] and speaker.said == [] and trace.reply == ""


class RefusingSink:
    """A chat that takes nothing, as Twitch does past its rate limit."""

    def __init__(self) -> None:
        self.tried: list[str] = []

    async def send(self, text: str, *, reply_to: str | None = None) -> bool:
        self.tried.append(text)
        return False


async def test_a_reply_chat_refused_is_unsent_not_answered() -> None:
    turn, _, speaker = turn_with(ExtractiveRewriter())
    sink = RefusingSink()
    turn.parts.sink = sink
    trace = await turn.run()
    assert trace.outcome == "unsent" and "chat refused" in trace.reason
    assert sink.tried == [FIRST] and trace.sent == []
    assert speaker.said == [FIRST]  # the voice still says it


async def test_pipelined_never_speaks_a_held_reply() -> None:
    # pipelined with only public hits streams speech sentence by sentence: hold must stop that
    reply = "Gerald is thriving. He doubled overnight, very proud of him!"
    turn, sink, speaker = turn_with(ScriptedRewriter(reply), hold=True, mode="pipelined")
    trace = await turn.run()
    assert trace.outcome == "held" and trace.reply == reply
    assert speaker.said == [] and sink.sent == []


async def test_pipelined_never_speaks_a_repeat_but_speaks_what_diverges() -> None:
    said = "Gerald is thriving. He doubled overnight, very proud of him!"
    turn, sink, speaker = turn_with(ScriptedRewriter(said), avoid=(said,), mode="pipelined")
    trace = await turn.run()
    assert trace.outcome == "silent" and speaker.said == [] and sink.sent == []

    # the same opening, then something new: held back while it could be a repeat, then said
    new = "Gerald is thriving. He ate rye today!"
    turn, sink, speaker = turn_with(ScriptedRewriter(new), avoid=(said,), mode="pipelined")
    trace = await turn.run()
    assert trace.outcome == "answered"
    assert speaker.said == ["Gerald is thriving.", "He ate rye today!"]


class SlowSecondRewriter(ExtractiveRewriter):
    """The extractive rewriter, stalling on every fusion after the first (a slow candidate)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.stalled = asyncio.Event()

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        self.calls += 1
        if self.calls > 1:
            self.stalled.set()
            await asyncio.Event().wait()  # until cancelled
        async for piece in super().stream(request):
            yield piece


async def test_a_cancel_while_making_candidates_keeps_the_reply() -> None:
    for hold in (False, True):
        rewriter = SlowSecondRewriter()
        turn, sink, _ = turn_with(rewriter, hold=hold, candidates=3)
        task = asyncio.create_task(turn.run())
        await rewriter.stalled.wait()  # the reply is made; the second candidate hangs
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        trace = turn.trace
        assert trace.outcome == ("held" if hold else "answered"), trace.reason
        assert trace.reply == FIRST and trace.alternatives == []
        assert trace.reason == "cancelled while making candidates"
        assert sink.sent == ([] if hold else [(FIRST, "m1")])


async def test_silence_says_when_every_twin_line_was_said_already() -> None:
    turn, sink, _ = turn_with(ExtractiveRewriter(), avoid=(FIRST, SECOND, THIRD))
    trace = await turn.run()
    assert trace.outcome == "silent" and sink.sent == []
    assert trace.reason == "every simulated twin line repeats a recent reply"


class GatedSpeaker(RecordingSpeaker):
    """Speaks each sentence only when the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.go = asyncio.Event()

    async def say(self, sentence: str, *, turn_id: str) -> None:
        self.started.set()
        await self.go.wait()
        await super().say(sentence, turn_id=turn_id)


async def test_voice_off_mid_reply_says_nothing_more_but_posts() -> None:
    reply = "Gerald is thriving. He doubled overnight. He smells of rye. He is huge."
    turn, sink, _ = turn_with(ScriptedRewriter(reply), mode="pipelined")
    speaker = GatedSpeaker()
    turn.parts.speaker = speaker
    task = asyncio.create_task(turn.run())
    await speaker.started.wait()  # the first sentence is being said
    turn.silence()
    speaker.go.set()
    trace = await task
    assert trace.outcome == "answered"
    assert speaker.said == ["Gerald is thriving."]  # the one already playing, nothing after
    assert sink.sent == [(reply, "m1")]


async def test_pipelined_simulates_past_a_twin_line_it_said_already() -> None:
    # the twin's first simulated line repeats a recent reply: the simulation goes on for a new one
    rewriter = RecordingExtractive()
    turn, sink, _ = turn_with(rewriter, avoid=(SECOND,), mode="pipelined")
    trace = await turn.run()
    assert trace.outcome == "answered"
    assert [line.text for line in trace.sim_lines if line.is_twin][:2] == [SECOND, THIRD]
    assert sink.sent and sink.sent[0][0] in (THIRD, FIRST)


class DrawnSimulator:
    """Each draw of the conversation holds one twin line: the draw number picks which."""

    def __init__(self, twin_lines: list[str]) -> None:
        self.twin_lines = twin_lines
        self.draws: list[int] = []

    async def stream(self, request: SimRequest) -> AsyncGenerator[SimLine, None]:
        self.draws.append(request.draw)
        yield SimLine(speaker="viewer", text="who is gerald", is_twin=False)
        if request.draw < len(self.twin_lines):
            yield SimLine(speaker="twin", text=self.twin_lines[request.draw], is_twin=True)


async def test_a_draw_with_one_twin_line_still_offers_a_choice_from_a_new_draw() -> None:
    # the embedded twin often simulates one usable line: the candidate comes from a redraw
    simulator = DrawnSimulator([FIRST, SECOND])
    turn, _, _ = turn_with(ExtractiveRewriter(), hold=True, candidates=2)
    turn.parts.simulator = simulator
    trace = await turn.run()
    assert trace.outcome == "held"
    assert [trace.reply, *trace.alternatives] == [FIRST, SECOND]
    assert simulator.draws == [0, 1]


async def test_redraws_are_bounded_when_no_draw_has_anything_new() -> None:
    simulator = DrawnSimulator([FIRST])  # every later draw has no twin line at all
    turn, _, _ = turn_with(ExtractiveRewriter(), hold=True, candidates=3)
    turn.parts.simulator = simulator
    trace = await turn.run()
    assert trace.reply == FIRST and trace.alternatives == []
    assert simulator.draws == [0, 1, 2, 3, 4]  # the turn's own, then one per try: 2 per slot


@pytest.mark.parametrize("mode", ["sequential", "pipelined"])
async def test_a_draw_that_only_repeats_the_twin_is_drawn_again_before_silence(mode: str) -> None:
    simulator = DrawnSimulator([FIRST, SECOND])
    turn, sink, _ = turn_with(ExtractiveRewriter(), avoid=(FIRST,), mode=mode)
    turn.parts.simulator = simulator
    trace = await turn.run()
    assert trace.outcome == "answered", trace.reason
    assert sink.sent == [(SECOND, "m1")]
    assert simulator.draws == [0, 1]
    assert [line.text for line in trace.sim_lines if line.is_twin] == [SECOND]  # the redraw's


async def test_one_redraw_only_then_the_turn_is_silent_for_repeating() -> None:
    simulator = DrawnSimulator([FIRST, FIRST, SECOND])
    turn, sink, _ = turn_with(ExtractiveRewriter(), avoid=(FIRST,), mode="pipelined")
    turn.parts.simulator = simulator
    trace = await turn.run()
    assert trace.outcome == "silent" and sink.sent == []
    assert trace.reason == "every simulated twin line repeats a recent reply"
    assert simulator.draws == [0, 1]
