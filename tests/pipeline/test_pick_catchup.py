"""The catch-up queue: questions held back while chat floods are answered when it calms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from cohost.core.clock import VirtualClock
from cohost.core.events import Decision, Moderation, SimLine, TurnTrace
from cohost.core.options import GuardSettings, PickerSettings, TwinSettings
from cohost.core.ports import FusionRequest
from cohost.core.state import TwinState
from cohost.pipeline.catchup import CatchUp
from cohost.pipeline.conductor import Conductor
from cohost.pipeline.deliver import RecordingSink
from cohost.pipeline.guard import Guard
from cohost.pipeline.pick import Picker
from cohost.pipeline.turn import TurnOptions, TurnParts
from tests.fakes import ScriptedRewriter, ScriptedSimulator, message

T0 = 1000.0


class EchoingRewriter(ScriptedRewriter):
    """A different reply for each message, so no reply repeats the one before."""

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        self.reply = f"my answer to {request.message.login} is this"
        async for piece in super().stream(request):
            yield piece


def held(
    text: str, *, login: str, ts: float, score: float = 1.2, category: str = "rate"
) -> Decision:
    parts = (("question", 1.0), ("substance", round(score - 1.0, 6)))
    return Decision(
        message=message(text, login=login, ts=ts, id=f"{login}-{ts}"),
        picked=False,
        score=score,
        parts=parts,
        reason="Held back: rate",
        category=category,
    )


def queue(**overrides: float) -> CatchUp:
    options: dict[str, float] = {
        "size": 3,
        "fresh_s": 60.0,
        "calm_per_minute": 10.0,
        "calm_s": 15.0,
        "window_s": 30.0,
    }
    options.update(overrides)
    return CatchUp(
        size=int(options["size"]),
        fresh_s=options["fresh_s"],
        calm_per_minute=options["calm_per_minute"],
        calm_s=options["calm_s"],
        window_s=options["window_s"],
    )


# --- the queue alone -------------------------------------------------------------------------


def test_chat_is_busy_at_the_calm_rate_and_calm_only_after_calm_s() -> None:
    q = queue()  # 10 a minute over 30 s: busy at 5 messages within 30 s
    for i in range(5):
        q.heard(T0 + i)
    # busy until the first of the five leaves the window (T0 + 30), then calm 15 s later
    assert q.calm_since() == T0 + 30
    assert not q.is_calm(T0 + 44.9)
    assert q.is_calm(T0 + 45)
    q.heard(T0 + 40)  # one more, but only 1 in the last 30 s by then: still calming
    assert q.calm_since() == T0 + 30


def test_four_messages_in_thirty_seconds_is_not_busy() -> None:
    q = queue()
    for i in range(4):
        q.heard(T0 + i * 5)
    assert q.is_calm(T0 + 15)  # never busy: calm from the start


def test_only_questions_held_by_the_rate_rules_wait() -> None:
    q = queue()
    assert q.offer(held("what game is this", login="a", ts=T0), T0)[0]
    assert q.offer(held("is it any good", login="b", ts=T0, category="gap"), T0)[0]
    cooled = held("why though", login="c", ts=T0, category="cooldown")
    assert not q.offer(cooled, T0)[0]
    banter = Decision(
        message=message("gg", login="d", ts=T0),
        picked=False,
        score=1.0,
        parts=(("to_streamer", 1.0),),
        reason="Held back",
        category="rate",
    )
    assert not q.offer(banter, T0)[0]
    assert len(q) == 2


def test_the_queue_is_bounded_and_keeps_the_best() -> None:
    q = queue(size=2)
    q.offer(held("what map is next", login="a", ts=T0, score=1.2), T0)
    q.offer(held("how long is the stream", login="b", ts=T0 + 1, score=1.5), T0 + 1)
    waits, dropped = q.offer(held("who won", login="c", ts=T0 + 2, score=1.1), T0 + 2)
    assert not waits  # the worst of three: it is the one that goes
    assert [d.decision.message.login for d in dropped] == ["c"]
    assert "full" in dropped[0].reason
    waits, dropped = q.offer(held("what is the seed", login="d", ts=T0 + 3, score=1.3), T0 + 3)
    assert waits and [d.decision.message.login for d in dropped] == ["a"]
    assert [d.message.login for d in q.waiting] == ["b", "d"]


def test_one_question_per_viewer_waits() -> None:
    q = queue()
    q.offer(held("what game", login="a", ts=T0, score=1.1), T0)
    waits, dropped = q.offer(held("what game is this one", login="a", ts=T0 + 1, score=1.3), T0)
    assert waits and len(q) == 1 and dropped[0].decision.score == 1.1
    assert not q.offer(held("ok", login="a", ts=T0 + 2, score=1.0), T0 + 2)[0]


def test_due_waits_for_calm_then_gives_the_best_fresh_one_and_drops_the_stale() -> None:
    q = queue(fresh_s=60.0)
    for i in range(10):
        q.heard(T0 + i)  # a flood: busy until T0 + 5 + 30
    q.offer(held("old question here", login="a", ts=T0, score=2.0), T0)
    q.offer(held("newer question here", login="b", ts=T0 + 30, score=1.2), T0 + 30)
    q.offer(held("best fresh question", login="c", ts=T0 + 31, score=1.5), T0 + 31)
    assert q.due(T0 + 40) == (None, [])  # still busy
    assert q.due(T0 + 49) == (None, [])  # calm since T0 + 35, not for 15 s yet
    best, dropped = q.due(T0 + 65)
    # the best-scored one went stale (65 s > 60 s) and is dropped with a reason
    assert [d.decision.message.login for d in dropped] == ["a"]
    assert "waited 65 s" in dropped[0].reason
    assert best is not None and best.message.login == "c"
    best, _ = q.due(T0 + 66)
    assert best is not None and best.message.login == "b"
    assert q.due(T0 + 67) == (None, [])


def test_put_back_and_moderation() -> None:
    q = queue()
    decision = held("what is the build", login="a", ts=T0)
    q.offer(decision, T0)
    taken, _ = q.due(T0 + 1)
    assert taken is decision and len(q) == 0
    q.put_back(decision)
    q.put_back(decision)
    assert len(q) == 1
    assert q.remove(lambda m: m.login == "a") == 1 and len(q) == 0


def test_settings_size_zero_means_no_queue_and_bad_values_are_refused() -> None:
    assert CatchUp.for_settings(PickerSettings(queue_size=0)) is None
    made = CatchUp.for_settings(PickerSettings(queue_size=5, queue_fresh_s=90))
    assert made is not None and made.size == 5 and made.fresh_s == 90
    with pytest.raises(ValueError, match="at least one"):
        queue(size=0)
    with pytest.raises(ValueError, match="positive"):
        queue(fresh_s=0)


# --- driven by the conductor, on a fake clock -------------------------------------------------


def conductor(
    clock: VirtualClock, *, group: asyncio.TaskGroup | None = None, **picker: float
) -> tuple[Conductor, RecordingSink, list[Decision], list[TurnTrace]]:
    sink = RecordingSink()
    decisions: list[Decision] = []
    traces: list[TurnTrace] = []
    settings = PickerSettings(
        replies_per_minute=1,
        min_gap_s=0,
        user_cooldown_s=0,
        freshness_s=20,
        queue_size=2,
        queue_fresh_s=150,
        queue_calm_per_minute=10,
        queue_calm_s=10,
        **picker,
    )
    made = Conductor(
        picker=Picker(settings, TwinSettings(name="twin")),
        parts=TurnParts(
            simulator=ScriptedSimulator([SimLine(speaker="twin", text="ok", is_twin=True)]),
            rewriter=EchoingRewriter(""),
            guard=Guard(GuardSettings()),
            clock=clock,
            sink=sink,
        ),
        options=TurnOptions(twin="twin"),
        state=TwinState(),
        inline=group is None,
        group=group,
        on_decision=decisions.append,
        on_trace=traces.append,
    )
    return made, sink, decisions, traces


async def flood(made: Conductor, clock: VirtualClock, start: float, seconds: int) -> None:
    """Two chat lines a second of banter, no questions."""
    for i in range(seconds * 2):
        clock.advance_to(start + i / 2)
        await made.handle(message(f"KEKW that was wild {i}", login=f"fan{i % 7}", ts=clock.now()))


async def test_a_flood_queues_questions_and_the_calm_answers_the_best_fresh_one() -> None:
    clock = VirtualClock(T0)
    made, sink, decisions, traces = conductor(clock)
    await made.handle(message("what game is this", login="first", ts=T0, id="q0"))
    assert [t.decision.message.id for t in traces] == ["q0"]  # one reply a minute
    await flood(made, clock, T0 + 1, 5)
    clock.advance_to(T0 + 6)
    asks = [
        ("what is the seed of this run", "a", 1.2),
        ("twin how long have you been streaming", "b", 3.2),
        ("which map is next?", "c", 1.0),
    ]
    for i, (text, login, _) in enumerate(asks):
        await made.handle(message(text, login=login, ts=clock.now(), id=f"q{i + 1}"))
    by_id = {d.message.id: d for d in decisions}
    assert by_id["q1"].category == "queued" and "waits for chat to calm" in by_id["q1"].reason
    assert by_id["q2"].category == "queued"
    # a queue of two keeps the best two: "which map is next?" goes, with its reason
    dropped = [d for d in decisions if d.category == "dropped"]
    assert [d.message.id for d in dropped] == ["q3"] and "full" in dropped[0].reason
    await flood(made, clock, T0 + 7, 40)  # still busy past the rate window: nothing answered
    assert [t.decision.message.id for t in traces] == ["q0"]
    assert made.catchup is not None and len(made.catchup) == 2
    # chat calms: one quiet line 15 s after the flood (calm since its busy end + 10 s)
    clock.advance_to(T0 + 47 + 30 + 10)
    await made.handle(message("nice", login="lurker", ts=clock.now()))
    assert [t.decision.message.id for t in traces] == ["q0", "q2"]  # the best one first
    caught = traces[-1].decision
    assert caught.picked and "waited" in caught.reason and "calm" in caught.reason
    assert sink.sent[-1][1] == "q2"
    # the other still waits: one reply a minute, then it is answered
    assert len(made.catchup) == 1
    clock.advance_to(T0 + 117)
    await made.handle(message("so quiet", login="lurker2", ts=clock.now()))
    assert [t.decision.message.id for t in traces] == ["q0", "q2"]  # 30 s: the rate holds
    clock.advance_to(T0 + 148)
    await made.handle(message("hello", login="lurker3", ts=clock.now()))
    assert [t.decision.message.id for t in traces] == ["q0", "q2", "q1"]
    assert "waited 142 s" in traces[-1].decision.reason
    assert len(made.catchup) == 0


async def test_a_question_that_waits_too_long_is_dropped_with_its_reason() -> None:
    clock = VirtualClock(T0)
    made, _, decisions, traces = conductor(clock)
    await made.handle(message("what game is this", login="first", ts=T0, id="q0"))
    await made.handle(message("what is the seed here", login="a", ts=T0 + 1, id="q1"))
    assert decisions[-1].category == "queued"
    await flood(made, clock, T0 + 2, 160)  # chat never calms
    assert [t.decision.message.id for t in traces] == ["q0"]
    stale = [d for d in decisions if d.category == "dropped" and d.message.id == "q1"]
    assert len(stale) == 1 and "waited 15" in stale[0].reason
    assert "(the limit is 150 s)" in stale[0].reason
    assert made.catchup is not None and len(made.catchup) == 0


async def test_the_live_loop_catches_up_without_new_chat() -> None:
    clock = VirtualClock(T0)
    async with asyncio.TaskGroup() as group:
        made, _, decisions, traces = conductor(clock, group=group)
        loop = group.create_task(made.catch_up_when_calm(tick_s=1.0))
        await made.handle(message("twin what is this game", login="first", ts=T0, id="q0"))
        await made.drain()
        await flood(made, clock, T0 + 1, 10)
        await made.handle(message("twin what rank are you", login="a", ts=clock.now(), id="q1"))
        assert decisions[-1].category == "queued"
        # no more chat: the loop's ticks move the fake clock on until chat is calm and the
        # minute's rate has passed, then it answers
        for _ in range(200):
            await asyncio.sleep(0)
            if len(traces) == 2:
                break
        await made.drain()
        assert [t.decision.message.id for t in traces] == ["q0", "q1"]
        assert clock.now() - T0 >= 60  # not before the rate allowed it
        made.close()
        await loop


async def test_moderation_takes_a_waiting_question_out() -> None:
    clock = VirtualClock(T0)
    made, _, _, traces = conductor(clock)
    await made.handle(message("what game is this", login="first", ts=T0, id="q0"))
    await made.handle(message("what is your rank here", login="troll", ts=T0 + 1, id="q1"))
    assert made.catchup is not None and len(made.catchup) == 1
    await made.handle(Moderation(kind="timeout", channel="chan", ts=T0 + 2, target_login="troll"))
    assert len(made.catchup) == 0
    clock.advance_to(T0 + 70)
    await made.handle(message("anyone here", login="x", ts=clock.now()))
    assert [t.decision.message.id for t in traces] == ["q0"]


async def test_a_viewer_forgotten_leaves_the_window_and_the_queue() -> None:
    clock = VirtualClock(T0)
    made, _, _, traces = conductor(clock)
    await made.handle(message("what game is this", login="first", ts=T0, id="q0"))
    await made.handle(message("what is your rank here", login="Shy", ts=T0 + 1, id="q1"))
    assert made.catchup is not None and len(made.catchup) == 1
    assert made.forget_login("SHY")  # `!twin forget me`: nothing of theirs waits
    assert len(made.catchup) == 0
    assert all(m.login.lower() != "shy" for m in made.window)
    assert not made.forget_login("shy")  # nothing left to forget
    clock.advance_to(T0 + 70)
    await made.handle(message("anyone here", login="x", ts=clock.now()))
    assert [t.decision.message.id for t in traces] == ["q0"]
