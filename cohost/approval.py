"""Replies held for the streamer's approval, and the choice between candidate replies.

With `turn.hold` (or `!twin hold on`) a turn guards its reply and stops there: outcome `held`,
nothing said or posted. The streamer then approves one of the candidates on the dashboard (it
goes out as the turn's reply, threaded under the message it answers) or rejects them all.
With `turn.candidates` > 1 on a live turn, the reply has already gone out; choosing the best
candidate then only stores feedback. Every choice is feedback: the chosen reply is `good` with
the others as its `alternatives` (a DPO preference pair), a rejected one is `bad`.
Choices:
- A held reply expires after `turn.hold_expiry_s`: approving an answer to a question chat asked
  minutes ago would read as a non sequitur. Expired turns become `silent`, with the reason.
- The chosen text is guarded again when it goes out (cheap, and the blocklist may have grown).
- Only the last `keep` turns can be chosen from; older ones are gone from memory.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from cohost.events import TurnTrace
from cohost.feedback import FeedbackStore
from cohost.pipeline.guard import Guard
from cohost.ports import Clock
from cohost.trace import trace_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChoiceResult:
    """What a choice did: whether it was taken, the turn's outcome now, and why not."""

    ok: bool
    outcome: str = ""
    reason: str = ""


# Posts and speaks an approved reply for this turn; returns the chat messages that went out.
Deliver = Callable[[TurnTrace, str], Awaitable[list[str]]]


class Approvals:
    """The recent turns that have something to choose: held replies and candidate sets."""

    def __init__(
        self,
        *,
        guard: Guard,
        clock: Clock,
        feedback: FeedbackStore,
        deliver: Deliver,
        on_change: Callable[[TurnTrace], None],
        expiry_s: float,
        keep: int = 50,
    ) -> None:
        self.guard = guard
        self.clock = clock
        self.feedback = feedback
        self.deliver = deliver
        self.on_change = on_change
        self.expiry_s = expiry_s
        self.keep = keep
        self._turns: OrderedDict[str, TurnTrace] = OrderedDict()
        self._chosen: set[str] = set()  # turns whose candidates were already judged

    def add(self, trace: TurnTrace) -> None:
        """Remember a finished turn if it has something to choose (held, or alternatives)."""
        if trace.outcome != "held" and not (trace.outcome == "answered" and trace.alternatives):
            return
        self._turns[trace.turn_id] = trace
        while len(self._turns) > self.keep:
            self._turns.popitem(last=False)

    def held(self) -> list[TurnTrace]:
        """Held turns still waiting, oldest first (expired ones are settled on the way)."""
        self._expire()
        return [t for t in self._turns.values() if t.outcome == "held"]

    def expires_in(self, trace: TurnTrace) -> float:
        """Seconds until a held reply can no longer be approved (0 when past)."""
        return max(0.0, trace.started + self.expiry_s - self.clock.now())

    async def choose(self, turn_id: str, choice: int, *, login: str) -> ChoiceResult:
        """Take candidate `choice` (0 is the turn's own reply): approve it, or rate it best."""
        self._expire()
        trace = self._turns.get(turn_id)
        if trace is None:
            return ChoiceResult(ok=False, reason="no such turn to choose from (too old?)")
        candidates = [trace.reply, *trace.alternatives]
        if not 0 <= choice < len(candidates):
            return ChoiceResult(
                ok=False, outcome=trace.outcome, reason=f"no candidate {choice} in this turn"
            )
        if turn_id in self._chosen:
            return ChoiceResult(ok=False, outcome=trace.outcome, reason="already chosen")
        if trace.outcome not in ("held", "answered"):
            return ChoiceResult(ok=False, outcome=trace.outcome, reason=trace.reason)
        chosen = candidates[choice]
        others = candidates[:choice] + candidates[choice + 1 :]
        if trace.outcome == "answered":
            # already out in chat: the choice is a judgement only
            self._chosen.add(turn_id)
            self._verdict(trace, chosen, "good", others, login=login)
            return ChoiceResult(ok=True, outcome=trace.outcome, reason="stored as feedback")
        checked = self.guard.check(chosen, trace.hits)
        if checked.blocked:
            return ChoiceResult(ok=False, outcome=trace.outcome, reason="the guard blocks it now")
        self._chosen.add(turn_id)
        trace.reply = checked.text
        trace.alternatives = others
        trace.outcome = "answered"
        trace.reason = f"approved by {login}"
        trace.sent = await self.deliver(trace, checked.text)
        self._verdict(trace, checked.text, "good", others, login=login)
        self.on_change(trace)
        return ChoiceResult(ok=True, outcome=trace.outcome)

    async def reject(self, turn_id: str, *, login: str) -> ChoiceResult:
        """Reject a held turn's replies: nothing goes out, each becomes `bad` feedback."""
        self._expire()
        trace = self._turns.get(turn_id)
        if trace is None:
            return ChoiceResult(ok=False, reason="no such turn to reject (too old?)")
        if trace.outcome != "held":
            return ChoiceResult(ok=False, outcome=trace.outcome, reason="only a held reply")
        self._chosen.add(turn_id)
        for text in [trace.reply, *trace.alternatives]:
            self._verdict(trace, text, "bad", [], login=login)
        trace.outcome = "silent"
        trace.reason = f"rejected by {login}"
        self.on_change(trace)
        return ChoiceResult(ok=True, outcome=trace.outcome)

    def _expire(self) -> None:
        for trace in self._turns.values():
            if trace.outcome == "held" and self.expires_in(trace) <= 0:
                trace.outcome = "silent"
                trace.reason = f"held for approval and expired after {self.expiry_s:g} s"
                log.info("turn %s: %s", trace.turn_id, trace.reason)
                self.on_change(trace)

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
