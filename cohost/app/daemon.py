"""`cohost run`: the daemon. Adapters in one AsyncExitStack, named loops in one TaskGroup.

Shutdown (SIGTERM, SIGINT, or the console's input ending) goes in this order: stop reading chat,
cancel the running turn (its trace says so), stop speech, stop the web server, flush and close
files. Nothing waits on the network without a timeout, so it takes well under five seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import signal
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Literal, TextIO, TypeVar

from cohost.adapters.mqtt import MqttBus
from cohost.app.build import Models, build_guard, build_models
from cohost.app.chatters import Chatters, chatters_file
from cohost.app.paths import journal_dir
from cohost.app.persistence import STATE_HEARTBEAT_S, restore_state, save_state, state_dict
from cohost.app.recall_wiring import recall_query
from cohost.app.settings import Settings, login_of, streamer_logins, with_bot_login
from cohost.app.traces import TraceWriter
from cohost.control.approvals import Approvals, Approved, ChoiceResult
from cohost.control.controller import CommandResult, Controller
from cohost.control.feedback import FeedbackStore
from cohost.core.clock import RealClock
from cohost.core.errors import SettingsError, Transient
from cohost.core.events import ChatMessage, Decision, Hit, Moderation, Role, TurnTrace
from cohost.core.net import is_loopback
from cohost.core.options import WebSettings
from cohost.core.ports import ChatSink, ChatSource, Clock, Journal, Speaker
from cohost.core.serialise import trace_dict
from cohost.core.state import TwinState
from cohost.embedded.bus import LocalBus
from cohost.embedded.console import ConsoleSink, ConsoleSource
from cohost.journal.index import Indexer, with_current_tiers
from cohost.journal.store import JournalStore
from cohost.pipeline.conductor import Conductor, removed_by
from cohost.pipeline.deliver import say_as_twin
from cohost.pipeline.guard import Guard
from cohost.pipeline.pick import AnswerMemory, Picker
from cohost.pipeline.turn import TurnOptions, TurnParts
from cohost.pipeline.twitch_rules import TwitchRules
from cohost.web.app import Metrics, MetricsRecorder

log = logging.getLogger(__name__)

# How long shutdown waits for the web server before leaving it behind.
STOP_TIMEOUT_S = 2.0
WARM_UP_S = 60.0  # the longest chat waits for the embedding model to load
RECENT_TURNS = 50  # what the dashboard shows on its first paint
# `!twin say`s waiting for chat or the voice at once; more are refused until one is said.
MAX_WAITING_SAYS = 3


@dataclass(slots=True)
class Counters:
    """What the daemon has done, for /healthz, /metrics and `!twin status`."""

    started: float = field(default_factory=time.time)
    events: int = 0
    picks: int = 0
    turns: dict[str, int] = field(default_factory=dict)  # by outcome when the turn ended
    settled: dict[str, int] = field(default_factory=dict)  # held turns, by final outcome
    commands: int = 0
    errors: int = 0


T = TypeVar("T")


def _approval_reply(result: ChoiceResult) -> tuple[bool, str]:
    """What `!twin approve` says in chat about a settled choice."""
    if result.outcome == "unsent":
        return True, "approved, but chat refused it"  # the verdict is stored all the same
    return result.ok, "approved" if result.ok else f"not approved: {result.reason}"


class Daemon:
    """One twin in one channel: chat in, turns, commands, traces; also the commands' actions."""

    def __init__(
        self,
        settings: Settings,
        *,
        source: ChatSource,
        sink: ChatSink | None,
        clock: Clock,
        speaker: Speaker | None = None,
        bus: LocalBus | None = None,
        traces: TraceWriter | None = None,
        journal: Journal | None = None,
        indexer: Indexer | None = None,
        drops: Callable[[], tuple[int, int]] = lambda: (0, 0),
        links: Callable[[], dict[str, str]] = dict,
        chatters: Chatters | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.sink = sink
        self.clock = clock
        self.speaker = speaker
        self.bus = bus or LocalBus()
        self.traces = traces
        self.journal = journal
        self.indexer = indexer
        self._drops = drops  # (bus drops, chat sink drops), for /metrics
        self._links = links  # each outside link ("chat.message", "mqtt", ...): "up" or "down"
        # the twin's own account, whose echoed lines are never commands; none when the bot
        # posts as the streamer's own account (the streamer's commands count)
        bot = login_of(settings.twin.bot_login)
        self._own_login = "" if bot in streamer_logins(settings) else bot
        self.chatters = chatters  # live: who chatted before, for first-time chatters
        self.recorder = MetricsRecorder()
        self.recent: deque[dict[str, object]] = deque(maxlen=RECENT_TURNS)
        self.state = TwinState(topic=" ".join(settings.picker.topic_words), hold=settings.turn.hold)
        self._defaults = dataclasses.replace(self.state, ignored=set())  # as the settings say
        self._state_path = settings.data_dir / "state.json"
        self._saved: dict[str, object] = {}  # the state as last saved (or restored)
        self._restore_state(clock)
        self.counters = Counters()
        self.guard: Guard = build_guard(settings)
        self.last_trace: TurnTrace | None = None
        # the last reply chat got: what `!twin good|bad` rate, whatever turns came after it
        self.last_answered: TurnTrace | None = None
        self.conductor: Conductor | None = None
        audit = settings.data_dir / "audit"
        audit.mkdir(parents=True, exist_ok=True)
        self.controller = Controller(
            settings.control, self.state, self, clock, audit / "commands.jsonl"
        )
        self.approvals = Approvals(
            guard=self.guard,
            clock=clock,
            feedback=self._feedback_store(),
            deliver=self._deliver_approved,
            on_decided=self._judged,
            expiry_s=settings.turn.hold_expiry_s,
            keep=RECENT_TURNS,
            current=self._current_hits,
        )
        self.models = ""  # what simulates and rewrites, as a person reads it (set by run())
        self.embedded = False  # the twin is the Markov stand-in
        self._stopping = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._speech: set[asyncio.Task[object]] = set()  # approved replies being spoken
        self._outgoing: set[asyncio.Task[object]] = set()  # replies, `say`s, approved replies
        # approved replies on their way out, by turn id: moderation can still stop them
        self._sending: dict[str, tuple[asyncio.Task[ChoiceResult], TurnTrace]] = {}
        self._says_waiting = 0  # `!twin say`s not yet said (see MAX_WAITING_SAYS)
        self._hushed = 0  # counts hushes (skip, voice off, shutdown): a waiting `say` never speaks
        self._closing = False  # shutting down: no new output tasks

    # ---- the loops -------------------------------------------------------------------------

    async def run(self, *, until_source_ends: bool = False) -> None:
        """Run until stopped (or, for the console, until its input ends and the turn is done)."""
        settings = self.settings
        # reading big logs must not hold the loop while Twitch's websocket waits for keepalives
        lines = await asyncio.to_thread(_log_lines, settings)
        models = build_models(settings, streamer_lines=lines)
        for note in models.notes:
            log.warning("%s", note)
        self.models = models.label  # /healthz needs no token: no server addresses there
        self.embedded = models.embedded
        if models.embedded:
            # said where the streamer looks: the replies are not the LoRA's
            log.warning("the twin is the embedded stand-in: %s", models.description)
        else:
            log.info("models: %s", models.description)
        try:
            await self._run(models, until_source_ends)
        finally:
            await models.aclose()

    async def _run(self, models: Models, until_source_ends: bool) -> None:
        settings = self.settings
        async with asyncio.TaskGroup() as group:
            self.conductor = Conductor(
                picker=Picker(settings.picker, settings.twin),
                parts=TurnParts(
                    simulator=models.simulator,
                    rewriter=models.rewriter,
                    guard=self.guard,
                    clock=self.clock,
                    speaker=self.speaker,
                    sink=self.sink,
                    bus=self.bus,
                    journal=self.journal,
                    query_for=lambda m, w: recall_query(m, w, self.state.topic),
                    state=self.state,
                ),
                options=TurnOptions(
                    twin=settings.twin.name,
                    mode=settings.turn.mode,
                    max_sim_lines=settings.simulator.max_lines,
                    lookahead_lines=models.look_ahead_lines,
                    recall_k=settings.journal.recall_k,
                    candidates=settings.turn.candidates,
                    first_chunk_words=settings.turn.first_chunk_words or None,
                    privacy_run_words=settings.journal.privacy_run_words,
                ),
                state=self.state,
                memory=AnswerMemory.for_settings(settings.picker),
                window_size=settings.replay.window,
                inline=False,
                group=group,
                on_decision=self._decided,
                on_trace=self._finished,
                chat_ready=self.sink.can_post_soon if isinstance(self.sink, TwitchRules) else None,
            )
            self._group = group
            if self.indexer is not None:
                indexer = group.create_task(self.indexer.run(), name="indexer")
                await self._until_warm(self.indexer)
            approvals = group.create_task(self.approvals.run(), name="approvals")
            keeping = group.create_task(self._keep_state(), name="state")
            up_since = self.clock.monotonic()
            chat = group.create_task(self._chat_in(), name="chat-in")
            stop = group.create_task(self._stopping.wait(), name="stop")
            await asyncio.wait({chat, stop}, return_when=asyncio.FIRST_COMPLETED)
            if chat.done() and until_source_ends and not stop.done():
                await self.conductor.drain()
                while self._outgoing and not stop.done():  # what commands said still goes out
                    await asyncio.wait({stop, *self._outgoing}, return_when=asyncio.FIRST_COMPLETED)
            self._closing = True  # from here on, a late command or approval starts no output
            chat.cancel()
            stop.cancel()
            if self.indexer is not None:
                indexer.cancel()
            approvals.cancel()
            keeping.cancel()
            if self.clock.monotonic() - up_since >= STATE_HEARTBEAT_S:
                # the time it went down; a run that died within its first minute (a restart
                # loop) leaves the last time it was really up
                self._save_state(heartbeat=True)
            self.conductor.close()
            await self.conductor.cancel_turn("the daemon is shutting down")
            self._hush()
            if self.speaker is not None:
                with contextlib.suppress(Exception):
                    await self.speaker.stop()
            self.approvals.close()
            # last, after every await above: a send waiting for the rate limit must not hold
            # up the exit
            for task in (*self._outgoing, *self._speech):
                task.cancel()
        self._group = None

    def stop(self) -> None:
        """Ask the daemon to shut down (signal handlers call this)."""
        self._stopping.set()

    async def _chat_in(self) -> None:
        assert self.conductor is not None
        async with contextlib.aclosing(self.source.events()) as events:
            async for event in events:
                self.counters.events += 1
                if (
                    isinstance(event, ChatMessage)
                    and not self._own(event)
                    and await self._command(event)
                ):
                    continue
                if isinstance(event, Moderation):
                    self._moderate_held(event)
                if isinstance(event, ChatMessage) and self.chatters is not None:
                    event = self.chatters.mark(event)  # noqa: PLW2901 (the same message, flagged)
                try:
                    await self.conductor.handle(event)
                except Exception:
                    # one bad message must never end the daemon
                    self.counters.errors += 1
                    log.exception("handling a chat event failed")

    def _own(self, message: ChatMessage) -> bool:
        """Whether chat shows the twin's own line (Twitch echoes it): never a command to obey.

        Whatever the twin was led to say, even a line that reads as a `!twin` command under a
        custom prefix, it only joins the recent chat.
        """
        return bool(self._own_login) and message.login.lower() == self._own_login

    async def _command(self, message: ChatMessage) -> bool:
        result = await self._control(
            message.text, login=message.login, role=message.role, source="chat"
        )
        if result is None:
            return False
        if result.reply and self.sink is not None:
            sink, reply = self.sink, result.reply
            await self._off_chat_loop(
                lambda: sink.send(reply, reply_to=message.id), name="command-reply"
            )
        return True

    async def _off_chat_loop(self, work: Callable[[], Awaitable[object]], *, name: str) -> None:
        """Chat-facing output as a task of its own: reading chat never waits on it.

        A send can wait up to the sink's `max_wait_s` for Twitch's rate limit, and a voice takes
        as long as its audio; meanwhile moderation and commands must still be read. Sends keep
        their order all the same: the sink takes them in turn. Outside `run()` it runs inline.
        """
        if self._closing:
            log.info("shutting down: %s not started", name)
            return
        if self._group is None:
            await work()
            return

        async def logged() -> None:
            try:
                await work()
            except Exception:
                log.exception("%s failed", name)

        self._spawn(logged(), name, self._outgoing)

    def _spawn(
        self, work: Coroutine[object, object, T], name: str, into: set[asyncio.Task[object]]
    ) -> asyncio.Task[T]:
        """A task in the daemon's group, kept in `into` while it runs (to wait for or cancel)."""
        assert self._group is not None
        task = self._group.create_task(work, name=name)
        into.add(task)
        task.add_done_callback(into.discard)
        return task

    async def _control(
        self, text: str, *, login: str, role: Role, source: Literal["chat", "mqtt", "dashboard"]
    ) -> CommandResult | None:
        """One `!twin` command from anywhere, through the one handler; published and counted."""
        result = await self.controller.handle(text, login=login, role=role, source=source)
        if result is None:
            return None
        self.counters.commands += 1
        self.bus.publish(
            "command",
            {
                "command": result.command,
                "login": login,
                "source": source,
                "accepted": result.accepted,
                "reason": result.reason,
                # what chat would read back (`status` and the rest): an MQTT or dashboard
                # caller has no chat to read it in
                "reply": result.reply,
            },
        )
        self.bus.publish("state", self._state_payload())
        if result.accepted:
            self._save_state()
        return result

    def _restore_state(self, clock: Clock) -> None:
        """The ignore list, and after a short time down the switches, as moderators left them."""
        path = self._state_path
        try:
            restored = restore_state(self.state, path, now=clock.now())
        except ValueError as exc:
            aside = path.with_name(f"{path.name}.unreadable-{int(clock.now())}")
            with contextlib.suppress(OSError):
                path.replace(aside)
            log.error("%s; kept as %s, starting from the settings", exc, aside)
            return
        if restored:
            # said where the streamer looks: a twin that comes back paused must say why
            log.warning("restored from %s: %s", path, ", ".join(restored))
        self._saved = state_dict(self.state, saved_at=0.0, defaults=self._defaults)

    def _save_state(self, *, heartbeat: bool = False) -> None:
        """Save the state if a command changed it, or as a heartbeat; a failing disk only logs."""
        current = state_dict(self.state, saved_at=0.0, defaults=self._defaults)
        if current == self._saved and not heartbeat:
            return
        try:
            save_state(self.state, self._state_path, now=self.clock.now(), defaults=self._defaults)
        except OSError as exc:
            if not heartbeat:
                log.warning("cannot save the twin's state to %s: %s", self._state_path, exc)
            return
        self._saved = current

    async def _keep_state(self) -> None:
        """Save the state every minute: its time is when the twin was last up (see restore).

        The first save comes a minute in: a daemon that dies at start again and again (a
        restart loop all night) must not keep the moderators' switches fresh for the next
        stream.
        """
        while True:
            await self.clock.sleep(STATE_HEARTBEAT_S)
            self._save_state(heartbeat=True)

    def mqtt_command(self, text: str, client_id: str) -> None:
        """A command from the MQTT control topic (the bus already checked the client)."""
        if self._group is None:
            return
        # The one allowed MQTT identity is the streamer's own automation.
        self._group.create_task(
            self._control(text, login=f"mqtt:{client_id}", role=Role.BROADCASTER, source="mqtt"),
            name="mqtt-command",
        )

    async def command(self, text: str) -> CommandResult | None:
        """A command from the dashboard, which only the token holder (the streamer) can use."""
        return await self._control(
            text, login="dashboard", role=Role.BROADCASTER, source="dashboard"
        )

    def _state_payload(self) -> dict[str, object]:
        s = self.state
        return {
            "paused": s.paused,
            "voice": s.voice,
            "chat": s.chat,
            "hold": s.hold,
            "topic": s.topic,
            "rate_per_minute": s.rate_per_minute,
        }

    def _decided(self, decision: Decision) -> None:
        if decision.picked:
            self.counters.picks += 1
        message = decision.message
        self.bus.publish(
            "pick" if decision.picked else "chat",
            {
                "message_id": message.id,
                "login": message.login,
                "text": message.text,
                "picked": decision.picked,
                "score": decision.score,
                "parts": dict(decision.parts),
                "reason": decision.reason,
                "category": decision.category,
            },
        )

    def _finished(self, trace: TurnTrace) -> None:
        self.last_trace = trace
        if trace.outcome == "answered":
            self.last_answered = trace
        self.counters.turns[trace.outcome] = self.counters.turns.get(trace.outcome, 0) + 1
        self.recorder.observe(trace)
        if trace.reason.startswith("unexpected "):
            self.counters.errors += 1
        self.recent.append(trace_dict(trace))
        self.approvals.add(trace)
        self._write_trace(trace)

    def _moderate_held(self, event: Moderation) -> None:
        """Held replies to what moderation removed are never approved."""
        gone = removed_by(event)
        why = {
            "clear": "chat was cleared before it was approved",
            "delete": "the message it answered was deleted",
        }.get(event.kind, f"{event.target_login} was timed out or banned")
        self.approvals.moderated(lambda t: gone(t.decision.message), why)
        # an approved reply still waiting for chat: approved, but what it answers is gone
        sending_why = "chat was cleared" if event.kind == "clear" else why
        for turn_id, (task, trace) in list(self._sending.items()):
            if not task.done() and gone(trace.decision.message):
                self.approvals.stop_sending(turn_id, sending_why)
                task.cancel()

    def _write_trace(self, trace: TurnTrace) -> None:
        if self.traces is None:
            return
        try:
            self.traces.write(trace)
        except OSError:
            # a full or read-only disk loses this trace, never the daemon
            self.counters.errors += 1
            log.exception("writing a trace failed")

    def _judged(self, trace: TurnTrace, was_held: bool) -> None:
        """The streamer (or the clock) decided a turn's candidates; see `cohost.control.approvals`.

        A held turn's final outcome replaces "held": counted in `settled`, published, and its
        trace written again (see `cohost.app.traces`: the later line for a turn id stands).
        """
        data = trace_dict(trace)
        for i, old in enumerate(self.recent):
            if old.get("turn_id") == trace.turn_id:
                self.recent[i] = data
        if not was_held:
            return  # a live turn's candidates were only rated
        settled = self.counters.settled
        settled[trace.outcome] = settled.get(trace.outcome, 0) + 1
        if trace.outcome == "answered":
            self.last_answered = trace  # `!twin good|bad` now rate what went out
            if self.conductor is not None:
                self.conductor.recent_replies.append(trace.reply)  # said now
            self.bus.publish("turn/reply", {"turn_id": trace.turn_id, "reply": trace.reply})
        self.bus.publish(
            "turn/settled",
            {
                "turn_id": trace.turn_id,
                "outcome": trace.outcome,
                "reason": trace.reason,
                "decided": trace.decided,
            },
        )
        self._write_trace(trace)

    async def _deliver_approved(self, trace: TurnTrace, text: str) -> list[str] | None:
        """Post an approved reply under the message it answers, and speak it (per the state).

        Returns the messages chat took, or None when chat was not tried.
        """
        sent: list[str] | None = None
        if self.sink is not None and self.state.chat:
            sent = []
            asked = trace.decision.message
            thread = asked.id if asked.threadable else None
            for i, part in enumerate(self.guard.check(text, trace.hits).messages):
                if await self.sink.send(part, reply_to=thread if i == 0 else None):
                    sent.append(part)
                    trace.sent = list(sent)  # as it goes: a cancel later knows what went out
        if (
            self.speaker is not None
            and self.state.voice
            and self._group is not None
            and not self._closing
        ):
            # the dashboard's request returns now; the voice takes as long as it takes
            self._spawn(self._speak(text, trace.turn_id), "approved-speech", self._speech)
        return sent

    async def _until_warm(self, indexer: Indexer) -> None:
        """Wait (seconds, once) for the embedding model, so the first turns can recall."""
        if indexer.warm.is_set():
            return
        log.info("loading the journal's embedding model before reading chat")
        stop = asyncio.ensure_future(self._stopping.wait())
        warm = asyncio.ensure_future(indexer.warm.wait())
        try:
            await asyncio.wait({stop, warm}, timeout=WARM_UP_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            warm.cancel()
        if not indexer.warm.is_set() and not self._stopping.is_set():
            log.warning(
                "the embedding model is still loading after %.0f s; reading chat", WARM_UP_S
            )

    def _hush(self) -> None:
        """`skip`, `voice off` and shutdown: approved replies and `say`s stop, or never start."""
        self._hushed += 1
        for task in list(self._speech):
            task.cancel()

    async def _speak(self, text: str, turn_id: str) -> None:
        assert self.speaker is not None
        try:
            await self.speaker.say(text, turn_id=turn_id)
        except Exception:
            # a dead voice degrades an approved reply to chat only
            log.exception("speaking an approved reply failed")

    def _the_held_turn(self) -> tuple[str | None, str]:
        """The one held reply a chat command means, or why there is none to take.

        With two or more waiting, "the newest" could change between reading and typing (or a
        second mod's command would take the next one): the dashboard picks among them.
        """
        held = self.approvals.held()
        if not held:
            return None, "nothing is held"
        if len(held) > 1:
            return None, f"{len(held)} replies are held: choose on the dashboard"
        return held[0].turn_id, ""

    async def approve_held(self, choice: int, *, login: str) -> tuple[bool, str]:
        """`!twin approve [N]`: candidate N of the held reply goes out.

        Decided at once; the reply then goes out as a task of its own, as command replies do:
        reading chat never waits for Twitch's limit. Whether chat took it is in its trace.
        """
        if self._closing:
            return False, "the twin is shutting down"
        turn_id, why = self._the_held_turn()
        if turn_id is None:
            return False, why
        taken = self.approvals.take(turn_id, choice, login=login)
        if isinstance(taken, ChoiceResult):
            return _approval_reply(taken)
        if self._group is None:  # not running: nothing to read meanwhile
            return _approval_reply(await self.approvals.send(taken))
        self._start_sending(taken)
        return True, "approved"

    def _start_sending(self, taken: Approved) -> asyncio.Task[ChoiceResult]:
        """An approved reply goes out as a task that moderation and shutdown can still stop."""
        turn_id = taken.trace.turn_id

        async def sending() -> ChoiceResult:
            try:
                return await self.approvals.send(taken)
            except Exception as exc:
                # a failing feedback or trace write loses this approval's record, never the daemon
                log.exception("sending the approved reply of turn %s failed", turn_id)
                return ChoiceResult(ok=False, outcome=taken.trace.outcome, reason=str(exc))

        def done(task: asyncio.Task[ChoiceResult]) -> None:
            self._sending.pop(turn_id, None)
            if task.cancelled():
                self.approvals.settle_cancelled(taken)  # also when cancelled before it began

        task = self._spawn(sending(), "approved-reply", self._outgoing)
        self._sending[turn_id] = (task, taken.trace)
        task.add_done_callback(done)
        return task

    async def reject_held(self, *, login: str) -> tuple[bool, str]:
        """`!twin reject`: the held reply is dropped."""
        turn_id, why = self._the_held_turn()
        if turn_id is None:
            return False, why
        result = await self.approvals.reject(turn_id, login=login)
        return result.ok, "rejected" if result.ok else f"not rejected: {result.reason}"

    async def choose(self, turn_id: str, choice: int) -> ChoiceResult:
        """The dashboard approves a held reply, or picks the best of a turn's candidates.

        The request waits for chat to take an approved reply, but the send is a task of its
        own: moderation can still stop it, and a dropped request does not.
        """
        if self._closing:
            return ChoiceResult(ok=False, reason="the twin is shutting down")
        taken = self.approvals.take(turn_id, choice, login="dashboard")
        if isinstance(taken, ChoiceResult):
            return taken
        if self._group is None:
            return await self.approvals.send(taken)
        task = self._start_sending(taken)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise  # the request itself went away; the reply goes on
            trace = taken.trace  # moderation or shutdown stopped it: its trace says which
            return ChoiceResult(ok=False, outcome=trace.outcome, reason=trace.reason)

    async def reject(self, turn_id: str) -> ChoiceResult:
        """The dashboard rejects a held reply."""
        return await self.approvals.reject(turn_id, login="dashboard")

    def _feedback_store(self) -> FeedbackStore:
        return FeedbackStore(self.settings.data_dir / "feedback" / "feedback.jsonl")

    # ---- what `!twin` commands do (cohost.control.controller.TwinActions) -----------------------

    async def skip(self, reason: str) -> bool:
        assert self.conductor is not None
        cancelled = await self.conductor.cancel_turn(reason)
        self._hush()
        if self.speaker is not None:
            await self.speaker.stop()
        return cancelled

    async def silence(self) -> None:
        if self.conductor is not None:
            self.conductor.silence_turn()
        self._hush()
        if self.speaker is not None:
            await self.speaker.stop()

    async def say(self, text: str) -> str | None:
        if self._says_waiting >= MAX_WAITING_SAYS:
            # an automation in a loop must not queue the voice for the rest of the stream
            return (
                f"{self._says_waiting} !twin says are still waiting to go out; "
                "try again once one is said"
            )
        checked = self.guard.check(text)
        hushed = self._hushed  # a skip or voice off after this: the voice never says it
        self._says_waiting += 1

        async def saying() -> None:
            try:
                await say_as_twin(
                    checked,
                    sink=self.sink,
                    speaker=self.speaker,
                    chat_on=lambda: self.state.chat,
                    voice_on=lambda: self.state.voice and self._hushed == hushed,
                )
            finally:
                self._says_waiting -= 1

        await self._off_chat_loop(saying, name="say")
        return None

    async def ask(self, question: str, *, login: str) -> None:
        assert self.conductor is not None
        channel = self.settings.twin.streamer or "console"
        await self.conductor.ask(question, login=login, channel=channel, now=self.clock.now())

    def forget(self) -> None:
        assert self.conductor is not None
        self.conductor.forget()

    @functools.cached_property
    def _journal_files(self) -> JournalStore:
        """The journal's files, opened once (for notes, and the tiers an approval checks)."""
        return JournalStore(journal_dir(self.settings), self.settings.journal)

    def _current_hits(self, hits: Sequence[Hit]) -> list[Hit]:
        """Hits with the tiers their files give them now (a few small files)."""
        return with_current_tiers(hits, self._journal_files)

    async def note(self, text: str) -> str:
        store = self._journal_files
        entry = await asyncio.to_thread(store.add, text, tags=("cohost-note",))
        if self.indexer is not None:
            self.indexer.submit(entry.id)
        return entry.title

    def feedback(self, verdict: Literal["good", "bad"], *, login: str) -> str | None:
        trace = self.last_answered
        if trace is None:
            return None  # only what was really said can be rated (and become training data)
        # the turn's other guarded candidates are what a DPO pair sets the rated reply against
        others = [text for text in trace.alternatives if text != trace.reply]
        self._feedback_store().record(trace_dict(trace), verdict, login, alternatives=others)
        return trace.reply

    def status(self) -> str:
        """What the daemon has done; the controller adds the state itself."""
        turns = ", ".join(f"{k} {v}" for k, v in sorted(self.counters.turns.items())) or "none"
        # chat sees whether the twin is the stand-in; never the servers' addresses
        twin = "embedded stand-in" if self.embedded else "served model"
        return f"{self.counters.picks} picks, turns: {turns}, twin: {twin}"

    def health(self) -> dict[str, object]:
        """What /healthz says."""
        links = self._links()
        return {
            "ok": True,
            "uptime_s": round(time.time() - self.counters.started, 1),
            # /healthz needs no token: how many the twin ignores, never who
            "state": self._state_payload() | {"ignored": len(self.state.ignored)},
            "events": self.counters.events,
            "picks": self.counters.picks,
            "turns": self.counters.turns,
            "commands": self.counters.commands,
            "errors": self.counters.errors,
            "busy": bool(self.conductor and self.conductor.busy),
            "held": self.approvals.waiting(),
            "hold_expiry_s": self.settings.turn.hold_expiry_s,
            "models": self.models,
            "embedded": self.embedded,
            # the process serves ("ok") even when a link is down: it degrades, it does not die
            "links": links,
            "degraded": any(state != "up" for state in links.values()),
        }

    def metrics(self) -> Metrics:
        """What /metrics shows."""
        bus_drops, sink_drops = self._drops()
        c = self.counters
        return self.recorder.metrics(
            uptime_s=time.time() - c.started,
            events=c.events,
            picks=c.picks,
            turns=c.turns,
            commands=c.commands,
            errors=c.errors,
            bus_drops=bus_drops,
            sink_drops=sink_drops,
            settled=c.settled,
            held=self.approvals.waiting(),
        )

    def subscribe(self, handler: Callable[[str, dict[str, object]], None]) -> Callable[[], None]:
        """Every bus event to handler (the dashboard and overlay streams)."""
        return self.bus.subscribe(handler)

    def recent_turns(self) -> list[dict[str, object]]:
        """The last turns' traces, oldest first."""
        return list(self.recent)


def _log_lines(settings: Settings) -> list[str]:
    """The streamer's lines from the chat logs named in settings, read as streams."""
    from cohost.chatlog import open_log  # noqa: PLC0415

    lines: list[str] = []
    streamer = settings.twin.streamer.casefold()
    if not streamer:
        return lines
    for path in settings.twin.chat_logs:
        for event in open_log(path):
            if isinstance(event, ChatMessage) and event.login == streamer:
                text = event.text.strip()
                if text and text[0] not in "!/":
                    lines.append(text)
    return lines


async def _serve_web(daemon: Daemon) -> Callable[[], Awaitable[None]]:
    """The web app (dashboard, overlay, metrics, health) on loopback; returns how to stop it."""
    import uvicorn  # noqa: PLC0415

    from cohost.web.app import create_web_app  # noqa: PLC0415

    settings = daemon.settings
    web = settings.web
    if not is_loopback(web.host):
        log.warning(
            "the web app binds %s, not loopback: anyone who can reach it sees /overlay and "
            "/metrics; the dashboard still needs the token",
            web.host,
        )
    app = create_web_app(
        daemon,
        token=web.token,
        command_prefix=settings.control.prefix,
        allowed_hosts=allowed_hosts(web),
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host=web.host, port=web.port, log_level="warning", lifespan="off")
    )
    # Bound here, not by uvicorn: a port in use is then an error that says what to do, where
    # uvicorn would log its own and exit the process.
    try:
        listening = socket.create_server(
            (web.host, web.port), family=socket.AF_INET6 if ":" in web.host else socket.AF_INET
        )
    except OSError as exc:
        raise SettingsError(
            f"the web app cannot listen on {web.host}:{web.port}: {exc.strerror or exc} "
            "(is another cohost running? COHOST_WEB__PORT picks another port, "
            "COHOST_WEB__ENABLED=false runs without the web app)"
        ) from None
    task = asyncio.create_task(server.serve(sockets=[listening]), name="web")

    def ended(done: asyncio.Task[None]) -> None:
        # the web server lives beside the daemon's TaskGroup: its death must not go unnoticed
        if not done.cancelled() and done.exception() is not None and server.started:
            log.error("the web app stopped: %s; shutting down", done.exception())
            daemon.stop()

    task.add_done_callback(ended)

    async def stop() -> None:
        app.state.hub.close()  # live streams never end on their own; uvicorn waits for them
        server.should_exit = True
        try:
            await asyncio.wait_for(task, STOP_TIMEOUT_S)
        except TimeoutError:
            task.cancel()

    while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn offers no event)
        await asyncio.sleep(0.02)
    if task.done():
        listening.close()
        task.result()  # why it ended: say so now, not later
        raise OSError(f"the web app could not start on {web.host}:{web.port}")
    for sock in (s for srv in server.servers for s in srv.sockets):
        host, port = sock.getsockname()[:2]
        log.info("health endpoint on http://%s:%s/healthz", host, port)
        log.info("dashboard on http://%s:%s/dashboard, overlay on /overlay", host, port)
    return stop


def allowed_hosts(web: WebSettings) -> list[str] | None:
    """The host names the web app answers: bound to loopback, only loopback names and those
    the settings add (no DNS rebinding); bound elsewhere (the streamer's own proxy), any."""
    if not is_loopback(web.host) or "*" in web.allowed_hosts:
        return None
    bound = f"[{web.host}]" if ":" in web.host else web.host
    return list(dict.fromkeys(["127.0.0.1", "localhost", "[::1]", bound, *web.allowed_hosts]))


def _with_bot_login(settings: Settings, login: str) -> Settings:
    """The settings with the twin's bot login as the token says.

    The twin's own lines reach the daemon (Twitch echoes them) so that the recent chat holds
    what it said; the picker must know them as its own whatever the settings say, or the twin
    would answer itself.
    """
    configured = login_of(settings.twin.bot_login)
    if configured == login:
        return settings
    if login in streamer_logins(settings):
        # the bot posts as the streamer's own account: its lines cannot be told from the
        # streamer's, who must still be answered and obeyed; left as configured
        return settings
    if configured:
        log.warning("COHOST_TWIN__BOT_LOGIN is %s, but the bot's token is for %s: using %s",
                    configured, login, login)  # fmt: skip
    return with_bot_login(settings, login)


def _open_journal(
    settings: Settings, stack: AsyncExitStack, clock: Clock
) -> tuple[Journal | None, Indexer | None]:
    """DATA_DIR's journal and its index; a journal that cannot open degrades to none."""
    try:
        from cohost.app.journal_wiring import journal_for, open_index  # noqa: PLC0415
        from cohost.pipeline.recall import RankedJournal  # noqa: PLC0415

        index = stack.enter_context(open_index(settings))
    except (Transient, ModuleNotFoundError, OSError) as exc:
        log.warning("answering without the journal: %s", exc)
        return None, None
    journal = RankedJournal.from_settings(journal_for(index), clock, settings.journal)
    return journal, Indexer(index, maxsize=settings.journal.indexer_queue)


async def run_daemon(
    settings: Settings, *, console: bool, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Build the adapters, run the daemon, shut down in order; returns the exit status."""
    clock = RealClock()
    async with AsyncExitStack() as stack:
        traces = stack.enter_context(
            TraceWriter(settings.data_dir / "traces" / f"{time.strftime('%Y-%m-%d')}.jsonl")
        )
        bus = LocalBus()
        daemons: list[Daemon] = []  # the MQTT control callback needs the daemon built below
        mqtt: MqttBus | None = None
        rules: TwitchRules | None = None

        def on_control(text: str, client: str) -> None:
            for daemon in daemons:
                daemon.mqtt_command(text, client)

        twitch_links: Callable[[], dict[str, str]] = dict

        def links() -> dict[str, str]:
            out = dict(twitch_links())
            if mqtt is not None:
                out["mqtt"] = "up" if mqtt.connected.is_set() else "down"
            if isinstance(speaker, WavSpeaker) and speaker.link is not None:
                out["voice"] = speaker.link  # the sound card, with output auto
            return out

        def drops() -> tuple[int, int]:
            sink_drops = 0
            if rules is not None:
                counters = rules.counters.as_dict()
                sink_drops = sum(counters.values()) - counters.get("sent", 0)
            return (mqtt.dropped if mqtt is not None else 0), sink_drops

        if settings.bus.mqtt_host:
            b = settings.bus
            mqtt = await stack.enter_async_context(
                MqttBus(
                    host=b.mqtt_host,
                    port=b.mqtt_port,
                    prefix=b.topic_prefix,
                    client_id=b.client_id,
                    username=b.username or None,
                    password=b.password.get_secret_value() if b.password else None,
                    control_client=b.control_client,
                    on_control=on_control,
                )
            )
            bus.subscribe(mqtt.publish)
        from cohost.adapters.speech import WavSpeaker  # noqa: PLC0415
        from cohost.app.build import speaker_from_settings  # noqa: PLC0415

        speaker = speaker_from_settings(settings, clock, bus=bus)
        if isinstance(speaker, contextlib.AbstractAsyncContextManager):
            await stack.enter_async_context(speaker)
        journal, indexer = _open_journal(settings, stack, clock)
        source: ChatSource
        sink: ChatSink
        chatters: Chatters | None = None
        if console:
            source = ConsoleSource(clock, stream=stdin)
            sink = ConsoleSink(settings.twin.name, stream=stdout)
        else:
            from cohost.adapters.twitch import TwitchChat  # noqa: PLC0415
            from cohost.adapters.twitch_tokens import TokenStore  # noqa: PLC0415

            twitch = await stack.enter_async_context(
                TwitchChat(
                    settings.twitch,
                    TokenStore.in_data_dir(settings.data_dir),
                    known_bots=settings.picker.known_bots,
                )
            )
            rules = TwitchRules.from_settings(twitch, clock, settings.sink)
            twitch.on_bot_roles = rules.bot_roles_seen  # modded or not, as Twitch shows it
            twitch_links = twitch.links
            source, sink = twitch, rules
            settings = _with_bot_login(settings, twitch.bot_login)
            if settings.picker.remember_chatters:
                path = chatters_file(settings.data_dir, settings.twitch.channel)
                chatters = stack.enter_context(Chatters(path, clock, skip={twitch.bot_login}))
        daemon = Daemon(
            settings,
            source=source,
            sink=sink,
            clock=clock,
            speaker=speaker,
            bus=bus,
            traces=traces,
            journal=journal,
            indexer=indexer,
            drops=drops,
            links=links,
            chatters=chatters,
        )
        daemons.append(daemon)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, daemon.stop)
            stack.callback(loop.remove_signal_handler, sig)
        if settings.web.enabled:
            stack.push_async_callback(await _serve_web(daemon))
        await daemon.run(until_source_ends=console)
    return 0
