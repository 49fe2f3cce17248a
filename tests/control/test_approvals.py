"""Held replies and candidate choices: what goes out, what is stored as feedback, expiry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cohost.control.approvals import Approvals, ChoiceResult
from cohost.control.feedback import FeedbackStore
from cohost.core.clock import VirtualClock
from cohost.core.events import Hit, Tier, TurnTrace
from cohost.core.options import GuardSettings
from cohost.journal.index import with_current_tiers
from cohost.journal.store import JournalStore
from cohost.pipeline.guard import Guard, default_rules
from cohost.pipeline.privacy import privacy_rule_for
from tests.fakes import message, picked


class Harness:
    def __init__(self, tmp_path: Path, *, blocklist: tuple[str, ...] = ()) -> None:
        self.clock = VirtualClock(1000.0)
        self.feedback = FeedbackStore(tmp_path / "feedback.jsonl")
        self.delivered: list[tuple[str, str]] = []
        self.changed: list[tuple[str, str]] = []
        self.chat: bool | None = True  # True: chat takes it; False: refuses it; None: chat off
        self.approvals = Approvals(
            guard=Guard(GuardSettings(blocklist=list(blocklist))),
            clock=self.clock,
            feedback=self.feedback,
            deliver=self.deliver,
            on_decided=lambda t, held: self.changed.append((t.turn_id, t.outcome)),
            expiry_s=60.0,
            keep=3,
        )

    async def deliver(self, trace: TurnTrace, text: str) -> list[str] | None:
        self.delivered.append((trace.turn_id, text))
        if self.chat is None:
            return None
        if not self.chat:
            if text == "boom":
                raise RuntimeError("the sink broke")
            return []
        return [text]

    def turn(self, turn_id: str, outcome: str, reply: str, *alternatives: str) -> TurnTrace:
        trace = TurnTrace(
            turn_id=turn_id,
            decision=picked(message("twinbot how is gerald?", id=f"msg-{turn_id}")),
            started=self.clock.now(),
            reply=reply,
            alternatives=list(alternatives),
            outcome=outcome,  # type: ignore[arg-type]
        )
        self.approvals.add(trace)
        return trace


async def test_approving_a_held_candidate_sends_it_and_stores_the_preference(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    trace = h.turn("t1", "held", "gerald is fine", "gerald doubled", "gerald sleeps")
    assert h.approvals.held() == [trace]
    result = await h.approvals.choose("t1", 1, login="dashboard")
    assert result.ok and result.outcome == "answered"
    assert h.delivered == [("t1", "gerald doubled")]
    assert trace.reply == "gerald doubled" and trace.sent == ["gerald doubled"]
    assert trace.alternatives == ["gerald is fine", "gerald sleeps"]
    assert trace.decided == "candidate 2 approved by dashboard"
    assert trace.reason == "approved by dashboard"
    assert h.changed == [("t1", "answered")]
    assert h.approvals.held() == []
    [record] = list(h.feedback.read())
    assert record.verdict == "good" and record.reply == "gerald doubled"
    assert record.alternatives == ["gerald is fine", "gerald sleeps"]
    assert record.sent == ["gerald doubled"]
    assert record.message.id == "msg-t1"
    # a second click changes nothing
    again = await h.approvals.choose("t1", 0, login="dashboard")
    assert not again.ok and h.delivered == [("t1", "gerald doubled")]


async def test_rejecting_sends_nothing_and_rates_every_candidate_bad(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    trace = h.turn("t1", "held", "gerald is fine", "gerald doubled")
    result = await h.approvals.reject("t1", login="dashboard")
    assert result.ok and trace.outcome == "silent" and trace.reason == "rejected by dashboard"
    assert h.delivered == []
    assert [(r.verdict, r.reply, r.sent) for r in h.feedback.read()] == [
        ("bad", "gerald is fine", []),
        ("bad", "gerald doubled", []),
    ]
    assert not (await h.approvals.choose("t1", 0, login="dashboard")).ok


async def test_a_held_reply_expires(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    trace = h.turn("t1", "held", "gerald is fine")
    h.clock.advance(59.0)
    assert h.approvals.expires_in(trace) == 1.0
    h.clock.advance(2.0)
    result = await h.approvals.choose("t1", 0, login="dashboard")
    assert not result.ok and result.outcome == "silent"
    assert "expired after 60 s" in trace.reason
    assert h.delivered == [] and h.changed == [("t1", "silent")]
    assert list(h.feedback.read()) == []


async def test_choosing_on_a_live_turn_only_stores_feedback(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    trace = h.turn("t1", "answered", "gerald is fine", "gerald doubled")
    trace.sent = ["gerald is fine"]
    result = await h.approvals.choose("t1", 1, login="dashboard")
    assert result.ok and result.reason == "stored as feedback"
    assert h.delivered == [] and trace.reply == "gerald is fine"
    assert trace.outcome == "answered" and trace.decided == "candidate 2 rated best by dashboard"
    [record] = list(h.feedback.read())
    assert record.reply == "gerald doubled" and record.alternatives == ["gerald is fine"]
    assert record.sent == []  # the chosen alternative was never posted


async def test_what_cannot_be_chosen_is_refused_with_a_reason(tmp_path: Path) -> None:
    h = Harness(tmp_path, blocklist=("doubled",))
    h.turn("t1", "held", "gerald is fine", "gerald doubled")
    h.turn("t2", "answered", "no alternatives here")  # nothing to choose: not kept
    assert (await h.approvals.choose("t1", 5, login="d")).reason == "no candidate 6 in this turn"
    assert (await h.approvals.choose("t2", 0, login="d")).reason.startswith("no such turn")
    blocked = await h.approvals.choose("t1", 1, login="d")
    assert not blocked.ok and blocked.reason == "the guard blocks it now"
    assert (await h.approvals.reject("nope", login="d")).reason.startswith("no such turn")
    assert h.delivered == []


async def test_only_the_newest_turns_are_kept(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    traces = [h.turn(f"t{i}", "held", f"reply {i}") for i in range(5)]
    assert [t.turn_id for t in h.approvals.held()] == ["t2", "t3", "t4"]
    # the ones pushed out are settled, not left "held" for ever
    assert [(t.outcome, t.decided.split(" before")[0]) for t in traces[:2]] == [
        ("silent", "newer held replies pushed it out")
    ] * 2
    assert h.changed == [("t0", "silent"), ("t1", "silent")]


async def test_an_approved_reply_chat_refused_is_unsent(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.chat = False
    trace = h.turn("t1", "held", "gerald is fine", "boom")
    result = await h.approvals.choose("t1", 0, login="dashboard")
    assert not result.ok and result.outcome == "unsent"
    assert trace.reason == "approved by dashboard; chat refused it" and trace.sent == []
    [record] = list(h.feedback.read())  # the verdict stands: it was the better reply
    assert record.verdict == "good" and record.sent == []


async def test_an_approved_reply_with_chat_off_is_answered(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.chat = None  # chat switched off: the voice says it
    trace = h.turn("t1", "held", "gerald is fine")
    assert (await h.approvals.choose("t1", 0, login="dashboard")).ok
    assert trace.outcome == "answered" and trace.sent == []


async def test_a_delivery_that_breaks_settles_the_turn_as_failed(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.chat = False
    trace = h.turn("t1", "held", "boom")
    result = await h.approvals.choose("t1", 0, login="dashboard")
    assert not result.ok and trace.outcome == "failed"
    assert "sending it failed: the sink broke" in trace.reason
    assert h.changed == [("t1", "failed")]
    assert not (await h.approvals.choose("t1", 0, login="dashboard")).ok


async def test_expiry_runs_on_its_own_and_close_settles_the_rest(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    first = h.turn("t1", "held", "gerald is fine")
    h.clock.advance(30.0)
    second = h.turn("t2", "held", "gerald doubled")
    runner = asyncio.create_task(h.approvals.run())
    try:
        async with asyncio.timeout(5):
            while first.outcome == "held":
                h.clock.advance(1.0)
                await asyncio.sleep(0)
    finally:
        runner.cancel()
    assert first.outcome == "silent" and "expired after 60 s" in first.reason
    assert second.outcome == "held"
    h.approvals.close()
    assert second.outcome == "silent"
    assert second.reason == "the daemon stopped before it was approved"
    assert h.changed == [("t1", "silent"), ("t2", "silent")]


async def test_a_choice_becomes_a_dpo_pair(tmp_path: Path) -> None:
    from cohost.dataset.dpo import dpo_pairs, read_feedback  # noqa: PLC0415

    h = Harness(tmp_path)
    h.turn("t1", "held", "gerald is fine", "gerald doubled overnight")
    assert (await h.approvals.choose("t1", 1, login="dashboard")).ok
    records, skipped = read_feedback(tmp_path / "feedback.jsonl")
    assert skipped == 0
    [pair] = list(dpo_pairs(records, "twinbot"))
    assert "gerald doubled overnight" in pair["chosen"]
    assert "gerald is fine" in pair["rejected"]
    assert "twinbot how is gerald?" in pair["prompt"]


async def test_an_approval_cancelled_while_chat_makes_it_wait_still_settles(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    trace = h.turn("t1", "held", "gerald is fine")
    never = asyncio.Event()

    async def waits_forever(trace: TurnTrace, text: str) -> list[str] | None:
        await never.wait()  # Twitch's limit, as long as it takes
        return [text]

    h.approvals.deliver = waits_forever
    taken = h.approvals.take("t1", 0, login="oakmod")
    assert not isinstance(taken, ChoiceResult)
    assert h.approvals.held() == []  # decided before anything was sent
    sending = asyncio.create_task(h.approvals.send(taken))
    await asyncio.sleep(0)
    sending.cancel()  # the daemon stops
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert trace.outcome == "unsent" and "stopped before chat took it" in trace.reason
    assert h.changed == [("t1", "unsent")]  # its trace is written again, settled
    [record] = list(h.feedback.read())
    assert record.verdict == "good"  # the streamer's choice is kept all the same


async def test_a_held_reply_is_checked_against_the_journal_as_it_is_at_approval(
    tmp_path: Path,
) -> None:
    store = JournalStore(tmp_path / "journal")
    text = "Zanzibar plan: I am quitting streaming in August and moving abroad quietly."
    entry = store.add(text, tags=["public"])
    guard = Guard(GuardSettings(), rules=[*default_rules(GuardSettings()), privacy_rule_for()])
    sent: list[str] = []

    async def deliver(trace: TurnTrace, reply: str) -> list[str] | None:
        sent.append(reply)
        return [reply]

    approvals = Approvals(
        guard=guard,
        clock=VirtualClock(1000.0),
        feedback=FeedbackStore(tmp_path / "feedback.jsonl"),
        deliver=deliver,
        on_decided=lambda trace, held: None,
        expiry_s=60.0,
        current=lambda hits: with_current_tiers(hits, store),
    )
    hit = Hit(entry_id=entry.id, title=entry.title, text=text, score=0.9, tier=Tier.PUBLIC)
    trace = TurnTrace(
        turn_id="t1",
        decision=picked(message("twin what's next?", id="m1")),
        started=1000.0,
        reply=text,  # a public entry may be quoted: held as it is
        hits=[hit],
        outcome="held",
    )
    approvals.add(trace)
    # the streamer retags it secret in TiddlyWiki while the reply waits
    entry.path.write_text(entry.path.read_text().replace("tags: public", "tags: secret"))
    result = await approvals.choose("t1", 0, login="mod")
    assert isinstance(result, ChoiceResult)
    assert not result.ok and result.reason == "the guard blocks it now"
    assert sent == []


async def test_an_edited_held_reply_goes_out_as_edited_and_beats_every_candidate(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, blocklist=("zorbleflux",))
    trace = h.turn("t1", "held", "gerald is fine", "gerald doubled")
    blocked = await h.approvals.choose("t1", 0, login="dashboard", text="zorbleflux gerald")
    assert not blocked.ok and blocked.reason == "the guard blocks it now"  # edits are guarded
    empty = await h.approvals.choose("t1", 0, login="dashboard", text="   ")
    assert (empty.ok, empty.reason) == (False, "the edit is empty")
    result = await h.approvals.choose(
        "t1", 1, login="dashboard", text="  Gerald doubled   overnight!  "
    )
    assert result.ok and result.outcome == "answered"
    assert h.delivered == [("t1", "Gerald doubled overnight!")]
    assert trace.decided == "candidate 2 edited and approved by dashboard"
    [record] = list(h.feedback.read())
    assert record.reply == "Gerald doubled overnight!"
    assert record.alternatives == ["gerald is fine", "gerald doubled"]  # both originals lose


async def test_a_reply_already_out_cannot_be_edited(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.turn("t1", "answered", "gerald is fine", "gerald doubled")
    result = await h.approvals.choose("t1", 1, login="dashboard", text="something else")
    assert not result.ok and "only a held reply can be edited" in result.reason
    assert list(h.feedback.read()) == []
