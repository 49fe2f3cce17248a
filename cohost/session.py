"""The session: chat in, the twin's own lines, `!twin` commands, and what the commands do.

One Session serves the daemon, a replay and the demo, so a command or an option added here works
in all of them. The app builds its parts from Settings (`cohost.app.build.turn_setup`) and gives
it a lifetime: the daemon starts it in its TaskGroup, where turns, replies to commands and
approved replies run as tasks while chat is still read; a replay starts it with no group, and
then every turn and every output runs inline, in the log's order, so a replay repeats itself.
What a session cannot do (a replay holds nothing and writes no journal) it refuses by name, before
the controller (`SessionOptions.refused`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cohost.control.approvals import Approvals, Approved, ChoiceResult
from cohost.control.controller import (
    AddedCommand,
    CommandResult,
    Controller,
    Rated,
    Source,
    Verdict,
    parse_command,
)
from cohost.control.feedback import FeedbackStore
from cohost.core.bus_events import (
    CommandDone,
    MessagePicked,
    MessageSeen,
    StateChanged,
    StreamEventSeen,
    ThanksGiven,
    TurnReplied,
    TurnSettled,
    WelcomeGiven,
)
from cohost.core.events import (
    Cancel,
    ChatMessage,
    Decision,
    Failure,
    Follow,
    Hit,
    Moderation,
    Role,
    SourceEvent,
    StageTime,
    TurnTrace,
    UserNotice,
)
from cohost.core.options import ControlSettings, JournalSettings
from cohost.core.ports import (
    Bus,
    ChatSink,
    ChatSource,
    Clock,
    Journal,
    Rewriter,
    Simulator,
    Speaker,
)
from cohost.core.serialise import bus_payload, emit, trace_dict
from cohost.core.state import TwinState
from cohost.embedded.bus import LocalBus
from cohost.journal.index import Indexer, with_current_tiers
from cohost.journal.store import JournalStore
from cohost.pipeline.conductor import Conductor, notice_as_message, removed_by
from cohost.pipeline.deliver import post, say_as_twin, speak
from cohost.pipeline.guard import Guard, GuardResult
from cohost.pipeline.listen import HEARD_STAGE
from cohost.pipeline.pick import AnswerMemory, Picker
from cohost.pipeline.reactions import Reactions, Support, Thanks, support_of, thanks_decision
from cohost.pipeline.regulars import Regulars, Welcome
from cohost.pipeline.turn import TurnOptions, TurnParts
from cohost.pipeline.twitch_rules import TwitchRules

log = logging.getLogger(__name__)

RECENT_TURNS = 50  # what the dashboard shows on its first paint
HEARD_KEPT = 32  # spoken lines whose hearing waits for their turn's trace
# Live, how often thank-yous are looked for, and how long a twin-styled one waits for the turn
# that is running to end before it cuts it short.
THANKS_TICK_S = 0.25
THANKS_WAIT_S = 20.0
# `!twin say`s waiting for chat or the voice at once; more are refused until one is said.
MAX_WAITING_SAYS = 3
MAX_KNOWN_IDS = 10_000  # logins whose Twitch user id the session remembers (for forgetting)
# Live, how often a welcome held back (by its cooldown, or for the twin to be quiet) is looked
# at, and how long a twin-styled one waits for a quiet moment before its template is said.
WELCOME_TICK_S = 1.0
WELCOME_WAIT_S = 20.0

T = TypeVar("T")


@dataclass(slots=True)
class Counters:
    """What the session has done, for /healthz, /metrics and `!twin status`."""

    started: float = field(default_factory=time.time)
    events: int = 0
    picks: int = 0
    turns: dict[str, int] = field(default_factory=dict)  # by outcome when the turn ended
    settled: dict[str, int] = field(default_factory=dict)  # held turns, by final outcome
    commands: int = 0
    errors: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnSetup:
    """What every turn is made of: the picker, the models, the journal, how turns run."""

    picker: Picker
    options: TurnOptions
    simulator: Simulator
    rewriter: Rewriter
    memory: AnswerMemory
    window_size: int  # messages of recent chat a turn sees
    journal: Journal | None = None
    # the journal's query for a picked message, its window and the stream's topic at the time
    recall_query: Callable[[ChatMessage, Sequence[ChatMessage], str], str] | None = None
    embedded: bool = False  # the twin is the Markov stand-in (`!twin status` says so)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionOptions:
    """How a session runs, in plain values (the app reads them from Settings)."""

    channel: str  # where a `!twin ask` question is put
    # the broadcaster's login, whom no moderator can make the twin ignore ("": the channel)
    broadcaster: str = ""
    # Logins whose lines are never obeyed as commands: the twin's own (Twitch echoes them; led to
    # say a command, it must not steer itself), and in a replay the other bots' too.
    not_commands: frozenset[str] = frozenset()
    # Commands this session refuses outright, by name, and why (a replay writes no journal).
    refused: Mapping[str, str] = field(default_factory=dict)
    audit: Path | None = None  # the audit log of commands (JSON lines); None: none
    hold_expiry_s: float = 600.0  # a held reply can be approved this long
    max_waiting_says: int = MAX_WAITING_SAYS


class TraceLog(Protocol):
    """Where finished turns are written, one JSON line each (`cohost.app.traces.TraceWriter`)."""

    def write(self, trace: TurnTrace) -> None:
        """Write the trace (a later line for the same turn id stands)."""
        ...


class ChatterMemory(Protocol):
    """Who chatted in this channel before (`cohost.app.chatters.Chatters`)."""

    def mark(self, message: ChatMessage) -> ChatMessage:
        """The message, flagged as a first-time chatter's if it is one."""
        ...

    def forget(self, keys: Collection[str]) -> bool:
        """Erase these chatters (user ids or logins); whether any was kept."""
        ...


class Notebook:
    """The journal as commands write it: `!twin note`, and the tiers a held reply is checked at."""

    def __init__(
        self, directory: Path, settings: JournalSettings, indexer: Indexer | None = None
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.indexer = indexer

    @functools.cached_property
    def files(self) -> JournalStore:
        """The journal's files, opened at first use (opening tidies a crashed write away)."""
        return JournalStore(self.directory, self.settings)

    async def add(self, text: str) -> str:
        """A new entry, written (off the event loop) and queued for the index; its title."""
        entry = await asyncio.to_thread(self.files.add, text, tags=("cohost-note",))
        if self.indexer is not None:
            self.indexer.submit(entry.id)
        return entry.title

    def current(self, hits: Sequence[Hit]) -> list[Hit]:
        """Hits with the tiers their files give them now (a few small files)."""
        return with_current_tiers(hits, self.files)


def _approval_reply(result: ChoiceResult) -> tuple[bool, str]:
    """What `!twin approve` says in chat about a settled choice."""
    if result.outcome == "unsent":
        return True, "approved, but chat refused it"  # the verdict is stored all the same
    return result.ok, "approved" if result.ok else f"not approved: {result.reason}"


class Session:
    """One twin in one channel: chat in, commands, and what the `!twin` actions do.

    It is the controller's `TwinActions`. Hooks let the app see what happened without the session
    knowing the app: `on_decision` for every decision, `on_trace` for every finished turn,
    `on_command` for every command (with the chat message it came in, None from elsewhere).
    """

    def __init__(
        self,
        options: SessionOptions,
        *,
        control: ControlSettings,
        state: TwinState,
        clock: Clock,
        guard: Guard,
        sink: ChatSink | None,
        speaker: Speaker | None = None,
        bus: Bus | None = None,
        traces: TraceLog | None = None,
        feedback: FeedbackStore | None = None,
        notebook: Notebook | None = None,
        chatters: ChatterMemory | None = None,
        commands: Sequence[AddedCommand] = (),
        reactions: Reactions | None = None,
        regulars: Regulars | None = None,
        on_decision: Callable[[Decision], None] | None = None,
        on_trace: Callable[[TurnTrace], None] | None = None,
        on_command: Callable[[CommandResult, ChatMessage | None], None] | None = None,
    ) -> None:
        self.options = options
        self.state = state
        self.clock = clock
        self.guard = guard
        self.sink = sink
        self.speaker = speaker
        self.bus = bus or LocalBus()
        self.traces = traces
        self.notebook = notebook
        self.chatters = chatters
        self.reactions = reactions  # thanks for raids, follows, subs, gifts, cheers; None: none
        self.regulars = regulars  # returning chatters: welcomes and context; None: off
        self._user_ids: dict[str, str] = {}  # login -> Twitch user id, of recent chatters
        self._feedback = feedback
        self._on_decision = on_decision
        self._on_trace = on_trace
        self._on_command = on_command
        self.counters = Counters()
        self.recent: deque[dict[str, object]] = deque(maxlen=RECENT_TURNS)
        self.last_trace: TurnTrace | None = None
        # the last reply chat got: what `!twin good|bad` rate, whatever turns came after it
        self.last_answered: TurnTrace | None = None
        # the verdicts given on recent replies, by turn id: a changed verdict is said as such
        self._verdicts: dict[str, Verdict] = {}
        self.conductor: Conductor | None = None  # made by start()
        self.embedded = False  # the twin is the Markov stand-in (known at start)
        self.controller = Controller(
            control,
            state,
            self,
            clock,
            options.audit,
            added=commands,
            broadcaster=options.broadcaster or options.channel,
        )
        # what is held for approval, and the choice between candidates; a session without a
        # feedback store (a replay) holds nothing: every choice is feedback
        self.approvals = (
            Approvals(
                guard=guard,
                clock=clock,
                feedback=feedback,
                deliver=self._deliver_approved,
                on_decided=self._judged,
                expiry_s=options.hold_expiry_s,
                keep=RECENT_TURNS,
                current=notebook.current if notebook is not None else None,
            )
            if feedback is not None
            else None
        )
        self._group: asyncio.TaskGroup | None = None
        self._expiry: asyncio.Task[None] | None = None  # settles held replies as they expire
        self._thanking: asyncio.Task[None] | None = None  # says thank-yous as they come due
        self._catching_up: asyncio.Task[None] | None = None  # answers questions that waited
        self._welcoming: asyncio.Task[None] | None = None  # says welcomes held back, when due
        # a twin-styled welcome waiting for the twin to be quiet, and since when; those whose
        # turn is running, by message id; and those whose turn said nothing (said as templates)
        self._greeting: tuple[Welcome, float] | None = None
        self._welcome_turns: dict[str, Welcome] = {}
        self._unwelcomed: list[Welcome] = []
        # twin-styled thank-yous whose turn is running, by message id; and those whose turn
        # said nothing, to be said from their template instead
        self._thanks_turns: dict[str, Thanks] = {}
        self._unsaid: list[Thanks] = []
        self._speech: set[asyncio.Task[object]] = set()  # approved replies being spoken
        self._outgoing: set[asyncio.Task[object]] = set()  # replies, `say`s, approved replies
        # approved replies on their way out, by turn id: moderation can still stop them
        self._sending: dict[str, tuple[asyncio.Task[ChoiceResult], TurnTrace]] = {}
        self._says_waiting = 0  # `!twin say`s not yet said (see `max_waiting_says`)
        self._hushed = 0  # counts hushes (skip, voice off, shutdown): a waiting `say` never speaks
        self._closing = False  # shutting down: no new output tasks
        # how long each spoken line took to hear, by message id, until its turn's trace has it
        self._heard: dict[str, StageTime] = {}

    # ---- lifetime ---------------------------------------------------------------------------

    def start(self, setup: TurnSetup, *, group: asyncio.TaskGroup | None = None) -> None:
        """Make the conductor: turns run as tasks in `group` (live), or inline without one."""
        if self.conductor is not None:
            raise RuntimeError("a session starts once")
        state, recall_query = self.state, setup.recall_query

        def query_for(message: ChatMessage, window: Sequence[ChatMessage]) -> str:
            assert recall_query is not None
            return recall_query(message, window, state.topic)  # the topic as it is now

        sink = self.sink
        self.conductor = Conductor(
            picker=setup.picker,
            parts=TurnParts(
                simulator=setup.simulator,
                rewriter=setup.rewriter,
                guard=self.guard,
                clock=self.clock,
                speaker=self.speaker,
                sink=sink,
                bus=self.bus,
                journal=setup.journal,
                query_for=query_for if recall_query is not None else None,
                context_for=self.regulars.context if self.regulars is not None else None,
                state=state,
            ),
            options=setup.options,
            state=state,
            memory=setup.memory,
            window_size=setup.window_size,
            inline=group is None,
            group=group,
            on_decision=self._decided,
            on_trace=self._finished,
            chat_ready=sink.can_post_soon if isinstance(sink, TwitchRules) else None,
        )
        self.embedded = setup.embedded
        self._group = group
        if group is not None and self.approvals is not None:
            self._expiry = group.create_task(self.approvals.run(), name="approvals")
        if group is not None and self.reactions is not None:
            self._thanking = group.create_task(self._thank_when_due(), name="thanks")
        if group is not None and self.regulars is not None:
            self._welcoming = group.create_task(self._welcome_when_due(), name="welcomes")
        if group is not None and self.conductor.catchup is not None:
            # questions held back while chat flooded, answered when it calms (issue 19)
            self._catching_up = group.create_task(
                self.conductor.catch_up_when_calm(), name="catch-up"
            )

    async def chat_in(self, source: ChatSource) -> None:
        """Read chat until the source ends (or the task is cancelled)."""
        async with contextlib.aclosing(source.events()) as events:
            async for event in events:
                await self.handle(event)
        if self.reactions is not None and not self._closing:
            # the source ended (a log, the console): what waits is thanked now
            for thanks in self.reactions.flush(self.clock.now()):
                await self._thank(thanks)

    async def handle(self, event: SourceEvent) -> None:
        """One chat event: a command is obeyed, anything else goes to the conductor."""
        if self.conductor is None:
            raise RuntimeError("start() the session before chat comes in")
        self.counters.events += 1
        if isinstance(event, ChatMessage) and event.user_id:
            self._remember_id(event)
        if isinstance(event, ChatMessage) and not self._own(event) and await self._command(event):
            return
        if self._supported(event) or isinstance(event, Follow):
            if self._group is None:
                await self._thank_due()  # inline (a replay): the log's time says what is due
            return  # thanked instead of answered (a follow is never chat)
        if isinstance(event, Moderation):
            self._moderate_held(event)
        if isinstance(event, ChatMessage) and self.chatters is not None:
            event = self.chatters.mark(event)  # the same message, flagged
        twin_welcomes = self.regulars is not None and self.regulars.settings.greeting == "twin"
        if isinstance(event, ChatMessage) and self.regulars is not None:
            self.regulars.hear(event)
            if not twin_welcomes:
                await self._welcome(event.ts)  # a template goes out before the answer
        try:
            await self.conductor.handle(event)
        except Exception:
            # one bad message must never end the session
            self.counters.errors += 1
            log.exception("handling a chat event failed")
        if isinstance(event, ChatMessage) and twin_welcomes:
            await self._welcome(event.ts)  # after the pick: an answer to them welcomes them
        if self._group is None:
            await self._thank_due()

    async def drain(self, stop: asyncio.Future[Any]) -> None:
        """The source ended: let the running turn, the one next up, then what commands said
        go out, unless `stop` comes first."""
        if self.conductor is not None:
            await self.conductor.drain()
        while self._outgoing and not stop.done():
            await asyncio.wait({stop, *self._outgoing}, return_when=asyncio.FIRST_COMPLETED)

    async def close(self, reason: str) -> None:
        """Shutting down: nothing new goes out, the running turn is cancelled (its trace says
        `reason`), speech stops, held replies settle, and what waits to go out is cancelled."""
        self._closing = True  # from here on, a late command or approval starts no output
        if self._expiry is not None:
            self._expiry.cancel()
        if self._thanking is not None:
            self._thanking.cancel()  # what waits for its batch to close is not thanked now
        if self._catching_up is not None:
            self._catching_up.cancel()
        if self._welcoming is not None:
            self._welcoming.cancel()  # a welcome held back is let go
        if self.conductor is not None:
            self.conductor.close()
            await self.conductor.cancel_turn(reason, Cancel.SHUTDOWN)
        self._hush()
        if self.speaker is not None:
            with contextlib.suppress(Exception):
                await self.speaker.stop()
        if self.approvals is not None:
            self.approvals.close()
        # last, after every await above: a send waiting for the rate limit must not hold up
        # the exit
        for task in (*self._outgoing, *self._speech):
            task.cancel()
        self._group = None

    # ---- commands ---------------------------------------------------------------------------

    def _own(self, message: ChatMessage) -> bool:
        """Whether chat shows the twin's own line (or, in a replay, another bot's): never a
        command to obey. Whatever the twin was led to say, it only joins the recent chat."""
        return message.login.lower() in self.options.not_commands

    async def _command(self, message: ChatMessage) -> bool:
        result = await self._control(
            message.text, login=message.login, role=message.role, source="chat", message=message
        )
        if result is None:
            return False
        if result.reply and result.in_chat and self.sink is not None:
            sink, messages = self.sink, self._guarded_reply(result.reply, result.command)

            async def reply() -> None:
                for part in messages:
                    await sink.send(part, reply_to=message.id)

            await self._off_chat_loop(reply, name="command-reply")
        return True

    def _guarded_reply(self, reply: str, command: str | None) -> list[str]:
        """A command's reply as chat may see it: through the same guard as the twin's replies
        (a `!twin topic` can carry a blocked word or a secret back), in at most the guard's
        number of messages. Blocked, the moderator is told so, and nothing of it is posted."""
        checked = self.guard.check(reply)
        if checked.blocked:
            rules = ", ".join(v.rule for v in checked.verdicts if v.action == "blocked")
            return [f"{command or 'command'}: done; its reply is not posted (the {rules} rule)"]
        return checked.messages

    async def command(
        self, text: str, *, login: str, role: Role, source: Source
    ) -> CommandResult | None:
        """One `!twin` command from anywhere, through the one handler; None if it is none."""
        return await self._control(text, login=login, role=role, source=source)

    def mqtt_command(self, text: str, client_id: str) -> None:
        """A command from the MQTT control topic (the bus already checked the client)."""
        if self._group is None:
            return
        # The one allowed MQTT identity is the streamer's own automation.
        self._group.create_task(
            self._control(text, login=f"mqtt:{client_id}", role=Role.BROADCASTER, source="mqtt"),
            name="mqtt-command",
        )

    def mqtt_refused(self, text: str, claimed: str, reason: str) -> None:
        """A command on the MQTT control topic from a sender the bus could not verify."""
        # into the same audit log as accepted commands, never under the claimed name
        self.controller.refuse_unverified(text, source="mqtt", claimed=claimed, reason=reason)

    async def _control(
        self,
        text: str,
        *,
        login: str,
        role: Role,
        source: Source,
        message: ChatMessage | None = None,
    ) -> CommandResult | None:
        if self._closing:
            return None  # shutting down: a late dashboard or MQTT command changes nothing
        result = self._refusal(text) or await self.controller.handle(
            text, login=login, role=role, source=source
        )
        if result is None:
            return None
        self.counters.commands += 1
        done = CommandDone(
            command=result.command,
            login=login,
            source=source,
            accepted=result.accepted,
            reason=result.reason,
            # what chat would read back (`status` and the rest): an MQTT or dashboard caller
            # has no chat to read it in; as chat would read it, through the guard
            reply=(
                " ".join(self._guarded_reply(result.reply, result.command))
                if result.reply
                else None
            ),
        )
        emit(self.bus, done)
        emit(self.bus, self.state_event())
        if self._on_command is not None:
            self._on_command(result, message)
        return result

    def _refusal(self, text: str) -> CommandResult | None:
        """A command this session refuses by name, as a result (silent in chat)."""
        if not self.options.refused:
            return None
        parsed = parse_command(text, self.controller.settings.prefix, self.controller.added)
        if parsed is None or parsed.name not in self.options.refused:
            return None
        why = self.options.refused[parsed.name]
        return CommandResult(accepted=False, command=parsed.name, reply=None, reason=why)

    def state_event(self) -> StateChanged:
        """The switches as they are now."""
        s = self.state
        return StateChanged(
            paused=s.paused,
            voice=s.voice,
            chat=s.chat,
            hold=s.hold,
            topic=s.topic,
            rate_per_minute=s.rate_per_minute,
        )

    def state_payload(self) -> dict[str, object]:
        """The switches as the bus, the dashboard and /healthz show them."""
        return bus_payload(self.state_event())

    # ---- what happened ----------------------------------------------------------------------

    def heard(self, message: ChatMessage, seconds: float) -> None:
        """A spoken line, transcribed `seconds` after the streamer stopped speaking (the
        listener's `on_heard`): the trace of the turn that answers it starts with that stage."""
        end = self.clock.monotonic()
        start = end - max(0.0, seconds)
        self._heard[message.id] = StageTime(name=HEARD_STAGE, start=start, end=end)
        while len(self._heard) > HEARD_KEPT:  # lines no turn answered
            del self._heard[next(iter(self._heard))]

    def _decided(self, decision: Decision) -> None:
        if decision.picked:
            self.counters.picks += 1
            self._fold_welcome(decision)
        else:
            self._heard.pop(decision.message.id, None)
        message = decision.message
        seen = MessagePicked if decision.picked else MessageSeen
        emit(
            self.bus,
            seen(
                message_id=message.id,
                login=message.login,
                text=message.text,
                picked=decision.picked,
                score=decision.score,
                parts=dict(decision.parts),
                reason=decision.reason,
                category=decision.category,
            ),
        )
        if self._on_decision is not None:
            self._on_decision(decision)

    def _finished(self, trace: TurnTrace) -> None:
        heard = self._heard.pop(trace.decision.message.id, None)
        if heard is not None:
            trace.stages.insert(0, heard)  # from the end of the streamer's speech
        self.last_trace = trace
        thanks = self._thanks_turns.pop(trace.decision.message.id, None)
        if thanks is not None and trace.decision.category == "thanks":
            said = trace.sent or trace.spoken
            if not said and trace.outcome in ("silent", "blocked", "failed"):
                self._unsaid.append(thanks)
        welcome = self._welcome_turns.pop(trace.decision.message.id, None)
        if welcome is not None and trace.decision.category == "welcome":
            said = trace.sent or trace.spoken
            if not said and trace.outcome in ("silent", "blocked", "failed"):
                self._unwelcomed.append(welcome)  # said from its template instead
        if trace.outcome == "answered":
            self.last_answered = trace
        self.counters.turns[trace.outcome] = self.counters.turns.get(trace.outcome, 0) + 1
        if trace.failure is Failure.UNEXPECTED:
            self.counters.errors += 1
        self.recent.append(trace_dict(trace))
        if self.approvals is not None:
            self.approvals.add(trace)
        self._write_trace(trace)
        if self._on_trace is not None:
            self._on_trace(trace)

    def recent_turns(self) -> list[dict[str, object]]:
        """The last turns' traces, oldest first."""
        return list(self.recent)

    def _write_trace(self, trace: TurnTrace) -> None:
        if self.traces is None:
            return
        try:
            self.traces.write(trace)
        except OSError:
            # a full or read-only disk loses this trace, never the session
            self.counters.errors += 1
            log.exception("writing a trace failed")

    # ---- held replies -----------------------------------------------------------------------

    def held_waiting(self) -> int:
        """Held replies waiting for approval (for /healthz and /metrics)."""
        return self.approvals.waiting() if self.approvals is not None else 0

    def _moderate_held(self, event: Moderation) -> None:
        """Held replies to what moderation removed are never approved."""
        if self.approvals is None:
            return
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

    def _judged(self, trace: TurnTrace, was_held: bool) -> None:
        """The streamer (or the clock) decided a turn's candidates; see `cohost.control.approvals`.

        A held turn's final outcome replaces "held": counted in `settled`, published, and its
        trace written again (the later line for a turn id stands).
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
            emit(self.bus, TurnReplied(turn_id=trace.turn_id, reply=trace.reply))
        emit(
            self.bus,
            TurnSettled(
                turn_id=trace.turn_id,
                outcome=trace.outcome,
                reason=trace.reason,
                decided=trace.decided or "",
            ),
        )
        self._write_trace(trace)

    async def _deliver_approved(self, trace: TurnTrace, text: str) -> list[str] | None:
        """Post an approved reply under the message it answers, and speak it (per the state).

        Returns the messages chat took, or None when chat was not tried.
        """
        sent: list[str] | None = None
        checked = self.guard.check(text, trace.hits)  # once, for chat and the voice alike
        if self.sink is not None and self.state.chat:
            trace.sent = sent = []  # filled as it goes: a cancel later knows what went out
            await post(
                checked,
                self.sink,
                answering=trace.decision.message,
                chat_on=lambda: self.state.chat,
                sent=sent,
            )
        if (
            self.speaker is not None
            and self.state.voice
            and self._group is not None
            and not self._closing
            and not checked.blocked  # what chat may not read, the voice does not say
        ):
            # the dashboard's request returns now; the voice takes as long as it takes
            self._spawn(self._speak(checked, trace.turn_id), "approved-speech", self._speech)
        return sent

    async def _speak(self, checked: GuardResult, turn_id: str) -> None:
        assert self.speaker is not None
        try:
            await speak(checked.text, self.speaker, turn_id=turn_id, said=checked.said)
        except Exception:
            # a dead voice degrades an approved reply to chat only
            log.exception("speaking an approved reply failed")

    def _the_held_turn(self) -> tuple[str | None, str]:
        """The one held reply a chat command means, or why there is none to take.

        With two or more waiting, "the newest" could change between reading and typing (or a
        second mod's command would take the next one): the dashboard picks among them.
        """
        held = self.approvals.held() if self.approvals is not None else []
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
        if turn_id is None or self.approvals is None:
            return False, why
        taken = self.approvals.take(turn_id, choice, login=login)
        if isinstance(taken, ChoiceResult):
            return _approval_reply(taken)
        if self._group is None:  # not running: nothing to read meanwhile
            return _approval_reply(await self.approvals.send(taken))
        self._start_sending(self.approvals, taken)
        return True, "approved"

    def _start_sending(self, approvals: Approvals, taken: Approved) -> asyncio.Task[ChoiceResult]:
        """An approved reply goes out as a task that moderation and shutdown can still stop."""
        turn_id = taken.trace.turn_id

        async def sending() -> ChoiceResult:
            try:
                return await approvals.send(taken)
            except Exception as exc:
                # a failing feedback or trace write loses this approval's record, never the twin
                log.exception("sending the approved reply of turn %s failed", turn_id)
                return ChoiceResult(ok=False, outcome=taken.trace.outcome, reason=str(exc))

        def done(task: asyncio.Task[ChoiceResult]) -> None:
            self._sending.pop(turn_id, None)
            if task.cancelled():
                approvals.settle_cancelled(taken)  # also when cancelled before it began

        task = self._spawn(sending(), "approved-reply", self._outgoing)
        self._sending[turn_id] = (task, taken.trace)
        task.add_done_callback(done)
        return task

    async def reject_held(self, *, login: str) -> tuple[bool, str]:
        """`!twin reject`: the held reply is dropped."""
        turn_id, why = self._the_held_turn()
        if turn_id is None or self.approvals is None:
            return False, why
        result = await self.approvals.reject(turn_id, login=login)
        return result.ok, "rejected" if result.ok else f"not rejected: {result.reason}"

    async def choose(
        self, turn_id: str, choice: int, *, login: str, text: str | None = None
    ) -> ChoiceResult:
        """Approve a held reply (as `text`, when the streamer edited it), or pick the best of a
        turn's candidates (the dashboard).

        The caller waits for chat to take an approved reply, but the send is a task of its
        own: moderation can still stop it, and a caller that goes away does not.
        """
        if self._closing:
            return ChoiceResult(ok=False, reason="the twin is shutting down")
        if self.approvals is None:
            return ChoiceResult(ok=False, reason="nothing to choose from here")
        taken = self.approvals.take(turn_id, choice, login=login, text=text)
        if isinstance(taken, ChoiceResult):
            return taken
        if self._group is None:
            return await self.approvals.send(taken)
        task = self._start_sending(self.approvals, taken)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise  # the request itself went away; the reply goes on
            trace = taken.trace  # moderation or shutdown stopped it: its trace says which
            return ChoiceResult(ok=False, outcome=trace.outcome, reason=trace.reason)

    async def reject(self, turn_id: str, *, login: str) -> ChoiceResult:
        """Reject a held reply (the dashboard)."""
        if self.approvals is None:
            return ChoiceResult(ok=False, reason="nothing is held here")
        return await self.approvals.reject(turn_id, login=login)

    # ---- thanking the stream's supporters ---------------------------------------------------

    def _supported(self, event: SourceEvent) -> bool:
        """A raid, follow, sub, gift or cheer: published, and counted for its thank-you.

        True when the thank-you stands instead of an answer: the event then only joins the
        recent chat (see `cohost.pipeline.reactions.Reactions.claims`).
        """
        reactions = self.reactions
        support: Support | None = support_of(event) if reactions is not None else None
        if reactions is None or support is None:
            return False
        taken = reactions.take(support, self.clock.now())
        emit(
            self.bus,
            StreamEventSeen(
                event_id=support.id,
                kind=support.kind.value,
                login=support.login,
                display_name=support.display_name,
                amount=support.amount,
                thanked=taken,
            ),
        )
        if not reactions.claims(support):
            return False
        message = notice_as_message(event) if isinstance(event, UserNotice) else event
        if isinstance(message, ChatMessage) and self.conductor is not None:
            self.conductor.window.append(message)  # the twin sees it; the thank-you answers it
        return True

    async def _thank_due(self) -> None:
        if self.reactions is None:
            return
        for thanks in self.reactions.due(self.clock.now()):
            await self._thank(thanks)
        await self._say_unsaid()

    async def _say_unsaid(self) -> None:
        """Thank-yous whose twin turn said nothing (a silent or blocked reply, a failure) are
        said from their template: a raid is thanked whatever the twin model manages."""
        while self._unsaid:
            await self._say_template(self._unsaid.pop(0))

    async def _thank_when_due(self) -> None:
        """Live: each thank-you as it comes due (a task of the session's group)."""
        while True:
            await self.clock.sleep(THANKS_TICK_S)
            try:
                await self._thank_due()
            except Exception:
                # a thank-you that fails loses itself, never the ones after it
                self.counters.errors += 1
                log.exception("thanking the stream's supporters failed")

    async def _thank(self, thanks: Thanks) -> None:
        """One thank-you: the template said as the twin, or a turn that answers the event."""
        if self.state.paused or self._closing:
            log.info("not thanking %s (%s): the twin is paused", thanks.names, thanks.kind)
            return
        said = thanks.text if thanks.mode == "template" else thanks.description
        emit(
            self.bus,
            ThanksGiven(
                kind=thanks.kind.value,
                mode=thanks.mode,
                names=thanks.names,
                count=thanks.count,
                amount=thanks.amount,
                events=len(thanks.supports),
                text=said,
            ),
        )
        conductor = self._conductor()
        if thanks.mode == "twin":
            waited = 0.0
            while self._group is not None and conductor.busy and waited < THANKS_WAIT_S:
                # the answer being given goes out first; a thank-you can wait a little
                await self.clock.sleep(THANKS_TICK_S)
                waited += THANKS_TICK_S
            decision = thanks_decision(thanks)
            self._thanks_turns[decision.message.id] = thanks
            # picked as chat's picks are: the replay report and the dashboard count it
            self._decided(decision)
            await conductor.start_turn(decision)
            if self._group is None:
                await self._say_unsaid()  # inline: the turn has ended
            return
        await self._say_template(thanks)

    async def _say_template(self, thanks: Thanks) -> None:
        await self._say_line(thanks.text, name="thanks")

    async def _say_line(self, text: str, *, name: str) -> None:
        """A line of the twin's own (a thank-you, a welcome) through the guard, in chat and out
        loud, off the chat loop; a voice switched off or hushed meanwhile says none of it."""
        checked = self.guard.check(text)
        hushed = self._hushed

        async def saying() -> None:
            await say_as_twin(
                checked,
                sink=self.sink,
                speaker=self.speaker,
                chat_on=lambda: self.state.chat,
                voice_on=lambda: self.state.voice and self._hushed == hushed,
            )

        await self._off_chat_loop(saying, name=name)

    # ---- regulars: welcomes, and `!twin forget me` -----------------------------------------

    async def _welcome(self, now: float) -> None:
        """A welcome back, when one is due (`cohost.pipeline.regulars` keeps them calm).

        From the template it is said at once. In the twin's words (`greeting: twin`) it never
        cuts an answer short: a chatter the twin answers is welcomed in that answer
        (`_fold_welcome`), and any other welcome waits until no turn runs and none is about
        to. Still waiting after `WELCOME_WAIT_S`, or said by no turn, it is said from its
        template. Live, a task asks every `WELCOME_TICK_S` too, so a welcome held back by its
        cooldown goes out when due, not with the next line of chat.
        """
        regulars = self.regulars
        assert regulars is not None
        while self._unwelcomed:
            await self._say_welcome(self._unwelcomed.pop(0))
        if self._greeting is None:
            welcome = regulars.welcome_due(now)
            if welcome is None or self.state.paused or self._closing:
                return  # paused: the chatters waiting for it are let go, as a flood's are
            if regulars.settings.greeting != "twin":
                await self._say_welcome(welcome)
                return
            self._greeting = (welcome, self.clock.now())
        welcome, since = self._greeting
        if self.state.paused or self._closing:
            self._greeting = None
            return
        conductor = self._conductor()
        if conductor.quiet:
            self._greeting = None
            decision = welcome.decision()
            self._welcome_turns[decision.message.id] = welcome
            said = decision.message.text  # what the twin's turn is told
            emit(self.bus, WelcomeGiven(mode="twin", names=welcome.names, text=said))
            self._decided(decision)  # picked as chat's picks are: the report counts it
            await conductor.start_turn(decision)
            while self._group is None and self._unwelcomed:  # inline: the turn has ended
                await self._say_welcome(self._unwelcomed.pop(0))
        elif self.clock.now() - since >= WELCOME_WAIT_S:
            self._greeting = None
            await self._say_welcome(welcome)  # the twin stayed busy: the template cuts nothing

    async def _welcome_when_due(self) -> None:
        """Live: welcomes held back (by their cooldown, or for a quiet moment) when they are due."""
        while True:
            await self.clock.sleep(WELCOME_TICK_S)
            try:
                await self._welcome(self.clock.now())
            except Exception:
                # a welcome that fails loses itself, never the ones after it
                self.counters.errors += 1
                log.exception("welcoming returning chatters failed")

    async def _say_welcome(self, welcome: Welcome) -> None:
        """A welcome from its template, said as the twin: in chat and out loud."""
        if self.state.paused or self._closing:
            return
        emit(self.bus, WelcomeGiven(mode="template", names=welcome.names, text=welcome.text))
        await self._say_line(welcome.text, name="welcome")

    def _fold_welcome(self, decision: Decision) -> None:
        """The twin is to answer a chatter whose welcome back waits: the answer is the welcome
        (their turn's context says they are back), and none is said on its own."""
        regulars = self.regulars
        if regulars is None or regulars.settings.greeting != "twin":
            return
        if decision.category in ("thanks", "welcome"):
            return  # not an answer to the chatter's own line
        message, greeting = decision.message, self._greeting
        login = message.login.lower()
        held = greeting is not None and login in greeting[0].logins
        if not regulars.fold(message, held=held):
            return
        if greeting is not None and held:
            rest = regulars.without(greeting[0], login)  # the others still wait for it
            self._greeting = (rest, greeting[1]) if rest is not None else None
        emit(
            self.bus,
            WelcomeGiven(mode="reply", names=(message.display_name or login,), text=message.text),
        )

    def _remember_id(self, message: ChatMessage) -> None:
        """Who is who, for `!twin forget USER` (the chatters memory keeps user ids)."""
        login = message.login.lower()
        self._user_ids.pop(login, None)
        self._user_ids[login] = message.user_id
        if len(self._user_ids) > MAX_KNOWN_IDS:
            del self._user_ids[next(iter(self._user_ids))]  # the longest unseen

    def forget_chatter(self, login: str) -> bool:
        """Erase what cohost keeps about a chatter: regulars, chatters memory, recent chat."""
        login = login.lower()
        ids = {i for i in (self._user_ids.pop(login, ""),) if i}
        erased = False
        if self.conductor is not None:
            window = self.conductor.window
            ids |= {m.user_id for m in window if m.login.lower() == login and m.user_id}
            erased = self.conductor.forget_login(login)
        if self.approvals is not None:  # a reply held for approval still quotes them
            self.approvals.moderated(
                lambda t: t.decision.message.login.lower() == login,
                f"{login} asked cohost to forget them",
            )
        if self.regulars is not None:
            regular = self.regulars.forget(login, ids)
            if regular is not None:
                erased = True
                ids |= {regular.user_id} if regular.user_id else set()
        if self.chatters is not None:
            erased = self.chatters.forget({login, *ids}) or erased
        return erased

    # ---- output off the chat loop -----------------------------------------------------------

    async def _off_chat_loop(self, work: Callable[[], Awaitable[object]], *, name: str) -> None:
        """Chat-facing output as a task of its own: reading chat never waits on it.

        A send can wait up to the sink's `max_wait_s` for Twitch's rate limit, and a voice takes
        as long as its audio; meanwhile moderation and commands must still be read. Sends keep
        their order all the same: the sink takes them in turn. Without a group it runs inline.
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
        """A task in the session's group, kept in `into` while it runs (to wait for or cancel)."""
        assert self._group is not None
        task = self._group.create_task(work, name=name)
        into.add(task)
        task.add_done_callback(into.discard)
        return task

    def _hush(self) -> None:
        """`skip`, `voice off` and shutdown: approved replies and `say`s stop, or never start."""
        self._hushed += 1
        for task in list(self._speech):
            task.cancel()

    # ---- what `!twin` commands do (cohost.control.controller.TwinActions) -------------------

    def _conductor(self) -> Conductor:
        if self.conductor is None:
            raise RuntimeError("the session has not started")
        return self.conductor

    async def skip(self, reason: str) -> bool:
        cancelled = await self._conductor().cancel_turn(reason, Cancel.SKIP)
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
        if self._says_waiting >= self.options.max_waiting_says:
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
        conductor = self._conductor()
        await conductor.ask(
            question, login=login, channel=self.options.channel, now=self.clock.now()
        )

    def forget(self) -> None:
        self._conductor().forget()

    async def note(self, text: str) -> str:
        if self.notebook is None:
            raise LookupError("this session has no journal to write to")
        return await self.notebook.add(text)

    def feedback(self, verdict: Verdict, *, login: str) -> Rated | None:
        trace = self.last_answered
        if trace is None or self._feedback is None:
            return None  # only what was really said can be rated (and become training data)
        previous = self._verdicts.pop(trace.turn_id, None)
        self._verdicts[trace.turn_id] = verdict  # newest last
        while len(self._verdicts) > RECENT_TURNS:
            del self._verdicts[next(iter(self._verdicts))]
        # the turn's other guarded candidates are what a DPO pair sets the rated reply against
        others = [text for text in trace.alternatives if text != trace.reply]
        self._feedback.record(trace_dict(trace), verdict, login, alternatives=others)
        return Rated(turn_id=trace.turn_id, previous=previous)

    def turn_counts(self) -> dict[str, int]:
        """Turns by their outcome now: a held reply once approved, rejected or expired counts
        as what it became; "held" counts only those still waiting."""
        counts = dict(self.counters.turns)
        held = counts.pop("held", 0)
        for outcome, n in self.counters.settled.items():
            counts[outcome] = counts.get(outcome, 0) + n
            held -= n
        if held > 0:
            counts["held"] = held
        return counts

    def status(self) -> str:
        """What the session has done; the controller adds the state itself."""
        turns = ", ".join(f"{k} {v}" for k, v in sorted(self.turn_counts().items())) or "none"
        # chat sees whether the twin is the stand-in; never the servers' addresses
        twin = "embedded stand-in" if self.embedded else "served model"
        return f"{self.counters.picks} picks, turns: {turns}, twin: {twin}"
