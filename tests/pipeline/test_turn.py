"""One whole turn over fakes: the stages, the trace, failures and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

import pytest

from cohost.core.clock import VirtualClock
from cohost.core.errors import SimulatorUnavailable
from cohost.core.events import Hit, SimLine, Tier
from cohost.core.options import GuardSettings
from cohost.core.ports import FusionRequest, SimRequest
from cohost.core.state import TwinState
from cohost.embedded.bus import LocalBus
from cohost.pipeline.deliver import RecordingSink
from cohost.pipeline.guard import Guard, default_rules
from cohost.pipeline.privacy import privacy_rule_for
from cohost.pipeline.turn import SPEECH_CHUNK_CHARS, Turn, TurnOptions, TurnParts
from cohost.text.sentences import split_sentences
from tests.fakes import (
    RecordingSpeaker,
    ScriptedRewriter,
    ScriptedSimulator,
    StaticJournal,
    message,
    picked,
)

LINES = [
    SimLine(speaker="twin", text="gerald is thriving, thanks for asking", is_twin=True),
    SimLine(speaker="viewer", text="who is gerald", is_twin=False),
    SimLine(speaker="twin", text="my sourdough starter", is_twin=True),
    SimLine(speaker="viewer", text="lol", is_twin=False),
]


def make_turn(
    simulator: ScriptedSimulator,
    rewriter: ScriptedRewriter,
    *,
    speaker: RecordingSpeaker | None = None,
    sink: RecordingSink | None = None,
    mode: str = "pipelined",
    lookahead: int = 1,
    journal: StaticJournal | None = None,
    guard: GuardSettings | None = None,
) -> Turn:
    parts = TurnParts(
        simulator=simulator,
        rewriter=rewriter,
        guard=Guard(
            guard or GuardSettings(),
            rules=[*default_rules(guard or GuardSettings()), privacy_rule_for(n=8, mode="trim")],
        ),
        clock=VirtualClock(1000.0),
        journal=journal,
        speaker=speaker,
        sink=sink,
    )
    options = TurnOptions(twin="twin", mode=mode, lookahead_lines=lookahead)  # type: ignore[arg-type]
    msg = message("twin how is gerald?", id="m1")
    return Turn(parts, options, picked(msg), [msg])


async def test_whole_turn_records_every_stage() -> None:
    sink, speaker = RecordingSink(), RecordingSpeaker()
    hit = Hit(entry_id="e1", title="Gerald", text="Gerald doubled.", score=0.8, tier=Tier.PUBLIC)
    rewriter = ScriptedRewriter("Gerald is thriving. He doubled overnight!")
    turn = make_turn(
        ScriptedSimulator(LINES),
        rewriter,
        speaker=speaker,
        sink=sink,
        journal=StaticJournal([hit]),
    )
    trace = await turn.run()
    assert trace.outcome == "answered", trace.reason
    assert trace.reply == "Gerald is thriving. He doubled overnight!"
    assert sink.sent == [("Gerald is thriving. He doubled overnight!", "m1")]
    assert speaker.said == ["Gerald is thriving.", "He doubled overnight!"]
    assert trace.spoken == speaker.said
    assert trace.hits == [hit]
    assert rewriter.requests[0].hits == [hit]
    names = [s.name for s in trace.stages]
    assert {"recall", "simulate", "fuse", "speak", "guard", "post"} <= set(names)
    assert all(s.end >= s.start for s in trace.stages)
    # the rewriter's prompt for the reply is in the trace
    assert trace.prompt == rewriter.prompt(rewriter.requests[0])
    assert "twin how is gerald?" in trace.prompt


async def test_pipelined_stops_the_simulation_after_the_look_ahead() -> None:
    simulator = ScriptedSimulator(LINES)
    trace = await make_turn(simulator, ScriptedRewriter("ok then"), lookahead=1).run()
    # the twin's first line plus one line of look-ahead, then the simulation is closed
    assert [line.text for line in trace.sim_lines] == [LINES[0].text, LINES[1].text]
    assert simulator.yielded == 2
    assert simulator.closed == 1


async def test_sequential_simulates_everything_first() -> None:
    simulator = ScriptedSimulator(LINES)
    trace = await make_turn(simulator, ScriptedRewriter("ok"), mode="sequential").run()
    assert len(trace.sim_lines) == len(LINES)
    assert trace.outcome == "answered"


async def test_no_twin_line_means_silence() -> None:
    only_viewers = [SimLine(speaker="viewer", text="hm", is_twin=False)]
    rewriter = ScriptedRewriter("never used")
    trace = await make_turn(ScriptedSimulator(only_viewers), rewriter).run()
    assert trace.outcome == "silent"
    assert "no line for the twin" in trace.reason
    assert rewriter.requests == []


async def test_simulator_down_gives_no_reply_and_a_reason() -> None:
    sink = RecordingSink()
    trace = await make_turn(
        ScriptedSimulator(LINES, fail_after=0), ScriptedRewriter("x"), sink=sink
    ).run()
    assert trace.outcome == "failed"
    assert "SimulatorUnavailable" in trace.reason
    assert sink.sent == []


async def test_rewriter_down_falls_back_to_the_simulated_line() -> None:
    sink = RecordingSink()
    trace = await make_turn(
        ScriptedSimulator(LINES), ScriptedRewriter("x", fail=True), sink=sink
    ).run()
    assert trace.outcome == "answered"
    assert trace.reply == LINES[0].text
    assert "rewriter unavailable" in trace.reason
    assert sink.sent == [(LINES[0].text, "m1")]


async def test_guard_blocks_and_nothing_is_posted() -> None:
    sink = RecordingSink()
    trace = await make_turn(
        ScriptedSimulator(LINES),
        ScriptedRewriter("you are a bananas person"),
        sink=sink,
        guard=GuardSettings(blocklist=["bananas"]),
    ).run()
    assert trace.outcome == "blocked"
    assert sink.sent == []
    assert any(v.action == "blocked" for v in trace.guard)


# A twin that talks at length: its simulated line lets a reply run to 2.5 times as long (see
# cohost.pipeline.quality.reply_cap), past one chat message. The texts say nothing twice: a
# sentence said over and over is a runaway, cut to its first saying.
LONG_TWIN = [
    SimLine(
        speaker="twin",
        text="honestly the map is cursed, gerald is thriving on the counter, the boss took "
        "forever, chat was counting every death out loud, and we still have the charity marathon "
        "to plan for next month, so yes it has been a long and very weird week here",
        is_twin=True,
    ),
    *LINES[1:],
]
LONG_REPLY = (
    "Gerald the sourdough starter doubled overnight again. "
    "Yesterday the boss fight took forty tries before it fell. "
    "Chat voted for the cursed map, so that comes next week. "
    "My cat knocked the microphone over during the raid. "
    "Tomorrow we bake rye bread live, with a timer on screen. "
    "Somebody asked about the keyboard: it is loud and blue. "
    "The speedrun route skips the whole second dungeon now. "
    "Thanks for the subs, every single one of you is great. "
    "Hydrate, stretch, and remember the stream ends at ten. "
    "Next month brings a charity marathon for the shelter."
)


async def test_long_reply_is_split_for_chat() -> None:
    sink = RecordingSink()
    trace = await make_turn(
        ScriptedSimulator(LONG_TWIN), ScriptedRewriter(LONG_REPLY), sink=sink
    ).run()
    assert trace.outcome == "answered"
    assert len(sink.sent) == 2
    assert all(len(text) <= 500 for text, _ in sink.sent)
    assert sink.sent[0][1] == "m1" and sink.sent[1][1] is None  # only the first is threaded


async def test_cancelled_turn_closes_its_streams_and_says_so() -> None:
    simulator = ScriptedSimulator(LINES)
    rewriter = ScriptedRewriter("one two three four five six seven eight nine ten", delay=0.05)
    speaker = RecordingSpeaker(delay=0.05)
    sink = RecordingSink()
    turn = make_turn(simulator, rewriter, speaker=speaker, sink=sink)
    task = asyncio.create_task(turn.run())
    await asyncio.sleep(0.12)  # inside the rewriter's stream
    turn.cancel_reason("skip from a moderator")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    trace = turn.trace
    assert trace.outcome == "cancelled"
    assert trace.reason == "skip from a moderator"
    assert rewriter.closed == 1
    assert simulator.closed == 1
    assert speaker.stops == 1
    assert sink.sent == []
    assert any(s.name == "fuse" for s in trace.stages)


async def test_cancelled_while_simulating_closes_the_simulation() -> None:
    simulator = ScriptedSimulator(LINES, delay=0.1)
    rewriter = ScriptedRewriter("never")
    turn = make_turn(simulator, rewriter)
    task = asyncio.create_task(turn.run())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert simulator.closed == 1
    assert rewriter.requests == []
    assert turn.trace.outcome == "cancelled"
    assert turn.trace.reason


async def test_sequential_speaks_only_once_the_reply_is_whole() -> None:
    speaker = RecordingSpeaker()
    rewriter = ScriptedRewriter("First sentence here. Second one follows.", delay=0.01)
    spoken_while_streaming: list[int] = []
    original = rewriter.stream

    async def watched(request):  # type: ignore[no-untyped-def]
        async for piece in original(request):
            spoken_while_streaming.append(len(speaker.said))
            yield piece

    rewriter.stream = watched  # type: ignore[method-assign]
    trace = await make_turn(
        ScriptedSimulator(LINES), rewriter, speaker=speaker, mode="sequential"
    ).run()
    assert trace.outcome == "answered"
    assert set(spoken_while_streaming) == {0}  # nothing spoken before the reply was whole
    assert speaker.said == ["First sentence here.", "Second one follows."]


async def test_sequential_without_a_twin_line_does_not_fuse_or_speak() -> None:
    only_viewers = [SimLine(speaker="viewer", text="hm", is_twin=False)]
    speaker, rewriter = RecordingSpeaker(), ScriptedRewriter("Hello there. All good.")
    trace = await make_turn(
        ScriptedSimulator(only_viewers), rewriter, speaker=speaker, mode="sequential"
    ).run()
    assert trace.outcome == "silent"
    assert rewriter.requests == [] and speaker.said == []


async def test_rewriter_fallback_is_spoken_too() -> None:
    speaker = RecordingSpeaker()
    lines = [SimLine(speaker="twin", text="Gerald is fine. He is bubbly.", is_twin=True)]
    trace = await make_turn(
        ScriptedSimulator(lines), ScriptedRewriter("x", fail=True), speaker=speaker
    ).run()
    assert trace.outcome == "answered"
    assert speaker.said == ["Gerald is fine.", "He is bubbly."]


PRIVATE = Hit(
    entry_id="moving",
    title="Moving to Berlin",
    text="We moved to Berlin last spring and my sister hates it there.",
    score=0.9,
    tier=Tier.PRIVATE,
)


async def test_private_runs_across_sentences_are_never_spoken() -> None:
    speaker, sink = RecordingSpeaker(), RecordingSink()
    leaky = (
        "Well. We moved to Berlin last spring. And my sister hates it there. Fun times all round."
    )
    trace = await make_turn(
        ScriptedSimulator(LINES),
        ScriptedRewriter(leaky),
        speaker=speaker,
        sink=sink,
        journal=StaticJournal([PRIVATE]),
    ).run()
    spoken = " ".join(speaker.said).lower()
    assert "moved to berlin last spring" not in spoken
    assert "sister hates it there" not in spoken
    assert "berlin" not in " ".join(text for text, _ in sink.sent).lower()
    assert any(v.rule == "privacy" and v.action != "pass" for v in trace.guard)


async def test_a_blocked_reply_keeps_no_text() -> None:
    trace = await make_turn(
        ScriptedSimulator(LINES),
        ScriptedRewriter("you are a bananas person"),
        guard=GuardSettings(blocklist=["bananas"]),
    ).run()
    assert trace.outcome == "blocked" and trace.reply == ""


class BrokenJournal:
    async def search(self, query: str, *, k: int) -> list[Hit]:
        raise OSError("the index file vanished")


async def test_an_unexpected_error_fails_the_turn_not_the_caller() -> None:
    turn = make_turn(ScriptedSimulator(LINES), ScriptedRewriter("ok"))
    turn.parts.journal = BrokenJournal()
    trace = await turn.run()
    assert trace.outcome == "failed"
    assert "OSError" in trace.reason


class SignallingSimulator(ScriptedSimulator):
    """Sets `simulated` once its first line is out."""

    def __init__(self, lines: list[SimLine]) -> None:
        super().__init__(lines)
        self.simulated = asyncio.Event()

    async def stream(self, request: SimRequest) -> AsyncGenerator[SimLine, None]:
        async for line in super().stream(request):
            yield line
            self.simulated.set()


class GatedJournal:
    """Answers only once a line has been simulated: recall must not hold the simulation up."""

    def __init__(self, simulated: asyncio.Event, hits: list[Hit]) -> None:
        self.simulated = simulated
        self.hits = hits
        self.cancelled = False

    async def search(self, query: str, *, k: int) -> list[Hit]:
        try:
            await self.simulated.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return self.hits


async def test_pipelined_recall_runs_while_the_twin_model_simulates() -> None:
    simulator = SignallingSimulator(LINES)
    hit = Hit(entry_id="e1", title="Gerald", text="Gerald doubled.", score=0.8, tier=Tier.PUBLIC)
    rewriter = ScriptedRewriter("Gerald doubled overnight.")
    turn = make_turn(simulator, rewriter)
    turn.parts.journal = GatedJournal(simulator.simulated, [hit])
    trace = await asyncio.wait_for(turn.run(), timeout=10)  # in turn, they would wait forever
    assert trace.outcome == "answered", trace.reason
    assert rewriter.requests[0].hits == [hit]  # fusion waited for the hits
    stages = {s.name: s for s in trace.stages}
    assert stages["recall"].end <= stages["fuse"].start


async def test_sequential_recalls_before_it_simulates() -> None:
    simulator = SignallingSimulator(LINES)
    turn = make_turn(simulator, ScriptedRewriter("ok"), mode="sequential")
    turn.parts.journal = GatedJournal(simulator.simulated, [])
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(turn.run(), timeout=0.2)  # the baseline: one stage at a time


async def test_a_failing_recall_fails_a_pipelined_turn_after_the_simulation() -> None:
    simulator = ScriptedSimulator(LINES)
    rewriter = ScriptedRewriter("ok")
    turn = make_turn(simulator, rewriter)
    turn.parts.journal = BrokenJournal()
    trace = await turn.run()
    assert trace.outcome == "failed" and "OSError" in trace.reason
    assert simulator.closed == 1
    assert rewriter.requests == []  # nothing is fused without the journal's verdict


class SlowlyFailingSimulator(ScriptedSimulator):
    async def stream(self, request: SimRequest) -> AsyncGenerator[SimLine, None]:
        await asyncio.sleep(0.05)  # recall has started by now
        raise SimulatorUnavailable("refused")
        yield LINES[0]  # an async generator, as the port's are


async def test_a_failing_simulation_cancels_the_recall_still_running() -> None:
    simulator = SlowlyFailingSimulator(LINES)
    journal = GatedJournal(asyncio.Event(), [])
    turn = make_turn(simulator, ScriptedRewriter("ok"))
    turn.parts.journal = journal
    trace = await asyncio.wait_for(turn.run(), timeout=10)
    assert trace.outcome == "failed" and "SimulatorUnavailable" in trace.reason
    assert journal.cancelled
    assert "fuse" not in {s.name for s in trace.stages}  # nothing was fused: no fuse time


class _HeldVoice(RecordingSpeaker):
    """A voice still saying its first sentence until the test lets it go on."""

    def __init__(self) -> None:
        super().__init__()
        self.go_on = asyncio.Event()

    async def say(self, sentence: str, *, turn_id: str) -> None:
        await self.go_on.wait()
        await super().say(sentence, turn_id=turn_id)


async def test_the_chat_post_never_waits_for_the_voice() -> None:
    # the voice is slower than any model: a reply of many sentences is posted while the first
    # is still being said, and every sentence is still said after
    sentences = split_sentences(LONG_REPLY)
    sink, speaker = RecordingSink(), _HeldVoice()
    turn = make_turn(
        ScriptedSimulator(LONG_TWIN), ScriptedRewriter(LONG_REPLY), speaker=speaker, sink=sink
    )
    running = asyncio.create_task(turn.run())
    async with asyncio.timeout(10):
        while not sink.sent:  # noqa: ASYNC110 (the sink's record)
            await asyncio.sleep(0)
    assert speaker.said == []
    speaker.go_on.set()
    trace = await running
    assert trace.outcome == "answered"
    assert speaker.said == sentences


class _SwitchedMidReply(ScriptedRewriter):
    """Streams its reply; after the first word, a moderator flips a switch."""

    def __init__(self, reply: str, flip: Callable[[], None]) -> None:
        super().__init__(reply)
        self.flip = flip

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        first = True
        async for piece in super().stream(request):
            yield piece
            if first:
                first = False
                self.flip()


def _live_turn(state: TwinState, rewriter: ScriptedRewriter, sink: RecordingSink) -> Turn:
    parts = TurnParts(
        simulator=ScriptedSimulator(LINES),
        rewriter=rewriter,
        guard=Guard(GuardSettings()),
        clock=VirtualClock(1000.0),
        sink=sink,
        speaker=RecordingSpeaker(),
        state=state,
    )
    options = TurnOptions(twin="twin", voice=state.voice, chat=state.chat, hold=state.hold)
    msg = message("twin how is gerald?", id="m1")
    return Turn(parts, options, picked(msg), [msg])


REPLY = "Gerald is thriving. He doubled overnight and the jar is too small now."


async def test_chat_off_while_a_reply_streams_keeps_it_out_of_chat() -> None:
    state, sink = TwinState(), RecordingSink()
    turn = _live_turn(state, _SwitchedMidReply(REPLY, lambda: setattr(state, "chat", False)), sink)
    trace = await turn.run()
    assert sink.sent == []
    assert trace.sent == []
    assert trace.reply == REPLY  # the reply itself is kept in the trace


async def test_hold_on_while_a_reply_streams_holds_it_for_approval() -> None:
    state, sink = TwinState(), RecordingSink()
    turn = _live_turn(state, _SwitchedMidReply(REPLY, lambda: setattr(state, "hold", True)), sink)
    trace = await turn.run()
    assert sink.sent == []
    assert trace.outcome == "held"
    assert trace.reply == REPLY


async def test_the_bus_never_carries_a_private_entrys_title_or_id() -> None:
    private = Hit(
        entry_id="Divorce lawyer meeting",  # the file name, made from the title
        title="Divorce lawyer meeting",
        text="Thursday at ten, do not mention it on stream.",
        score=0.9,
        tier=Tier.PRIVATE,
    )
    public = Hit(
        entry_id="gerald", title="Gerald", text="Gerald doubled.", score=0.8, tier=Tier.PUBLIC
    )
    bus = LocalBus()
    seen: list[tuple[str, dict[str, object]]] = []
    bus.subscribe(lambda topic, payload: seen.append((topic, payload)))
    turn = make_turn(
        ScriptedSimulator(LINES),
        ScriptedRewriter("Gerald is thriving."),
        journal=StaticJournal([private, public]),
    )
    turn.parts.bus = bus
    await turn.run()
    [hits] = [payload["hits"] for topic, payload in seen if topic == "turn/hits"]
    assert hits == [
        {"entry_id": None, "title": "(private entry)", "tier": "private", "score": 0.9},
        {"entry_id": "gerald", "title": "Gerald", "tier": "public", "score": 0.8},
    ]
    assert "Divorce" not in repr(seen)


async def test_a_run_on_sentence_is_said_in_parts_a_caption_can_show() -> None:
    run_on = (  # no stop, 450 characters
        "and then we went back to the cursed map where the lava floor kept eating our boots "
        "while gerald watched from the counter like a tiny bread king judging every single jump "
        "and somebody in chat kept counting deaths out loud so the whole crew started a "
        "sweepstake on the final number which nobody won because the stream crashed right before "
        "the last boss fell over in the corner of that room while the raid sat there laughing"
    )
    speaker = RecordingSpeaker()
    trace = await make_turn(
        ScriptedSimulator(LONG_TWIN),
        ScriptedRewriter(run_on),
        speaker=speaker,
        sink=RecordingSink(),
    ).run()
    assert trace.outcome == "answered"
    assert len(speaker.said) >= 3
    assert all(len(part) <= SPEECH_CHUNK_CHARS for part in speaker.said)
    assert " ".join(speaker.said) == run_on  # every word said, in order


class _CountingRewriter(ScriptedRewriter):
    """Counts the words it streamed, to show where the turn stopped reading."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.streamed = 0

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        async for piece in super().stream(request):
            self.streamed += 1
            yield piece


@pytest.mark.parametrize("mode", ["pipelined", "sequential"])
async def test_a_reply_written_as_chat_keeps_only_the_twins_words(mode: str) -> None:
    speaker, sink = RecordingSpeaker(), RecordingSink()
    # zed speaks only in the simulation, not in the chat the turn saw
    lines = [LINES[0], SimLine(speaker="zed", text="who is gerald", is_twin=False), *LINES[2:]]
    rewriter = _CountingRewriter(
        'twin: "Gerald is thriving. He doubled overnight!"\nzed: wow so cool\ntwin: more'
    )
    trace = await make_turn(
        ScriptedSimulator(lines), rewriter, speaker=speaker, sink=sink, mode=mode
    ).run()
    assert trace.outcome == "answered", trace.reason
    assert trace.reply == "Gerald is thriving. He doubled overnight!"
    assert sink.sent == [("Gerald is thriving. He doubled overnight!", "m1")]
    assert speaker.said == ["Gerald is thriving.", "He doubled overnight!"]
    shaped = [v for v in trace.guard if v.rule == "twin_only"]
    assert [v.action for v in shaped] == ["changed"]
    assert "from 'zed' on" in shaped[0].detail
    # the viewer's line ended the reply (known at its first word): the stream was closed there
    assert rewriter.streamed == 8 < len(rewriter.reply.split(" "))
    assert rewriter.closed == 1


async def test_a_template_token_between_words_hides_no_run_from_the_voice() -> None:
    # Each sentence alone holds under eight of the entry's words: only the run across them
    # shows the leak, and the token the model put in it must not break that run.
    entry = Hit(
        entry_id="lawyer",
        title="Tuesday",
        text="Met the divorce lawyer on Tuesday and she said the house goes to Mark.",
        score=0.9,
        tier=Tier.PRIVATE,
    )
    speaker = RecordingSpeaker()
    rewriter = ScriptedRewriter(
        "Met the divorce lawyer on </s> Tuesday. And she said the house goes."
    )
    trace = await make_turn(
        ScriptedSimulator(LINES), rewriter, speaker=speaker, journal=StaticJournal([entry])
    ).run()
    assert speaker.said == []
    assert trace.spoken == []
