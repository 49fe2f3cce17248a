"""`cohost run`: the daemon. Adapters in one AsyncExitStack, named loops in one TaskGroup.

Shutdown (SIGTERM, SIGINT, or the console's input ending) goes in this order: stop reading chat,
cancel the running turn (its trace says so), stop speech, stop the web server, flush and close
files. Nothing waits on the network without a timeout, so it takes well under five seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from cohost.app import Models, build_guard, build_models
from cohost.bus import LocalBus
from cohost.clock import RealClock
from cohost.config import Settings
from cohost.console import ConsoleSink, ConsoleSource
from cohost.events import ChatMessage, Decision, Role, TurnTrace
from cohost.pipeline.conductor import Conductor
from cohost.pipeline.deliver import CaptionSpeaker
from cohost.pipeline.guard import Guard
from cohost.pipeline.pick import AnswerMemory, Picker
from cohost.pipeline.turn import TurnOptions, TurnParts
from cohost.ports import Bus, ChatSink, ChatSource, Clock, Speaker
from cohost.state import TwinState
from cohost.trace import TraceWriter, trace_dict

log = logging.getLogger(__name__)

# How long shutdown waits for the web server before leaving it behind.
STOP_TIMEOUT_S = 2.0


@dataclass(slots=True)
class Counters:
    """What the daemon has done, for /healthz, /metrics and `!twin status`."""

    started: float = field(default_factory=time.time)
    events: int = 0
    picks: int = 0
    turns: dict[str, int] = field(default_factory=dict)
    commands: int = 0
    errors: int = 0


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
        bus: Bus | None = None,
        traces: TraceWriter | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.sink = sink
        self.clock = clock
        self.speaker = speaker
        self.bus = bus or LocalBus()
        self.traces = traces
        self.state = TwinState(topic=" ".join(settings.picker.topic_words))
        self.counters = Counters()
        self.guard: Guard = build_guard(settings)
        self.last_trace: TurnTrace | None = None
        self.conductor: Conductor | None = None
        self.controller: Any = None  # cohost.control.Controller, when that module is there
        self._stopping = asyncio.Event()

    # ---- the loops -------------------------------------------------------------------------

    async def run(self, *, until_source_ends: bool = False) -> None:
        """Run until stopped (or, for the console, until its input ends and the turn is done)."""
        settings = self.settings
        models = build_models(settings, streamer_lines=_log_lines(settings))
        for note in models.notes:
            log.warning("%s", note)
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
                ),
                options=TurnOptions(
                    twin=settings.twin.name,
                    mode=settings.turn.mode,
                    max_sim_lines=settings.simulator.max_lines,
                    lookahead_lines=models.look_ahead_lines,
                    recall_k=settings.turn.recall_k,
                ),
                state=self.state,
                memory=AnswerMemory.for_settings(settings.picker),
                window_size=settings.replay.window,
                inline=False,
                group=group,
                on_decision=self._decided,
                on_trace=self._finished,
            )
            self.controller = self._make_controller()
            chat = group.create_task(self._chat_in(), name="chat-in")
            stop = group.create_task(self._stopping.wait(), name="stop")
            await asyncio.wait({chat, stop}, return_when=asyncio.FIRST_COMPLETED)
            if chat.done() and until_source_ends and not stop.done():
                await self.conductor.drain()
            chat.cancel()
            stop.cancel()
            await self.conductor.cancel_turn("the daemon is shutting down")
            if self.speaker is not None:
                with contextlib.suppress(Exception):
                    await self.speaker.stop()

    def stop(self) -> None:
        """Ask the daemon to shut down (signal handlers call this)."""
        self._stopping.set()

    async def _chat_in(self) -> None:
        assert self.conductor is not None
        async with contextlib.aclosing(self.source.events()) as events:
            async for event in events:
                self.counters.events += 1
                if isinstance(event, ChatMessage) and await self._command(event):
                    continue
                try:
                    await self.conductor.handle(event)
                except Exception:
                    # one bad message must never end the daemon
                    self.counters.errors += 1
                    log.exception("handling a chat event failed")

    async def _command(self, message: ChatMessage) -> bool:
        if self.controller is None:
            return False
        result = await self.controller.handle(
            message.text, login=message.login, role=message.role, source="chat"
        )
        if result is None:
            return False
        self.counters.commands += 1
        self.bus.publish(
            "command",
            {
                "command": result.command,
                "login": message.login,
                "accepted": result.accepted,
                "reason": result.reason,
            },
        )
        if result.reply and self.sink is not None:
            await self.sink.send(result.reply, reply_to=message.id)
        return True

    def _make_controller(self) -> Any:
        try:
            from cohost.control import Controller  # noqa: PLC0415
        except ModuleNotFoundError:
            return None
        audit = self.settings.data_dir / "audit" / "commands.jsonl"
        return Controller(self.settings.control, self.state, self, self.clock, audit)

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
        self.counters.turns[trace.outcome] = self.counters.turns.get(trace.outcome, 0) + 1
        if self.traces is not None:
            try:
                self.traces.write(trace)
            except OSError:
                # a full or read-only disk loses this trace, never the daemon
                self.counters.errors += 1
                log.exception("writing a trace failed")

    # ---- what `!twin` commands do (cohost.control.TwinActions) ------------------------------

    async def skip(self, reason: str) -> bool:
        assert self.conductor is not None
        cancelled = await self.conductor.cancel_turn(reason)
        if self.speaker is not None:
            await self.speaker.stop()
        return cancelled

    async def say(self, text: str) -> None:
        checked = self.guard.check(text)
        if checked.blocked:
            return
        if self.sink is not None and self.state.chat:
            for part in checked.messages:
                await self.sink.send(part)
        if self.speaker is not None and self.state.voice:
            await self.speaker.say(checked.text, turn_id="say")

    async def ask(self, question: str, *, login: str) -> None:
        assert self.conductor is not None
        message = ChatMessage(
            id=f"ask:{time.monotonic_ns()}",
            channel=self.settings.twin.streamer or "console",
            login=login,
            display_name=login,
            text=question,
            ts=self.clock.now(),
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
        self.conductor.window.append(message)
        await self.conductor.start_turn(decision)

    def forget(self) -> None:
        assert self.conductor is not None
        self.conductor.forget()

    async def note(self, text: str) -> str:
        from cohost.journal.store import JournalStore, journal_dir  # noqa: PLC0415

        store = JournalStore(journal_dir(self.settings), self.settings.journal)
        entry = await asyncio.to_thread(store.add, text, tags=("cohost-note",))
        return entry.title

    def feedback(self, verdict: Literal["good", "bad"], *, login: str) -> str | None:
        trace = self.last_trace
        if trace is None or not trace.reply:
            return None
        from cohost.feedback import FeedbackStore  # noqa: PLC0415

        store = FeedbackStore(self.settings.data_dir / "feedback" / "feedback.jsonl")
        store.record(trace_dict(trace), verdict, login)
        return trace.reply

    def status(self) -> str:
        s = self.state
        turns = ", ".join(f"{k} {v}" for k, v in sorted(self.counters.turns.items())) or "none"
        return (
            f"{'paused' if s.paused else 'running'}; voice {'on' if s.voice else 'off'}, "
            f"chat {'on' if s.chat else 'off'}; topic: {s.topic or '-'}; "
            f"{self.counters.picks} picks, turns: {turns}"
        )

    def health(self) -> dict[str, object]:
        """What /healthz says."""
        return {
            "ok": True,
            "uptime_s": round(time.time() - self.counters.started, 1),
            "state": dataclasses.asdict(self.state) | {"ignored": sorted(self.state.ignored)},
            "events": self.counters.events,
            "picks": self.counters.picks,
            "turns": self.counters.turns,
            "commands": self.counters.commands,
            "errors": self.counters.errors,
            "busy": bool(self.conductor and self.conductor.busy),
        }


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


async def _serve_health(daemon: Daemon) -> Callable[[], Awaitable[None]]:
    """The health endpoint on loopback; returns how to stop it."""
    import uvicorn  # noqa: PLC0415

    from cohost.web.health import create_health_app  # noqa: PLC0415

    web = daemon.settings.web
    config = uvicorn.Config(
        create_health_app(daemon.health), host=web.host, port=web.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="web")

    async def stop() -> None:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, STOP_TIMEOUT_S)
        except TimeoutError:
            task.cancel()

    while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn offers no event)
        await asyncio.sleep(0.02)
    if task.done():
        task.result()  # a port in use: say so now, not later
    for sock in (s for srv in server.servers for s in srv.sockets):
        log.info("health endpoint on http://%s:%s/healthz", *sock.getsockname()[:2])
    return stop


async def run_daemon(
    settings: Settings, *, console: bool, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Build the adapters, run the daemon, shut down in order; returns the exit status."""
    clock = RealClock()
    async with AsyncExitStack() as stack:
        traces_dir = settings.data_dir / "traces"
        traces = stack.enter_context(TraceWriter(traces_dir / f"{time.strftime('%Y-%m-%d')}.jsonl"))
        bus = LocalBus()
        speaker = CaptionSpeaker(clock, bus=bus)
        if not console:
            from cohost.errors import SettingsError  # noqa: PLC0415

            raise SettingsError(
                "live Twitch chat is not wired into `cohost run` yet; use `cohost run --console`"
            )
        source = ConsoleSource(clock, stream=stdin)
        sink = ConsoleSink(settings.twin.name, stream=stdout)
        daemon = Daemon(
            settings,
            source=source,
            sink=sink,
            clock=clock,
            speaker=speaker,
            bus=bus,
            traces=traces,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, daemon.stop)
            stack.callback(loop.remove_signal_handler, sig)
        if settings.web.enabled:
            stop_web = await _serve_health(daemon)
            stack.push_async_callback(stop_web)
        await daemon.run(until_source_ends=console)
    return 0
