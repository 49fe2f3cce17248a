"""`cohost run`: the daemon. Adapters in one AsyncExitStack, every task in one TaskGroup.

The daemon adds lifetimes to the session (`cohost.session`, which reads chat and does what
commands say, as in a replay): the live adapters, the web app, the journal's indexer, the
twin's state on disk, and signals. Shutdown (SIGTERM, SIGINT, or the console's input ending)
goes in this order: stop reading chat, cancel the running turn (its trace says so), stop
speech, stop the web server, flush and close files. Nothing waits on the network without a
timeout, so it takes well under five seconds.

With `--listen` (COHOST_LISTEN__ENABLED) the streamer's voice is a second source: the listener
(`cohost.pipeline.listen`) feeds their spoken lines into the same session as chat, as one more
task of the group. A microphone or speech model that fails is logged, counted and retried with
a backoff; it never ends the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import signal
import socket
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cohost.adapters.mqtt import MqttBus
from cohost.app.build import Models, build_guard, build_listener, build_models, turn_setup
from cohost.app.chatters import (
    Chatters,
    RegularsFile,
    chatters_file,
    open_regulars,
    regulars_of,
)
from cohost.app.console import ConsoleNotes, quiet_terminal_logs
from cohost.app.desk import Desk, DeskSlot
from cohost.app.paths import journal_dir
from cohost.app.persistence import STATE_HEARTBEAT_S, restore_state, save_state, state_dict
from cohost.app.settings import Settings, login_of, streamer_logins, with_bot_login
from cohost.app.traces import TraceWriter
from cohost.control.approvals import ChoiceResult
from cohost.control.controller import AddedCommand, CommandResult
from cohost.control.feedback import FeedbackStore
from cohost.core.clock import RealClock
from cohost.core.errors import SettingsError, Transient
from cohost.core.events import ChatMessage, Role, TurnTrace
from cohost.core.net import is_loopback
from cohost.core.options import WebSettings
from cohost.core.ports import ChatSink, ChatSource, Clock, Journal, Speaker
from cohost.core.state import TwinState
from cohost.embedded.bus import LocalBus
from cohost.embedded.console import ConsoleSink, ConsoleSource
from cohost.journal.index import Indexer
from cohost.pipeline.listen import ListenSource, TwinVoice
from cohost.pipeline.reactions import Reactions
from cohost.pipeline.twitch_rules import TwitchRules
from cohost.session import Notebook, Session, SessionOptions
from cohost.web.app import Metrics, MetricsRecorder

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger(__name__)

# How long shutdown waits for the web server before leaving it behind.
STOP_TIMEOUT_S = 2.0
WARM_UP_S = 60.0  # the longest chat waits for the embedding model to load
LISTEN_RETRY_S = (1.0, 60.0)  # a failed microphone is opened again after 1 s, 2 s, … 60 s
SAID_LINES = 10  # the twin's last captions, whose echo through the microphone is ignored


class Daemon:
    """One twin live in one channel: a session, and what it needs to run for hours.

    It builds the session from Settings, keeps the twin's state on disk, serves the web app
    (it is the web app's `WebView`), and owns the one TaskGroup every task runs in. With an
    MQTT broker in the settings it builds the bus's adapter, whose control topic feeds the
    session; whoever runs the daemon enters `mqtt` in its AsyncExitStack (see `run_daemon`).
    """

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
        links: Callable[[], dict[str, str]] = dict,
        chatters: Chatters | None = None,
        regulars: RegularsFile | None = None,
        commands: Sequence[AddedCommand] = (),
        notes: ConsoleNotes | None = None,
    ) -> None:
        """links: each outside link of the chat ("chat.message", ...): "up" or "down".
        notes: the console's notes under each line (picked, skipped, no reply), if any."""
        self.settings = settings
        self.source = source
        self.clock = clock
        self.bus = bus or LocalBus()
        self.journal = journal
        self.indexer = indexer
        self._links = links
        self.recorder = MetricsRecorder(listening=settings.listen.enabled)
        self.state = TwinState(topic=" ".join(settings.picker.topic_words), hold=settings.turn.hold)
        self._defaults = dataclasses.replace(self.state, ignored=set())  # as the settings say
        self._state_path = settings.data_dir / "state.json"
        self._saved: dict[str, object] = {}  # the state as last saved (or restored)
        self._restore_state(clock)
        # the twin's own account, whose echoed lines are never commands; none when the bot
        # posts as the streamer's own account (the streamer's commands count)
        bot = login_of(settings.twin.bot_login)
        own = "" if bot in streamer_logins(settings) else bot
        audit = settings.data_dir / "audit"
        audit.mkdir(parents=True, exist_ok=True)
        guard = build_guard(settings)
        self.session = Session(
            SessionOptions(
                channel=settings.twin.streamer or "console",
                broadcaster=login_of(settings.twitch.channel or settings.twin.streamer),
                not_commands=frozenset({own} if own else ()),
                audit=audit / "commands.jsonl",
                hold_expiry_s=settings.turn.hold_expiry_s,
            ),
            control=settings.control,
            state=self.state,
            clock=clock,
            guard=guard,
            sink=sink,
            speaker=speaker,
            bus=self.bus,
            traces=traces,
            feedback=FeedbackStore(settings.data_dir / "feedback" / "feedback.jsonl"),
            notebook=Notebook(journal_dir(settings), settings.journal, indexer),
            chatters=chatters,
            commands=commands,
            reactions=Reactions(settings.reactions),
            regulars=regulars_of(settings, regulars, guard, skip={own}),
            on_trace=self._traced,
            on_decision=notes.decision if notes is not None else None,
            on_command=self._commanded,
        )
        self.mqtt = _mqtt_bus(settings, self.session)
        self.listener: ListenSource | None = None
        self._listening = False  # the listener runs (a recording that ended does not)
        if settings.listen.enabled:
            voice = TwinVoice(clock, tail_s=settings.listen.echo_tail_s, keep=SAID_LINES)
            self.bus.subscribe(voice.on_event)
            self.listener = build_listener(
                settings,
                clock,
                channel=self.session.options.channel,
                said=voice.said,
                speaking=voice.speaking,
                on_heard=self._heard,
            )
        if self.mqtt is not None:
            self.bus.subscribe(self.mqtt.publish)
        self.models = ""  # what simulates and rewrites, as a person reads it (set by run())
        self.desk = DeskSlot()  # the /desk page: the twin in private, once its models are built
        self.embedded = False  # the twin is the Markov stand-in
        self._stopping = asyncio.Event()
        self.notes = notes
        self.log_file: Path | None = None  # where the console's log lines go, when they do

    def _heard(self, message: ChatMessage, seconds: float) -> None:
        """A spoken line was transcribed: on /metrics, and in the trace of a turn answering it."""
        self.recorder.heard(seconds)
        self.session.heard(message, seconds)

    def _traced(self, trace: TurnTrace) -> None:
        self.recorder.observe(trace)
        if self.notes is not None:
            self.notes.trace(trace)

    # ---- the loops -------------------------------------------------------------------------

    async def run(self, *, until_source_ends: bool = False) -> None:
        """Run until stopped (or, for the console, until its input ends and the turn is done)."""
        # bound before anything runs: a port in use is an error that says what to do
        web = _Web(self) if self.settings.web.enabled else None
        try:
            async with asyncio.TaskGroup() as group:
                if web is not None:
                    await web.start(group)
                models = await self._models()
                if self.notes is not None:
                    where = web.address if web is not None else ""
                    self.notes.ready(self.models, log_file=self.log_file, web=where)
                try:
                    await self._run(group, models, until_source_ends)
                finally:
                    await self.desk.detach()
                    await models.aclose()
                if web is not None:
                    await web.stop()
        finally:
            if web is not None:
                web.close()

    async def _models(self) -> Models:
        settings = self.settings
        # reading big logs must not hold the loop while Twitch's websocket waits for keepalives
        lines = await asyncio.to_thread(streamer_log_lines, settings)
        models = build_models(settings, streamer_lines=lines)
        for note in models.notes:
            log.warning("%s", note)
        self.models = models.label  # /healthz needs no token: no server addresses there
        # the desk's private turns share the stream's models and journal, never its chat or voice
        state = self.state  # its recall looks for the stream's topic as `!twin topic` sets it
        self.desk.attach(
            Desk(
                settings,
                models,
                journal=self.journal,
                clock=self.clock,
                topic=lambda: state.topic,
            )
        )
        self.embedded = models.embedded
        if models.embedded:
            # said where the streamer looks: the replies are not the LoRA's
            log.warning("the twin is the embedded stand-in: %s", models.description)
        else:
            log.info("models: %s", models.description)
        return models

    async def _run(self, group: asyncio.TaskGroup, models: Models, until_source_ends: bool) -> None:
        session = self.session
        session.start(turn_setup(self.settings, models, journal=self.journal), group=group)
        if self.indexer is not None:
            indexer = group.create_task(self.indexer.run(), name="indexer")
            await self._until_warm(self.indexer, group)
        keeping = group.create_task(self._keep_state(), name="state")
        up_since = self.clock.monotonic()
        chat = group.create_task(session.chat_in(self.source), name="chat-in")
        if self.listener is not None:
            listening = group.create_task(self._listen(self.listener), name="listen")
        stop = group.create_task(self._stopping.wait(), name="stop")
        await asyncio.wait({chat, stop}, return_when=asyncio.FIRST_COMPLETED)
        if chat.done() and until_source_ends and not stop.done():
            await session.drain(stop)  # what commands said still goes out
        chat.cancel()
        stop.cancel()
        if self.indexer is not None:
            indexer.cancel()
        keeping.cancel()
        if self.listener is not None:
            listening.cancel()
        if self.clock.monotonic() - up_since >= STATE_HEARTBEAT_S:
            # the time it went down; a run that died within its first minute (a restart
            # loop) leaves the last time it was really up
            self._save_state(heartbeat=True)
        await session.close("the daemon is shutting down")

    async def _listen(self, listener: ListenSource) -> None:
        """The streamer's spoken lines into the session, until a recording ends; a microphone
        or speech model that fails is logged, counted and opened again, never fatal."""
        low, high = LISTEN_RETRY_S
        delay = low
        self._listening = True
        try:
            while True:
                try:
                    # not `chat_in`: the end of a recording is not the end of chat (it would
                    # thank the raids and subs still waiting for their batch now)
                    async with contextlib.aclosing(listener.events()) as lines:
                        async for line in lines:
                            delay = low
                            await self.session.handle(line)
                    log.info("the recording the twin listened to has ended")
                    return
                except Transient as exc:
                    log.warning("not hearing the streamer: %s; trying again in %.0f s", exc, delay)
                except Exception:
                    log.exception("the listener failed; trying again in %.0f s", delay)
                self.session.counters.errors += 1
                await self.clock.sleep(random.uniform(delay / 2, delay))  # jittered
                delay = min(delay * 2, high)
        finally:
            self._listening = False

    def stop(self) -> None:
        """Ask the daemon to shut down (signal handlers call this)."""
        self._stopping.set()

    async def _until_warm(self, indexer: Indexer, group: asyncio.TaskGroup) -> None:
        """Wait (seconds, once) for the embedding model, so the first turns can recall."""
        if indexer.warm.is_set():
            return
        log.info("loading the journal's embedding model before reading chat")
        stop = group.create_task(self._stopping.wait(), name="stop-warming")
        warm = group.create_task(indexer.warm.wait(), name="warm")
        try:
            await asyncio.wait({stop, warm}, timeout=WARM_UP_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            warm.cancel()
        if not indexer.warm.is_set() and not self._stopping.is_set():
            log.warning(
                "the embedding model is still loading after %.0f s; reading chat", WARM_UP_S
            )

    # ---- the twin's state on disk ----------------------------------------------------------

    def _commanded(self, result: CommandResult, message: ChatMessage | None) -> None:
        if result.accepted:
            self._save_state()

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

    # ---- what the web app sees (cohost.web.app.WebView) ------------------------------------

    def links(self) -> dict[str, str]:
        """Each outside link: the chat's, the MQTT broker, the sound card; "up" or "down"."""
        out = dict(self._links())
        if self.mqtt is not None:
            out["mqtt"] = "up" if self.mqtt.connected.is_set() else "down"
        if (voice := _voice_link(self.session.speaker)) is not None:
            out["voice"] = voice  # the sound card, with output auto
        if self.listener is not None and self._listening:
            out["microphone"] = "up" if self.listener.live else "down"
            if self.settings.listen.url:  # the transcription server, as the last utterance found it
                out["transcription"] = "up" if self.listener.transcribing else "down"
        return out

    def _errors(self) -> int:
        """Errors survived: the session's, and utterances the speech model failed on."""
        failed = self.listener.failed if self.listener is not None else 0
        return self.session.counters.errors + failed

    def health(self) -> dict[str, object]:
        """What /healthz says."""
        links = self.links()
        session = self.session
        c = session.counters
        return {
            "ok": True,
            "uptime_s": round(time.time() - c.started, 1),
            # /healthz needs no token: how many the twin ignores, never who
            "state": session.state_payload() | {"ignored": len(self.state.ignored)},
            "events": c.events,
            "picks": c.picks,
            "turns": c.turns,
            "commands": c.commands,
            "errors": self._errors(),
            "busy": bool(session.conductor and session.conductor.busy),
            "held": session.held_waiting(),
            "hold_expiry_s": self.settings.turn.hold_expiry_s,
            "models": self.models,
            "embedded": self.embedded,
            # the process serves ("ok") even when a link is down: it degrades, it does not die
            "links": links,
            "degraded": any(state != "up" for state in links.values()),
        }

    def metrics(self) -> Metrics:
        """What /metrics shows."""
        c = self.session.counters
        return self.recorder.metrics(
            uptime_s=time.time() - c.started,
            events=c.events,
            picks=c.picks,
            turns=c.turns,
            commands=c.commands,
            errors=self._errors(),
            bus_drops=self.mqtt.dropped if self.mqtt is not None else 0,
            sink_drops=_sink_drops(self.session.sink),
            settled=c.settled,
            held=self.session.held_waiting(),
        )

    def subscribe(self, handler: Callable[[str, dict[str, object]], None]) -> Callable[[], None]:
        """Every bus event to handler (the dashboard and overlay streams)."""
        return self.bus.subscribe(handler)

    def recent_turns(self) -> list[dict[str, object]]:
        """The last turns' traces, oldest first."""
        return self.session.recent_turns()

    async def command(self, text: str) -> CommandResult | None:
        """A command from the dashboard, which only the token holder (the streamer) can use."""
        return await self.session.command(
            text, login="dashboard", role=Role.BROADCASTER, source="dashboard"
        )

    async def choose(self, turn_id: str, choice: int, text: str | None = None) -> ChoiceResult:
        """The dashboard approves a held reply (edited, with `text`), or picks the best of a
        turn's candidates."""
        return await self.session.choose(turn_id, choice, login="dashboard", text=text)

    async def reject(self, turn_id: str) -> ChoiceResult:
        """The dashboard rejects a held reply."""
        return await self.session.reject(turn_id, login="dashboard")


def _voice_link(speaker: Speaker | None) -> str | None:
    """The sound card's link, for a voice that plays on one (output auto)."""
    from cohost.adapters.speech import WavSpeaker  # noqa: PLC0415

    return speaker.link if isinstance(speaker, WavSpeaker) else None


def _sink_drops(sink: ChatSink | None) -> int:
    """Messages Twitch's rules kept from chat (rate limit, duplicates, lockout)."""
    if not isinstance(sink, TwitchRules):
        return 0
    counters = sink.counters.as_dict()
    return sum(counters.values()) - counters.get("sent", 0)


def _mqtt_bus(settings: Settings, session: Session) -> MqttBus | None:
    """The MQTT bus the settings name (not yet connected), its control topic to the session."""
    if not settings.bus.mqtt_host:
        return None
    b = settings.bus
    return MqttBus(
        host=b.mqtt_host,
        port=b.mqtt_port,
        prefix=b.topic_prefix,
        client_id=b.client_id,
        username=b.username or None,
        password=b.password.get_secret_value() if b.password else None,
        control_client=b.control_client,
        control_secret=(b.control_secret.get_secret_value() if b.control_secret else None),
        control_window_s=b.control_window_s,
        command_prefix=settings.control.prefix,
        on_control=session.mqtt_command,
        on_refused=session.mqtt_refused,
    )


def streamer_log_lines(settings: Settings) -> list[str]:
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


class _Web:
    """The web app (dashboard, overlay, metrics, health), served as one of the daemon's tasks.

    Its socket is bound when it is made, not by uvicorn: a port in use is then an error that
    says what to do, where uvicorn would log its own and exit the process.
    """

    def __init__(self, daemon: Daemon) -> None:
        import uvicorn  # noqa: PLC0415

        from cohost.adapters.speech import WavSpeaker  # noqa: PLC0415
        from cohost.web.app import create_web_app  # noqa: PLC0415
        from cohost.web.audio import AudioClips  # noqa: PLC0415

        settings = daemon.settings
        web = settings.web
        if not is_loopback(web.host):
            log.warning(
                "the web app binds %s, not loopback: anyone who can reach it sees /overlay and "
                "/metrics; the dashboard still needs the token",
                web.host,
            )
        clips = AudioClips()
        if isinstance(speaker := daemon.session.speaker, WavSpeaker):
            speaker.clips = clips.keep_wav  # each sentence, for an overlay with ?audio=1
        self.app: Starlette = create_web_app(
            daemon,
            token=web.token,
            command_prefix=settings.control.prefix,
            allowed_hosts=allowed_hosts(web),
            overlay_label=web.overlay_label,
            overlay_question=web.overlay_question,
            commands=daemon.session.controller.commands,
            cooldown_bypass=settings.control.cooldown_bypass,
            clips=clips,
            desk=daemon.desk,
        )
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app, host=web.host, port=web.port, log_level="warning", lifespan="off"
            )
        )
        self._where = f"{web.host}:{web.port}"
        self._died = daemon.stop
        try:
            self.socket = socket.create_server(
                (web.host, web.port), family=socket.AF_INET6 if ":" in web.host else socket.AF_INET
            )
        except OSError as exc:
            raise SettingsError(
                f"the web app cannot listen on {self._where}: {exc.strerror or exc} "
                "(is another cohost running? COHOST_WEB__PORT picks another port, "
                "COHOST_WEB__ENABLED=false runs without the web app)"
            ) from None
        self._task: asyncio.Task[None] | None = None
        self._failure: Exception | None = None  # why it never started
        self.address = ""  # http://host:port once it listens

    async def start(self, group: asyncio.TaskGroup) -> None:
        """Serve as a task of `group`; returns once it listens."""
        task = self._task = group.create_task(self._serve(), name="web")
        while not self.server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.02)
        if not self.server.started:
            if self._failure is not None:
                raise self._failure  # why it ended: said now, not later
            raise OSError(f"the web app could not start on {self._where}")
        for sock in (s for srv in self.server.servers for s in srv.sockets):
            host, port = sock.getsockname()[:2]
            self.address = self.address or f"http://{host}:{port}"
            log.info("health endpoint on http://%s:%s/healthz", host, port)
            log.info("dashboard on http://%s:%s/dashboard, overlay on /overlay", host, port)

    async def _serve(self) -> None:
        try:
            await self.server.serve(sockets=[self.socket])
        except Exception as exc:
            if not self.server.started:
                self._failure = exc
                return
            # its death must not go unnoticed: the daemon shuts down in order
            log.error("the web app stopped: %s; shutting down", exc)
            self._died()

    async def stop(self) -> None:
        """Stop serving; a server that does not stop in time is cancelled."""
        self.app.state.hub.close()  # live streams never end on their own; uvicorn waits for them
        self.server.should_exit = True
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S)
            if not done:
                self._task.cancel()

    def close(self) -> None:
        """Close the socket (once served, uvicorn closed it already)."""
        self.socket.close()


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


@dataclass(frozen=True, slots=True, kw_only=True)
class _Chat:
    """Where chat comes from and goes: the console, or Twitch within its rules."""

    source: ChatSource
    sink: ChatSink
    settings: Settings  # with the twin's bot login as its token says
    links: Callable[[], dict[str, str]] = dict
    chatters: Chatters | None = None
    regulars: RegularsFile | None = None


async def _open_chat(
    settings: Settings,
    stack: AsyncExitStack,
    clock: Clock,
    *,
    console: bool,
    stdin: TextIO | None,
    stdout: TextIO | None,
) -> _Chat:
    """The console's chat, or Twitch's, entered in the stack."""
    if console:
        return _Chat(
            source=ConsoleSource(clock, stream=stdin),
            sink=ConsoleSink(settings.twin.name, stream=stdout),
            settings=settings,
        )
    from cohost.adapters.twitch import TwitchChat  # noqa: PLC0415
    from cohost.adapters.twitch_tokens import TokenStore  # noqa: PLC0415

    twitch = await stack.enter_async_context(
        TwitchChat(
            settings.twitch,
            TokenStore.in_data_dir(settings.data_dir),
            known_bots=settings.picker.known_bots,
            follows=settings.reactions.follow.mode != "off",
        )
    )
    rules = TwitchRules.from_settings(twitch, clock, settings.sink)
    twitch.on_bot_roles = rules.bot_roles_seen  # modded or not, as Twitch shows it
    settings = _with_bot_login(settings, twitch.bot_login)
    chatters: Chatters | None = None
    if settings.picker.remember_chatters:
        path = chatters_file(settings.data_dir, settings.twitch.channel)
        chatters = stack.enter_context(Chatters(path, clock, skip={twitch.bot_login}))
    regulars = open_regulars(settings, settings.twitch.channel, settings.data_dir, clock, stack)
    return _Chat(
        source=twitch,
        sink=rules,
        settings=settings,
        links=twitch.links,
        chatters=chatters,
        regulars=regulars,
    )


async def run_daemon(
    settings: Settings,
    *,
    console: bool,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    commands: Sequence[AddedCommand] = (),
) -> int:
    """Build the adapters, run the daemon, shut down in order; returns the exit status."""
    from cohost.app.build import speaker_from_settings  # noqa: PLC0415

    clock = RealClock()
    async with AsyncExitStack() as stack:
        traces = stack.enter_context(
            TraceWriter(settings.data_dir / "traces" / f"{time.strftime('%Y-%m-%d')}.jsonl")
        )
        bus = LocalBus()
        speaker = speaker_from_settings(settings, clock, bus=bus)
        if isinstance(speaker, contextlib.AbstractAsyncContextManager):
            await stack.enter_async_context(speaker)
        journal, indexer = _open_journal(settings, stack, clock)
        chat = await _open_chat(settings, stack, clock, console=console, stdin=stdin, stdout=stdout)
        daemon = Daemon(
            chat.settings,
            source=chat.source,
            sink=chat.sink,
            clock=clock,
            speaker=speaker,
            bus=bus,
            traces=traces,
            journal=journal,
            indexer=indexer,
            links=chat.links,
            chatters=chat.chatters,
            regulars=chat.regulars,
            commands=commands,
            notes=ConsoleNotes(settings.twin.name, stream=stdout) if console else None,
        )
        if console and logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # INFO lines would break into the chat being typed: to a file, warnings stay
            # (with -v every line stays on the terminal, as asked)
            daemon.log_file = settings.data_dir / "logs" / "console.log"
            stack.enter_context(quiet_terminal_logs(daemon.log_file))
        if daemon.mqtt is not None:
            await stack.enter_async_context(daemon.mqtt)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, daemon.stop)
            stack.callback(loop.remove_signal_handler, sig)
        await daemon.run(until_source_ends=console)
    return 0
