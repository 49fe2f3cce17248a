"""The conductor: window, picker, state, moderation, and one turn at a time."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest

from cohost.core.clock import VirtualClock
from cohost.core.events import (
    Cancel,
    Decision,
    Moderation,
    Role,
    SimLine,
    TurnTrace,
    UserNotice,
    UserNoticeKind,
)
from cohost.core.options import GuardSettings, PickerSettings, TwinSettings
from cohost.core.state import TwinState
from cohost.pipeline.conductor import Conductor
from cohost.pipeline.deliver import RecordingSink
from cohost.pipeline.guard import Guard
from cohost.pipeline.pick import Picker
from cohost.pipeline.turn import TurnOptions, TurnParts
from tests.fakes import RecordingSpeaker, ScriptedRewriter, ScriptedSimulator, message

LINES = [SimLine(speaker="twin", text="sure thing", is_twin=True)]


def make(
    *,
    inline: bool = True,
    group: asyncio.TaskGroup | None = None,
    rewriter: ScriptedRewriter | None = None,
    state: TwinState | None = None,
    chat_ready: Callable[[], bool] | None = None,
) -> tuple[Conductor, RecordingSink, list[Decision], list[TurnTrace], VirtualClock]:
    clock = VirtualClock(1000.0)
    sink = RecordingSink()
    decisions: list[Decision] = []
    traces: list[TurnTrace] = []
    conductor = Conductor(
        picker=Picker(PickerSettings(min_gap_s=0, user_cooldown_s=0), TwinSettings(name="twin")),
        parts=TurnParts(
            simulator=ScriptedSimulator(LINES),
            rewriter=rewriter or ScriptedRewriter("sure thing"),
            guard=Guard(GuardSettings()),
            clock=clock,
            sink=sink,
        ),
        options=TurnOptions(twin="twin"),
        state=state or TwinState(),
        inline=inline,
        group=group,
        on_decision=decisions.append,
        on_trace=traces.append,
        chat_ready=chat_ready,
    )
    return conductor, sink, decisions, traces, clock


async def test_a_picked_message_is_answered_and_traced() -> None:
    conductor, sink, decisions, traces, _ = make()
    decision = await conductor.handle(message("twin, what are we playing?", ts=1000.0, id="a"))
    assert decision is not None and decision.picked
    assert sink.sent == [("sure thing", "a")]
    assert [t.outcome for t in traces] == ["answered"]
    assert traces[0].decision.message.id == "a"
    assert list(conductor.window)[-1].id == "a"
    assert decisions == [decision]


async def test_paused_twin_decides_but_does_not_answer() -> None:
    conductor, sink, _, traces, _ = make(state=TwinState(paused=True))
    decision = await conductor.handle(message("twin, what are we playing?"))
    assert decision is not None and not decision.picked
    assert decision.category == "paused"
    assert sink.sent == [] and traces == []


async def test_voice_and_chat_switches_reach_the_turn() -> None:
    conductor, sink, _, traces, _ = make(state=TwinState(chat=False))
    await conductor.handle(message("twin, what are we playing?"))
    assert traces[0].outcome == "answered"
    assert sink.sent == []  # chat off: the reply is traced, not posted


async def test_moderation_removes_messages_from_the_window() -> None:
    conductor, _, _, _, _ = make()
    await conductor.handle(message("hello there", login="alice", id="1"))
    await conductor.handle(message("bad words", login="bob", id="2"))
    await conductor.handle(message("more from alice", login="alice", id="3"))
    await conductor.handle(
        Moderation(kind="delete", channel="chan", ts=1000.0, target_message_id="3")
    )
    assert [m.id for m in conductor.window] == ["1", "2"]
    await conductor.handle(
        Moderation(kind="timeout", channel="chan", ts=1000.0, target_login="bob")
    )
    assert [m.id for m in conductor.window] == ["1"]
    await conductor.handle(Moderation(kind="clear", channel="chan", ts=1000.0))
    assert list(conductor.window) == []


async def test_a_resub_message_joins_chat() -> None:
    conductor, _, decisions, _, _ = make()
    notice = UserNotice(
        id="n1",
        channel="chan",
        kind="resub",
        msg_id="resub",
        login="carol",
        display_name="Carol",
        text="twin did you miss me?",
        system_text="Carol subscribed for 5 months",
        ts=1000.0,
        roles=frozenset({Role.SUBSCRIBER}),
        months=5,
    )
    decision = await conductor.handle(notice)
    assert decision is not None and decision.message.notice == "resub"
    assert decisions[0].message.text == "twin did you miss me?"


async def test_a_raid_or_sub_without_words_joins_chat_as_twitchs_line() -> None:
    conductor, sink, decisions, _, _ = make()

    def notice(
        kind: UserNoticeKind, system_text: str, n: int, *, in_community_gift: bool = False
    ) -> UserNotice:
        return UserNotice(
            id=f"n{n}", channel="chan", kind=kind, msg_id=kind, login="rita",
            display_name="Rita", text="", system_text=system_text, ts=1000.0 + n,
            in_community_gift=in_community_gift,
        )  # fmt: skip

    raid = await conductor.handle(notice("raid", "Rita is raiding with a party of 25.", 1))
    assert raid is not None and raid.picked, raid
    assert raid.message.text == "Rita is raiding with a party of 25."
    assert dict(raid.parts)["support"] == 1.0
    assert sink.sent[0][1] is None  # a reply threads under chat messages only, not a notice
    # the streamer's own announcement, or anything else, without words: not chat
    assert await conductor.handle(notice("announcement", "Rita: stream at 8", 2)) is None
    assert await conductor.handle(notice("other", "Rita is paying it forward", 3)) is None
    # one of a community gift's many single subs: the gift's own notice stands for them
    one_of_many = notice("subgift", "Rita gifted a sub to Bo!", 4, in_community_gift=True)
    assert await conductor.handle(one_of_many) is None
    gift = await conductor.handle(notice("submysterygift", "Rita is gifting 50 subs!", 5))
    assert gift is not None and gift.message.text == "Rita is gifting 50 subs!"
    # a gift of one sub, straight to someone: thanked like any sub
    single = await conductor.handle(notice("subgift", "Rita gifted a sub to Cy!", 6))
    assert single is not None and single.message.text == "Rita gifted a sub to Cy!"
    assert len(decisions) == 3


class _Boom(Exception):
    pass


async def test_a_turn_ended_by_an_aborting_task_group_is_still_traced() -> None:
    # a revoked token ends the daemon's task group while a turn runs and a pick waits
    traces: list[TurnTrace] = []
    with pytest.raises(ExceptionGroup) as caught:
        async with asyncio.TaskGroup() as group:
            slow = ScriptedRewriter("a b c d e f g h i j", delay=0.05)
            conductor, _, _, traces, _ = make(inline=False, group=group, rewriter=slow)
            await conductor.handle(message("twin hi", login="a", id="1"))
            await asyncio.sleep(0.01)
            await conductor.handle(message("twin hello", login="b", id="2"))  # next up
            raise _Boom
    assert [type(e) for e in caught.value.exceptions] == [_Boom]
    assert [(t.decision.message.id, t.outcome) for t in traces] == [("1", "cancelled")]


async def test_busy_daemon_skips_a_weaker_pick_and_preempts_for_a_much_better_one() -> None:
    async with asyncio.TaskGroup() as group:
        slow = ScriptedRewriter("a b c d e f g h i j", delay=0.05)
        conductor, _, decisions, traces, _ = make(inline=False, group=group, rewriter=slow)
        first = await conductor.handle(message("twin hi", login="a", id="1"))
        assert first is not None and first.picked
        await asyncio.sleep(0.01)
        assert conductor.busy
        weaker = await conductor.handle(message("twin hi again", login="b", id="2"))
        assert weaker is not None and weaker.category == "busy"
        broadcaster = message(
            "twin, what do you think about the run so far?",
            login="streamer",
            id="3",
            roles=frozenset({Role.BROADCASTER}),
        )
        better = await conductor.handle(broadcaster)
        assert better is not None and better.picked
        await conductor.drain()
    outcomes = {t.decision.message.id: t for t in traces}
    assert outcomes["1"].outcome == "cancelled"
    assert "cut short by a better pick" in outcomes["1"].reason
    assert outcomes["1"].cancelled_by is Cancel.BETTER_PICK  # what the conductor reads
    assert outcomes["3"].outcome == "answered"
    # the weaker pick was next up: its turn ran once the streamer's ended (silent here only
    # because the scripted rewriter would repeat the reply it just gave)
    assert outcomes["2"].decision.reason.endswith("It waited for the turn before to end.")
    assert [t.decision.message.id for t in traces] == ["1", "3", "2"]
    assert [(d.message.id, d.category) for d in decisions] == [
        ("1", "picked"),
        ("2", "busy"),
        ("3", "picked"),
        ("2", "picked"),
    ]
    assert "waited for the turn before" in decisions[-1].reason


async def test_only_the_best_busy_pick_is_next_up_and_only_while_it_is_in_chat() -> None:
    async with asyncio.TaskGroup() as group:
        slow = ScriptedRewriter("a b c d e f g h i j", delay=0.05)
        conductor, _, decisions, traces, _ = make(inline=False, group=group, rewriter=slow)
        await conductor.handle(message("twin hi", login="a", id="1"))
        await asyncio.sleep(0.01)
        await conductor.handle(message("twin hello", login="b", id="2"))  # plain
        await conductor.handle(message("twin what game is this?", login="c", id="3"))  # a question
        await conductor.handle(message("twin hey", login="d", id="4"))  # weaker than the question
        await conductor.drain()
        assert [t.decision.message.id for t in traces] == ["1", "3"]

        # next up, then deleted by a moderator before its turn: never answered
        await conductor.handle(message("twin hi again", login="e", id="5"))
        await asyncio.sleep(0.01)
        await conductor.handle(message("twin how are you?", login="f", id="6"))
        deleted = Moderation(kind="delete", channel="c", ts=1000.0, target_message_id="6")
        await conductor.handle(deleted)
        await conductor.drain()
        assert [t.decision.message.id for t in traces] == ["1", "3", "5"]

        # shutting down: nothing is next
        await conductor.handle(message("twin one more", login="g", id="7"))
        await asyncio.sleep(0.01)
        await conductor.handle(message("twin and this?", login="h", id="8"))
        conductor.close()
        await conductor.drain()
    assert [t.decision.message.id for t in traces] == ["1", "3", "5", "7"]
    assert [d.message.id for d in decisions if d.category == "busy"] == ["2", "3", "4", "6", "8"]


async def test_cancel_turn_for_skip() -> None:
    async with asyncio.TaskGroup() as group:
        slow = ScriptedRewriter("a b c d e f g h i j", delay=0.05)
        conductor, sink, _, traces, _ = make(inline=False, group=group, rewriter=slow)
        await conductor.handle(message("twin hi", id="1"))
        await asyncio.sleep(0.01)
        assert await conductor.cancel_turn("!twin skip from a moderator", Cancel.SKIP)
        assert not await conductor.cancel_turn("nothing left to cancel")
    assert traces[0].outcome == "cancelled"
    assert traces[0].reason == "!twin skip from a moderator"
    assert sink.sent == []


async def test_each_turn_is_told_the_replies_it_must_not_repeat() -> None:
    rewriter = ScriptedRewriter("sure thing")
    state = TwinState(hold=True)
    conductor, sink, _, traces, clock = make(rewriter=rewriter, state=state)
    await conductor.handle(message("twin, what are we playing?", ts=1000.0, id="a"))
    state.hold = False
    for i, text in enumerate(["twin, is it any good?", "twin, and the music?"]):
        clock.advance(5)
        await conductor.handle(message(text, ts=clock.now(), id=f"b{i}"))
    # a held reply is not said until approved; an answered one is, and is not said again
    assert [r.avoid for r in rewriter.requests] == [(), (), ("sure thing",)]
    assert [r.said for r in rewriter.requests] == [(), (), ("sure thing",)]
    assert [t.outcome for t in traces] == ["held", "answered", "silent"]
    assert sink.sent == [("sure thing", "b0")]
    # `!twin forget` forgets what was said too
    conductor.forget()
    assert list(conductor.recent_replies) == []


async def test_the_streamer_is_answered_even_when_chat_is_full() -> None:
    state = TwinState(voice=False)
    conductor, *_ = make(state=state, chat_ready=lambda: False)
    streamer = message("twin, what do you think?", ts=1000.0, id="s", login="mossbyte")
    conductor.picker = Picker(
        PickerSettings(min_gap_s=0, user_cooldown_s=0),
        TwinSettings(name="twin", streamer="mossbyte"),
    )
    decision = await conductor.handle(streamer)
    assert decision is not None and decision.picked, decision


async def test_no_turn_is_spent_when_chat_is_full_and_the_voice_is_off() -> None:
    state = TwinState(voice=False)
    full = [True]
    conductor, sink, _, traces, clock = make(state=state, chat_ready=lambda: not full[0])
    decision = await conductor.handle(message("twin, what are we playing?", ts=1000.0, id="a"))
    assert decision is not None and not decision.picked
    assert decision.category == "chat_full" and "rate limit" in decision.reason
    assert traces == [] and sink.sent == []

    # with a voice that is on, or replies held, or chat free again, the turn runs
    conductor.parts.speaker = RecordingSpeaker()
    for change in ({"voice": True}, {"hold": True}, {}):
        for name, value in change.items():
            setattr(state, name, value)
        full[0] = bool(change)
        clock.advance(60)
        decision = await conductor.handle(
            message(f"twin, {change}?", ts=clock.now(), id=f"{change}")
        )
        assert decision is not None and decision.picked, change
        state.voice, state.hold = False, False
    assert len(traces) == 3


async def test_a_viewer_the_twin_never_answered_may_ask_again_at_once() -> None:
    def conductor_with(simulator: ScriptedSimulator, blocklist: list[str]) -> Conductor:
        conductor, *_ = make()
        conductor.parts = dataclasses.replace(
            conductor.parts, simulator=simulator, guard=Guard(GuardSettings(blocklist=blocklist))
        )
        return conductor

    asked = message("twin, what are we playing?", ts=1000.0, id="a", login="ana")
    # the twin model is down: nothing was said, so no cooldown, duplicate or rate slot is spent
    down = conductor_with(ScriptedSimulator(LINES, fail_after=0), [])
    await down.handle(asked)
    assert down.memory.last_reply_to("ana") is None and len(down.memory) == 0
    # answered: remembered
    fine = conductor_with(ScriptedSimulator(LINES), [])
    await fine.handle(asked)
    assert fine.memory.last_reply_to("ana") == 1000.0
    # the guard blocked the reply: still remembered, or a viewer baiting it could try again
    blocked = conductor_with(ScriptedSimulator(LINES), ["sure"])
    await blocked.handle(asked)
    assert blocked.memory.last_reply_to("ana") == 1000.0


async def test_a_turn_cut_short_for_a_better_pick_leaves_its_viewer_unanswered() -> None:
    async with asyncio.TaskGroup() as group:
        slow = ScriptedRewriter("a b c d e f g h i j", delay=0.05)
        conductor, _, _, traces, _ = make(inline=False, group=group, rewriter=slow)
        await conductor.handle(message("twin hi", login="ana", id="1"))
        await asyncio.sleep(0.01)
        streamer = message(
            "twin, what do you think about the run so far?",
            login="streamer",
            id="2",
            roles=frozenset({Role.BROADCASTER}),
        )
        await conductor.handle(streamer)
        await conductor.drain()
        assert await conductor.handle(message("twin skip me", login="bo", id="3")) is not None
        await asyncio.sleep(0.01)
        assert await conductor.cancel_turn("!twin skip from a moderator")
    assert [t.outcome for t in traces] == ["cancelled", "answered", "cancelled"]
    assert conductor.memory.last_reply_to("ana") is None  # cut short: may ask again
    assert conductor.memory.last_reply_to("streamer") is not None
    assert conductor.memory.last_reply_to("bo") is not None  # a moderator's skip stands


async def test_a_turn_cancelled_before_it_began_still_leaves_a_trace() -> None:
    async with asyncio.TaskGroup() as group:
        conductor, sink, _, traces, _ = make(inline=False, group=group)
        await conductor.handle(message("twin hi", login="ana", id="1"))
        # shutdown at once: the turn's task has not taken its first step
        assert await conductor.cancel_turn("the daemon is shutting down")
    [trace] = traces
    assert trace.outcome == "cancelled"
    assert trace.reason == "the daemon is shutting down"
    assert sink.sent == []
    assert not conductor.busy
