"""Replies held for the streamer's approval, and the choice between candidate replies.

With `turn.hold` (or `!twin hold on`) a turn guards its reply and stops there: outcome `held`,
nothing said or posted. The streamer then approves one of the candidates on the dashboard (it
goes out as the turn's reply, threaded under the message it answers) or rejects them all.
With `turn.candidates` > 1 on a live turn, the reply has already gone out; choosing the best
candidate then only stores feedback. Every choice is feedback: the chosen reply is `good` with
the others as its `alternatives` (a DPO preference pair), a rejected one is `bad`.
Choices:
- A held reply expires after `turn.hold_expiry_s`: approving an answer to a question chat asked
  minutes ago would read as a non sequitur. `run()` settles expired turns as `silent`; so does
  `close()` for those still waiting when the daemon stops, and `add()` for a held turn pushed
  out by newer ones.
- The chosen text is guarded again when it goes out (cheap, and the blocklist may have grown);
  the verdicts join the turn's trace.
- An approved reply that chat refused ends `unsent`; the streamer's verdict is stored anyway:
  it says which reply was better, whatever Twitch did with it.
- `trace.decided` says what the streamer (or the clock) did; a turn is decided once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from cohost.control.feedback import FeedbackStore
from cohost.core.events import Hit, TurnTrace
from cohost.core.ports import Clock
from cohost.core.serialise import trace_dict
from cohost.pipeline.guard import Guard

log = logging.getLogger(__name__)

# How often `run()` looks for expired held replies, at most.
EXPIRY_CHECK_S = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChoiceResult:
    """What a choice did: whether it was taken, the turn's outcome now, and why not."""

    ok: bool
    outcome: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Approved:
    """A held reply the streamer approved, decided and guarded, not yet sent."""

    trace: TurnTrace
    text: str  # the chosen candidate as the guard passed it
    others: list[str]  # the candidates not chosen
    login: str


# Posts and speaks an approved reply for this turn; returns the chat messages that went out,
# or None when chat was not tried (switched off, or no chat at all).
Deliver = Callable[[TurnTrace, str], Awaitable[list[str] | None]]
# Told of every decided turn, and whether it had been held (its outcome changed then).
OnDecided = Callable[[TurnTrace, bool], None]


def _undecided(trace: TurnTrace) -> bool:
    """A held reply nobody has approved, rejected or let expire yet."""
    return trace.outcome == "held" and not trace.decided


class Approvals:
    """The recent turns that have something to choose: held replies and candidate sets."""

    def __init__(
        self,
        *,
        guard: Guard,
        clock: Clock,
        feedback: FeedbackStore,
        deliver: Deliver,
        on_decided: OnDecided,
        expiry_s: float,
        keep: int = 50,
        current: Callable[[Sequence[Hit]], list[Hit]] | None = None,
    ) -> None:
        """current: the recalled hits as the journal's files have them now (tiers can change
        while a reply waits); without it, as recalled."""
        self.current = current
        self.guard = guard
        self.clock = clock
        self.feedback = feedback
        self.deliver = deliver
        self.on_decided = on_decided
        self.expiry_s = expiry_s
        self.keep = keep
        self._turns: OrderedDict[str, TurnTrace] = OrderedDict()
        self._stopped: dict[str, str] = {}  # turn id -> why its approved send was cancelled

    def add(self, trace: TurnTrace) -> None:
        """Remember a finished turn if it has something to choose (held, or alternatives)."""
        if trace.outcome != "held" and not (trace.outcome == "answered" and trace.alternatives):
            return
        self._turns[trace.turn_id] = trace
        while len(self._turns) > self.keep:
            _, oldest = self._turns.popitem(last=False)
            if _undecided(oldest):
                self._settle(oldest, "newer held replies pushed it out before it was approved")

    def held(self) -> list[TurnTrace]:
        """Held turns still waiting, oldest first (expired ones are settled on the way).

        One approved and still on its way out is no longer waiting.
        """
        self.expire()
        return [t for t in self._turns.values() if _undecided(t)]

    def waiting(self) -> int:
        """Held replies not yet decided or expired; changes nothing (for health and metrics)."""
        return sum(1 for t in self._turns.values() if _undecided(t) and self.expires_in(t) > 0)

    def expires_in(self, trace: TurnTrace) -> float:
        """Seconds until a held reply can no longer be approved (0 when past)."""
        return max(0.0, trace.started + self.expiry_s - self.clock.now())

    async def run(self) -> None:
        """Settle held replies as they expire, until cancelled."""
        while True:
            waiting = self.held()
            wait = min((self.expires_in(t) for t in waiting), default=EXPIRY_CHECK_S)
            await self.clock.sleep(min(max(wait, 0.01), EXPIRY_CHECK_S))

    def close(self) -> None:
        """The daemon stops: every reply still held is settled, so its trace says so."""
        for trace in list(self._turns.values()):
            if _undecided(trace):  # approved ones settle as they send
                self._settle(trace, "the daemon stopped before it was approved")

    async def choose(
        self, turn_id: str, choice: int, *, login: str, text: str | None = None
    ) -> ChoiceResult:
        """Take candidate `choice` (0 is the turn's own reply): approve it (as `text`, when
        edited), or rate it best."""
        taken = self.take(turn_id, choice, login=login, text=text)
        if isinstance(taken, ChoiceResult):
            return taken
        return await self.send(taken)

    def take(
        self, turn_id: str, choice: int, *, login: str, text: str | None = None
    ) -> ChoiceResult | Approved:
        """The choosing half of `choose`, at once: a result, or an approval for `send`.

        With `text`, a held reply goes out as the streamer edited candidate `choice`: the edit
        is the reply (and the `good` side of the preference pair), every candidate the other.

        The turn is decided here, before any await: a second click, a reject or a chat
        command finds it taken while its reply is on its way.
        """
        self.expire()
        trace = self._turns.get(turn_id)
        if trace is None:
            return ChoiceResult(ok=False, reason="no such turn to choose from (too old?)")
        candidates = [trace.reply, *trace.alternatives]
        if not 0 <= choice < len(candidates):
            return ChoiceResult(
                ok=False, outcome=trace.outcome, reason=f"no candidate {choice + 1} in this turn"
            )
        if trace.decided:
            return ChoiceResult(ok=False, outcome=trace.outcome, reason=trace.decided)
        chosen = candidates[choice]
        others = candidates[:choice] + candidates[choice + 1 :]
        how = "approved"
        if text is not None:
            if trace.outcome != "held":
                reason = "only a held reply can be edited: this one is out already"
                return ChoiceResult(ok=False, outcome=trace.outcome, reason=reason)
            edited = " ".join(text.split())
            if not edited:
                return ChoiceResult(ok=False, outcome=trace.outcome, reason="the edit is empty")
            if edited != chosen:
                chosen, others, how = edited, candidates, "edited and approved"
        if trace.outcome != "held":
            # already out in chat: the choice is a judgement only
            trace.decided = f"candidate {choice + 1} rated best by {login}"
            self._verdict(trace, chosen, "good", others, login=login)
            self.on_decided(trace, False)
            return ChoiceResult(ok=True, outcome=trace.outcome, reason="stored as feedback")
        hits = self.current(trace.hits) if self.current is not None else trace.hits
        checked = self.guard.check(chosen, hits)
        trace.guard.extend(checked.verdicts)
        if checked.blocked:
            return ChoiceResult(ok=False, outcome=trace.outcome, reason="the guard blocks it now")
        trace.decided = f"candidate {choice + 1} {how} by {login}"
        trace.reply = checked.text
        trace.alternatives = others
        return Approved(trace=trace, text=checked.text, others=others, login=login)

    def stop_sending(self, turn_id: str, why: str) -> None:
        """Say why the send of this approved reply is about to be cancelled (moderation)."""
        self._stopped[turn_id] = why

    def settle_cancelled(self, approved: Approved) -> None:
        """Settle an approved reply whose send was cancelled, begun or not (once).

        `silent` with the reason given to `stop_sending` (moderation took the message down),
        else `unsent` (shutdown); `answered` if some of its messages had already gone out
        (`deliver` records them in `trace.sent` as they go).
        """
        trace, login = approved.trace, approved.login
        why = self._stopped.pop(trace.turn_id, None)
        if trace.outcome != "held":
            return  # settled already
        cause = why or "the daemon stopped before chat took it"
        if trace.sent:
            trace.outcome = "answered"
            trace.reason = f"approved by {login}; cut short: {cause}"
        else:
            trace.outcome = "silent" if why else "unsent"
            trace.reason = f"approved by {login}; {cause}"
        self._settled_approval(approved)

    async def send(self, approved: Approved) -> ChoiceResult:
        """The sending half of `choose`: the approved reply goes out, and the turn settles.

        Cancelled, it settles through `settle_cancelled`.
        """
        trace, login = approved.trace, approved.login
        try:
            sent = await self.deliver(trace, approved.text)
        except asyncio.CancelledError:
            self.settle_cancelled(approved)
            raise
        except Exception as exc:
            log.exception("delivering the approved reply of turn %s failed", trace.turn_id)
            trace.outcome = "failed"
            trace.reason = f"approved by {login}; sending it failed: {exc}"
        else:
            trace.sent = sent or []
            refused = sent is not None and not sent
            trace.outcome = "unsent" if refused else "answered"
            trace.reason = f"approved by {login}" + ("; chat refused it" if refused else "")
        finally:
            self._stopped.pop(trace.turn_id, None)
        self._settled_approval(approved)
        ok = trace.outcome == "answered"
        return ChoiceResult(ok=ok, outcome=trace.outcome, reason="" if ok else trace.reason)

    async def reject(self, turn_id: str, *, login: str) -> ChoiceResult:
        """Reject a held turn's replies: nothing goes out, each becomes `bad` feedback."""
        self.expire()
        trace = self._turns.get(turn_id)
        if trace is None:
            return ChoiceResult(ok=False, reason="no such turn to reject (too old?)")
        if trace.outcome != "held" or trace.decided:
            return ChoiceResult(
                ok=False, outcome=trace.outcome, reason=trace.decided or "only a held reply"
            )
        for text in [trace.reply, *trace.alternatives]:
            self._verdict(trace, text, "bad", [], login=login)
        self._settle(trace, f"rejected by {login}")
        return ChoiceResult(ok=True, outcome=trace.outcome)

    def moderated(self, gone: Callable[[TurnTrace], bool], why: str) -> None:
        """Held replies to messages moderation removed (deleted, timed out, cleared) go."""
        for trace in list(self._turns.values()):
            if _undecided(trace) and gone(trace):
                self._settle(trace, why)

    def expire(self) -> None:
        """Settle every held reply past its expiry."""
        for trace in list(self._turns.values()):
            if _undecided(trace) and self.expires_in(trace) <= 0:
                self._settle(trace, f"held for approval and expired after {self.expiry_s:g} s")

    def _settled_approval(self, approved: Approved) -> None:
        """An approved reply's outcome is known: store the choice, tell the daemon."""
        trace = approved.trace
        self._verdict(trace, approved.text, "good", approved.others, login=approved.login)
        self.on_decided(trace, True)

    def _settle(self, trace: TurnTrace, why: str) -> None:
        """A held turn ends without going out: silent, with why."""
        trace.outcome = "silent"
        trace.reason = why
        trace.decided = trace.decided or why
        log.info("turn %s: %s", trace.turn_id, why)
        self.on_decided(trace, True)

    def _verdict(
        self,
        trace: TurnTrace,
        text: str,
        verdict: Literal["good", "bad"],
        others: list[str],
        *,
        login: str,
    ) -> None:
        data = trace_dict(trace)
        data["reply"] = text
        if text != trace.reply:
            data["sent"] = []  # an alternative: it was never posted
        try:
            self.feedback.record(data, verdict, login, alternatives=others)
        except OSError:
            log.exception("storing feedback on turn %s failed", trace.turn_id)
