"""Chat in, decisions out, one turn at a time: the loop that replay and the daemon share."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from cohost.core.events import (
    ASKED_ID_PREFIX,
    SUPPORT_NOTICES,
    Cancel,
    ChatEvent,
    ChatMessage,
    Decision,
    Moderation,
    Role,
    TurnTrace,
    UserNotice,
)
from cohost.core.state import TwinState
from cohost.pipeline.catchup import HELD_BY_RATE, CatchUp, Dropped
from cohost.pipeline.pick import AnswerMemory, Picker
from cohost.pipeline.turn import Turn, TurnOptions, TurnParts

log = logging.getLogger(__name__)

# The twin's replies that a new turn must not say again. Twitch refuses the same text within
# 30 s; a few replies back also covers a slow chat, where repeating still sounds canned.
RECENT_REPLIES = 8
# How a turn cut short for a better pick says so in its trace.
BETTER_PICK = "cut short by a better pick"
CATCH_UP_TICK_S = 1.0  # live: how often the queue of waiting questions is looked at


def _never_answered(trace: TurnTrace) -> bool:
    """Whether a turn ended with nothing sent or said, through no one's choice.

    Failed, unsent and silent turns, and turns cut short for a better pick, leave the viewer
    unanswered. A blocked reply, a skip and a reply held for approval do not count as such: a
    viewer whose question the guard blocked must not get to try again at once.
    """
    if trace.sent or trace.spoken:
        return False
    if trace.outcome == "cancelled":
        return trace.cancelled_by is Cancel.BETTER_PICK
    return trace.outcome in ("failed", "unsent", "silent")


def notice_as_message(notice: UserNotice) -> ChatMessage | None:
    """A notice as chat: the viewer's own words, or for support alone Twitch's line for it.

    A sub, resub or raid that carries the viewer's words joins chat like a message. A sub, a
    gift or a raid that comes without any joins as Twitch's own line ("ana is raiding with a
    party of 25."): the moment a co-host thanks or welcomes them. The single subs of a
    community gift do not: a gift of 100 brings 100 of them, which would fill the window and
    push real chat out (the gift's own notice stands for them). Nor do other notices without
    words (announcements are the streamer's own, `other` is anything).
    """
    text = notice.text.strip()
    thanked = notice.kind in SUPPORT_NOTICES and not notice.in_community_gift
    if not text and thanked and notice.login:
        text = notice.system_text.strip()
    if not text:
        return None
    return ChatMessage(
        id=notice.id,
        channel=notice.channel,
        login=notice.login,
        display_name=notice.display_name,
        text=text,
        ts=notice.ts,
        user_id=notice.user_id,
        roles=notice.roles,
        notice=notice.kind,
    )


def removed_by(event: Moderation) -> Callable[[ChatMessage], bool]:
    """Which messages a moderation event takes out of chat (all of them for a clear)."""
    if event.kind == "clear":
        return lambda m: True
    if event.kind == "delete":
        return lambda m: m.id == event.target_message_id
    return lambda m: m.login == event.target_login


class Conductor:
    """Keeps the recent window, asks the picker, and runs turns.

    `inline=True` (replay) awaits each turn before reading on, so a replay is repeatable.
    Otherwise (the daemon) a turn runs as a task in `group` while chat keeps arriving; a much
    better pick cancels it (priority beats order), anything else is `busy`. The best of the
    busy picks is kept as next up (one slot: newer chat matters more than a backlog) and asked
    of the picker again when the turn ends: answered then if it is still fresh, still in chat
    and still worth it. A question put while the twin speaks is not lost.

    Questions the rate rules hold back while chat floods wait in `catchup` (`CatchUp`, sized
    by the picker's `queue_*` settings; None: none wait) and are answered, best first, when
    chat has calmed: after each message that starts no turn, and live every second
    (`catch_up_when_calm`).
    """

    def __init__(
        self,
        *,
        picker: Picker,
        parts: TurnParts,
        options: TurnOptions,
        state: TwinState,
        memory: AnswerMemory | None = None,
        window_size: int = 20,
        inline: bool = True,
        group: asyncio.TaskGroup | None = None,
        preempt_margin: float = 1.5,
        on_decision: Callable[[Decision], None] | None = None,
        on_trace: Callable[[TurnTrace], None] | None = None,
        chat_ready: Callable[[], bool] | None = None,
        catch_up: bool = True,
    ) -> None:
        if not inline and group is None:
            raise ValueError("a conductor that runs turns as tasks needs a TaskGroup")
        self.picker = picker
        self.parts = parts
        self.options = options
        self.state = state
        self.memory = memory or AnswerMemory()
        # keep the newest messages only: a turn sees recent chat, not the whole stream
        self.window: deque[ChatMessage] = deque(maxlen=window_size)
        self.inline = inline
        self.preempt_margin = preempt_margin
        self._group = group
        self._on_decision = on_decision
        self._on_trace = on_trace
        # whether chat could take a reply soon (Twitch's rate limit); None: always
        self._chat_ready = chat_ready
        self._current: tuple[Turn, asyncio.Task[TurnTrace]] | None = None
        self.recent_replies: deque[str] = deque(maxlen=RECENT_REPLIES)
        self._recorded: dict[str, float] = {}  # turn id -> when its answer was recorded
        self._next: Decision | None = None  # the best pick that came while a turn ran
        self._next_task: asyncio.Task[None] | None = None
        # questions held back by the rate rules, answered when chat calms
        self.catchup = CatchUp.for_settings(picker.settings) if catch_up else None
        self._queued = asyncio.Event()  # set while something waits (the live loop then ticks)
        self._closed = False  # shutting down: nothing is next
        # chat-in, a dashboard `ask` and an MQTT command may start turns at the same moment
        self._starting = asyncio.Lock()

    @property
    def busy(self) -> bool:
        return self._current is not None and not self._current[1].done()

    @property
    def quiet(self) -> bool:
        """No turn runs and none is about to: none starting, none next up, no question waiting
        for chat to calm. What may wait (a welcome) starts only then, cutting no answer."""
        waiting = self.catchup is not None and len(self.catchup) > 0
        return not (self.busy or self._starting.locked() or self._next is not None or waiting)

    async def handle(self, event: ChatEvent) -> Decision | None:
        """Take one chat event; returns the picker's decision for a message."""
        if isinstance(event, Moderation):
            self._moderate(event)
            return None
        message = notice_as_message(event) if isinstance(event, UserNotice) else event
        if message is None:
            return None
        decision = self.decide(message)
        self.window.append(message)
        queue = self.catchup
        if queue is not None:
            now = self.parts.clock.now()
            queue.heard(now)
            if not decision.picked:
                waits, dropped = queue.offer(decision, now)
                self._report_dropped([d for d in dropped if d.decision is not decision])
                if waits:
                    self._queued.set()
                    decision = dataclasses.replace(
                        decision,
                        category="queued",
                        reason=f"{decision.reason} It waits for chat to calm "
                        f"({len(queue)} waiting).",
                    )
                else:
                    for gone in dropped:
                        if gone.decision is decision:  # the worst of a full queue
                            decision = dataclasses.replace(
                                decision,
                                category="dropped",
                                reason=f"{decision.reason} Not queued: {gone.reason}.",
                            )
        if self._on_decision is not None:
            self._on_decision(decision)
        if decision.picked:
            await self.start_turn(decision)
        elif queue is not None and len(queue):
            await self.catch_up()
        return decision

    def decide(self, message: ChatMessage, *, freshness_s: float | None = None) -> Decision:
        """The picker's verdict, then the live state's (paused, busy)."""
        state = self.state
        decision = self.picker.decide(
            message,
            window=self.window,
            memory=self.memory,
            now=self.parts.clock.now(),
            topic_words=state.topic_words,
            ignored=state.ignored,
            rate_per_minute=state.rate_per_minute,
            freshness_s=freshness_s,
        )
        if not decision.picked:
            return decision
        if state.paused:
            return dataclasses.replace(
                decision, picked=False, category="paused", reason="the twin is paused"
            )
        streamer = any(name == "broadcaster" for name, _ in decision.parts)
        if not streamer and self._nowhere_to_say_it():
            return dataclasses.replace(
                decision,
                picked=False,
                category="chat_full",
                reason="no voice is on and chat is at Twitch's rate limit: "
                "an answer could go nowhere, so no turn is spent on it",
            )
        if self.busy and self._current is not None:
            current = self._current[0].decision
            if decision.score < current.score + self.preempt_margin:
                if self._next is None or decision.score >= self._next.score:
                    self._next = decision  # the newest of the best: answered when this ends
                return dataclasses.replace(
                    decision,
                    picked=False,
                    category="busy",
                    reason=f"a turn is running (score {current.score:.2f}) and this one "
                    f"({decision.score:.2f}) is not enough better to cut it short",
                )
        return decision

    def _nowhere_to_say_it(self) -> bool:
        """Chat is the only way out and it is full (a raid): a turn now would be thrown away.

        With chat switched off too, turns still run: the dashboard shows what the twin would
        have said (a dry run).
        """
        state = self.state
        voice = state.voice and self.parts.speaker is not None
        if voice or state.hold or not state.chat or self._chat_ready is None:
            return False
        return not self._chat_ready()

    async def start_turn(self, decision: Decision) -> TurnTrace | None:
        """Answer this decision now, cutting short any turn that is running."""
        async with self._starting:
            return await self._start_turn(decision)

    async def _start_turn(self, decision: Decision) -> TurnTrace | None:
        if self._closed:
            return None  # shutting down: a late pick or `!twin ask` starts nothing
        await self.cancel_turn(f"{BETTER_PICK} from {decision.message.login}", Cancel.BETTER_PICK)
        now = self.parts.clock.now()
        self.memory.record(decision.message, now)  # now: the running turn counts as an answer
        options = dataclasses.replace(
            self.options,
            voice=self.state.voice,
            chat=self.state.chat,
            hold=self.state.hold,
            avoid=tuple(self.recent_replies),
        )
        turn = Turn(self.parts, options, decision, self.window)
        self._recorded[turn.trace.turn_id] = now
        if self.inline:
            task = asyncio.ensure_future(turn.run())
            self._current = (turn, task)
            try:
                trace = await task
            except asyncio.CancelledError:
                trace = turn.trace
            self._finished(turn.trace)
            return trace
        assert self._group is not None
        task = self._group.create_task(self._run_task(turn), name=f"turn-{turn.trace.turn_id}")
        task.add_done_callback(functools.partial(self._cancelled_unbegun, turn))
        self._current = (turn, task)
        return None

    def _cancelled_unbegun(self, turn: Turn, task: asyncio.Task[TurnTrace]) -> None:
        """A turn cancelled before its task ever ran (shutdown right after a pick) is traced too.

        `_run_task` ends every turn that began, cancelled or not, without raising; only a task
        cancelled before its first step ends cancelled, and then nothing of it has run.
        """
        if task.cancelled():
            turn.trace.outcome = "cancelled"
            turn.trace.reason = turn.trace.reason or "cancelled before it began"
            self._finished(turn.trace)

    async def _run_task(self, turn: Turn) -> TurnTrace:
        try:
            return await turn.run()
        except asyncio.CancelledError:
            # a cancelled turn is a normal end; its trace says why
            return turn.trace
        finally:
            self._finished(turn.trace)

    def _finished(self, trace: TurnTrace) -> None:
        ended_current = self._current is not None and self._current[0].trace is trace
        if ended_current:
            self._current = None
        at = self._recorded.pop(trace.turn_id, None)
        if at is not None and _never_answered(trace):
            # the viewer may ask again at once: no cooldown, no duplicate, no rate slot spent
            self.memory.withdraw(trace.decision.message, at)
        if trace.outcome == "answered" and trace.reply:
            self.recent_replies.append(trace.reply)  # said; a held reply is not, until approved
        if self._on_trace is not None:
            self._on_trace(trace)
        if ended_current and self._next is not None and not self._closed and self._group:
            # last: while the daemon's task group aborts (a revoked token), no task starts
            # there, and the trace above must be written all the same
            answer = self._answer_next()
            try:
                self._next_task = self._group.create_task(answer, name="next-up")
            except RuntimeError:
                answer.close()  # never started, and never will be

    async def _answer_next(self) -> None:
        """The busy pick kept as next up, asked of the picker again now that the turn is over."""
        try:
            await self._start_next()
        except Exception:
            # as for any chat event: one bad message must never end the daemon
            log.exception("answering the pick that waited failed")

    async def _start_next(self) -> None:
        async with self._starting:
            waiting = self._next
            if waiting is None or self._closed:
                return
            if self.busy:
                return  # a better pick started meanwhile: still next up, after that one
            self._next = None
            message = waiting.message
            if not any(m is message for m in self.window):
                return  # taken out by moderation (or forgotten): never answered
            decision = self.decide(message)
            if decision.picked:
                decision = dataclasses.replace(
                    decision, reason=f"{decision.reason} It waited for the turn before to end."
                )
            if self._on_decision is not None:
                self._on_decision(decision)
            if decision.picked:
                await self._start_turn(decision)

    async def catch_up(self) -> bool:
        """Answer the best question that waited, if chat has calmed and nothing runs; True if
        a turn started. One the rate rules still hold waits on; one that went stale, or that
        the picker now turns down (a cooldown, a duplicate), is dropped with its reason."""
        queue = self.catchup
        if queue is None or self._closed:
            return False
        async with self._starting:
            if self._closed or self.busy or self.state.paused:
                return False
            now = self.parts.clock.now()
            waiting, dropped = queue.due(now)
            self._report_dropped(dropped)
            if waiting is None:
                return False
            decision = self.decide(waiting.message, freshness_s=queue.fresh_s)
            if decision.category in HELD_BY_RATE:
                queue.put_back(waiting)
                return False
            waited = now - waiting.message.ts
            if decision.picked:
                decision = dataclasses.replace(
                    decision, reason=f"{decision.reason} It waited {waited:.0f} s for chat to calm."
                )
            else:
                decision = dataclasses.replace(
                    decision,
                    category="dropped",
                    reason=f"Dropped from the queue after {waited:.0f} s: {decision.reason}",
                )
            if self._on_decision is not None:
                self._on_decision(decision)
            if not decision.picked:
                return False
            await self._start_turn(decision)
            return True

    async def catch_up_when_calm(self, tick_s: float = CATCH_UP_TICK_S) -> None:
        """Live: look at the queue every `tick_s` while something waits (a task of the
        daemon's group); with nothing waiting it sleeps until a question is queued."""
        while not self._closed:
            if self.catchup is None or not len(self.catchup):
                self._queued.clear()
                await self._queued.wait()
                continue
            await self.parts.clock.sleep(tick_s)
            try:
                await self.catch_up()
            except Exception:
                # as for any chat event: one bad question must never end the daemon
                log.exception("catching up on a waiting question failed")

    def _report_dropped(self, dropped: list[Dropped]) -> None:
        if self._on_decision is None:
            return
        for gone in dropped:
            self._on_decision(
                dataclasses.replace(
                    gone.decision,
                    picked=False,
                    category="dropped",
                    reason=f"Dropped from the queue: {gone.reason}.",
                )
            )

    def close(self) -> None:
        """Shutting down: no turn starts after the one running now."""
        self._closed = True
        self._next = None
        if self.catchup is not None:
            self.catchup.clear()
        self._queued.set()  # the live loop wakes and ends

    async def cancel_turn(self, reason: str, cause: Cancel = Cancel.OTHER) -> bool:
        """Cancel the running turn (skip, a better pick, shutdown); True if one was running."""
        if self._current is None:
            return False
        turn, task = self._current
        if task.done():
            return False
        turn.cancel_reason(reason, cause)
        task.cancel()
        # wait() rather than await: a cancel aimed at *our* caller must still reach it
        await asyncio.wait({task})
        return True

    async def drain(self) -> None:
        """Wait for the running turn to finish, and the one next up after it."""
        while True:
            tasks: list[asyncio.Task[Any]] = [self._current[1]] if self._current else []
            if self._next_task is not None:
                tasks.append(self._next_task)
            running = {task for task in tasks if not task.done()}
            if not running:
                return
            await asyncio.wait(running)

    def silence_turn(self) -> None:
        """The running turn says nothing more (`voice off`); its reply still goes to chat."""
        if self._current is not None and not self._current[1].done():
            self._current[0].silence()

    async def ask(self, question: str, *, login: str, channel: str, now: float) -> None:
        """`!twin ask`: answer this question now, as a moderator's, whatever is running."""
        message = ChatMessage(
            id=f"{ASKED_ID_PREFIX}{time.monotonic_ns()}",
            channel=channel,
            login=login,
            display_name=login,
            text=question,
            ts=now,
            roles=frozenset({Role.MODERATOR}),
        )
        decision = Decision(
            message=message,
            picked=True,
            score=1e6,  # a moderator asked: this beats whatever is running
            parts=(("ask", 1e6),),
            reason=f"{login} asked the twin this with !twin ask",
            category="ask",
        )
        self.window.append(message)
        await self.start_turn(decision)

    def forget(self) -> None:
        """Clear the recent window, what the twin said and what waits (`!twin forget`)."""
        self.window.clear()
        self.recent_replies.clear()
        if self.catchup is not None:
            self.catchup.clear()

    def forget_login(self, login: str) -> bool:
        """A chatter asked to be forgotten (`!twin forget me`): their lines leave the recent
        window, and no question of theirs waits to be answered. Whether any was there."""
        login = login.lower()

        def gone(message: ChatMessage) -> bool:
            return message.login.lower() == login

        erased = self.catchup.remove(gone) > 0 if self.catchup is not None else False
        if self._next is not None and gone(self._next.message):
            self._next = None
            erased = True
        kept = [m for m in self.window if not gone(m)]
        erased = erased or len(kept) != len(self.window)
        self.window.clear()
        self.window.extend(kept)
        return erased

    def _moderate(self, event: Moderation) -> None:
        """Deleted messages and timed-out users leave the window, and no turn answers them."""
        gone = removed_by(event)
        if self.catchup is not None:
            self.catchup.remove(gone)  # a removed question is never caught up on
        if event.kind == "clear":
            self.window.clear()
            self.recent_replies.clear()  # cleared chat is not shown to a model again
        else:
            kept = [m for m in self.window if not gone(m)]
            self.window.clear()
            self.window.extend(kept)
        if self._current is not None and not self._current[1].done():
            answering = self._current[0].message
            if gone(answering):
                turn, task = self._current
                turn.cancel_reason(
                    f"moderation ({event.kind}) removed the message being answered",
                    Cancel.MODERATION,
                )
                task.cancel()
