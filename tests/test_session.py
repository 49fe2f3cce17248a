"""The session: chat in, the twin's own lines, command routing and the `!twin` actions.

One Session serves the daemon and replay alike: a command added once works in both (the first
test drives one through each), and the rest drive a Session directly with in-process fakes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cohost.app.daemon import Daemon
from cohost.app.replay import replay
from cohost.app.settings import load_settings
from cohost.control.controller import (
    AddedCommand,
    CommandCall,
    CommandResult,
    Controller,
    Rated,
)
from cohost.control.feedback import FeedbackStore
from cohost.core.clock import RealClock, VirtualClock
from cohost.core.events import ChatMessage, Decision, Failure, Role, SimLine, TurnTrace
from cohost.core.options import (
    ControlSettings,
    GuardSettings,
    JournalSettings,
    PickerSettings,
    TwinSettings,
)
from cohost.core.ports import SimRequest, Simulator
from cohost.core.state import TwinState
from cohost.embedded.bus import LocalBus
from cohost.pipeline.deliver import CaptionSpeaker, RecordingSink
from cohost.pipeline.guard import Guard
from cohost.pipeline.pick import AnswerMemory, Picker
from cohost.pipeline.turn import TurnOptions
from cohost.session import Notebook, Session, SessionOptions, TurnSetup
from tests.app.test_replay_commands import irc
from tests.fakes import RecordingSpeaker, ScriptedRewriter, ScriptedSimulator, message
from tests.faults.test_local import WAIT_S, Feed, _settings, chat

STREAMER = "mossbyte"
MOD = frozenset({Role.MODERATOR})
HOST = frozenset({Role.BROADCASTER})
LINES = [SimLine(speaker="twin", text="sure thing", is_twin=True)]


# ---- one command, added once, live and in a replay ------------------------------------------


@dataclass
class Shout:
    """A `!twin shout TEXT` a streamer might add: the twin says TEXT in capitals."""

    calls: list[tuple[str, str]] = field(default_factory=list)  # (login, argument) per use

    async def run(self, call: CommandCall) -> str | None:
        self.calls.append((call.login, call.args))
        refusal = await call.actions.say(call.args.upper())
        return refusal or f"shouted for {call.login}"

    def command(self) -> AddedCommand:
        return AddedCommand(name="shout", usage="shout TEXT", run=self.run, takes_text=True)


@pytest.fixture
def shout() -> Shout:
    return Shout()


def _captions(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(c["turn_id"], c["text"]) for c in map(json.loads, lines)]


async def test_a_command_added_once_works_live_and_in_a_replay(
    tmp_path: Path, shout: Shout
) -> None:
    added = [shout.command()]

    # live: the daemon over a fed chat, its voice captioned to a file
    live_captions = tmp_path / "live-captions.jsonl"
    clock = RealClock()
    sink = RecordingSink()
    speaker = CaptionSpeaker(clock, path=live_captions)
    daemon = Daemon(
        _settings(tmp_path / "data"),
        source=Feed(),
        sink=sink,
        clock=clock,
        speaker=speaker,
        commands=added,
    )
    source = daemon.source
    assert isinstance(source, Feed)
    task = asyncio.create_task(daemon.run(until_source_ends=True))
    await source.queue.put(chat("!twin shout hi", 1, login="viewer42"))  # a viewer may not
    await source.queue.put(chat("!twin shout back in five", 2, login="oakmod", roles=MOD))
    await source.queue.put(None)
    async with asyncio.timeout(WAIT_S):
        await task
    speaker.close()
    assert sink.sent == [("BACK IN FIVE", None), ("shouted for oakmod", "m2")]
    assert (daemon.session.controller.accepted, daemon.session.controller.refused) == (1, 1)
    live_calls = list(shout.calls)

    # a replay of the same moments in a log
    log = tmp_path / "stream.irc"
    lines = [
        irc(STREAMER, "gerald the sourdough starter doubled overnight", 1, badge="broadcaster/1"),
        irc("viewer42", "!twin shout hi", 10),
        irc("oakmod", "!twin shout back in five", 20, badge="moderator/1"),
    ]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = load_settings(data_dir=tmp_path / "data", twin={"streamer": STREAMER})
    shout.calls.clear()
    result = await replay(
        log, tmp_path / "out", settings, twin=STREAMER, progress=False, commands=added
    )
    report = json.loads(result.report_json.read_text())
    assert report["commands"] == {"shout accepted": 1, "shout refused": 1}

    # the same effect in both: the command ran once, for the moderator, and the twin said it
    assert live_calls == shout.calls == [("oakmod", "back in five")]
    assert _captions(live_captions) == _captions(result.captions) == [("say", "BACK IN FIVE")]


# ---- a session driven directly ----------------------------------------------------------------


class BrokenSimulator:
    """A simulator with a bug: it raises something no adapter translated."""

    async def stream(self, request: SimRequest) -> AsyncGenerator[SimLine, None]:
        raise RuntimeError("a bug")
        yield  # pragma: no cover (makes this an async generator)


@dataclass
class Seen:
    """What the session's hooks were told."""

    decisions: list[Decision] = field(default_factory=list)
    traces: list[TurnTrace] = field(default_factory=list)
    commands: list[tuple[CommandResult, ChatMessage | None]] = field(default_factory=list)

    def command(self, result: CommandResult, message: ChatMessage | None) -> None:
        self.commands.append((result, message))


def _setup(simulator: Simulator | None = None) -> TurnSetup:
    return TurnSetup(
        picker=Picker(PickerSettings(min_gap_s=0, user_cooldown_s=0), TwinSettings(name="twin")),
        options=TurnOptions(twin="twin"),
        simulator=simulator or ScriptedSimulator(LINES),
        rewriter=ScriptedRewriter("sure thing"),
        memory=AnswerMemory(),
        window_size=20,
    )


def _session(
    *,
    guard: Guard | None = None,
    sink: RecordingSink | None = None,
    speaker: RecordingSpeaker | None = None,
    seen: Seen | None = None,
    not_commands: frozenset[str] = frozenset(),
    refused: dict[str, str] | None = None,
    commands: list[AddedCommand] | None = None,
    notebook: Notebook | None = None,
    feedback: FeedbackStore | None = None,
    state: TwinState | None = None,
) -> Session:
    seen = seen or Seen()
    return Session(
        SessionOptions(channel="chan", not_commands=not_commands, refused=refused or {}),
        control=ControlSettings(),
        state=state or TwinState(),
        feedback=feedback,
        clock=VirtualClock(1000.0),
        guard=guard or Guard(GuardSettings()),
        sink=sink,
        speaker=speaker,
        notebook=notebook,
        commands=commands or (),
        on_decision=seen.decisions.append,
        on_trace=seen.traces.append,
        on_command=seen.command,
    )


async def test_the_twins_own_line_is_never_obeyed_but_joins_the_chat() -> None:
    sink = RecordingSink()
    session = _session(sink=sink, not_commands=frozenset({"twinbot"}))
    session.start(_setup())
    await session.handle(message("!twin pause", login="twinbot", roles=MOD, id="own"))
    assert not session.state.paused
    assert session.conductor is not None
    assert [m.id for m in session.conductor.window] == ["own"]
    await session.handle(message("!twin pause", login="oakmod", roles=MOD, id="mod"))
    assert session.state.paused
    assert [m.id for m in session.conductor.window] == ["own"]  # a command is not chat
    assert sink.sent == [("paused", "mod")]  # the reply, threaded under the command


async def test_a_command_reply_goes_through_the_guard() -> None:
    # issue #16: `!twin topic <a blocked word>` posted it back, and a long topic went out in
    # more messages than the guard allows a reply
    sink = RecordingSink()
    guard = Guard(GuardSettings(blocklist=["zorbleflux"], max_length=100, max_messages=2))
    session = _session(sink=sink, guard=guard)
    session.start(_setup())
    await session.handle(message("!twin topic zorbleflux night", login="oakmod", roles=MOD))
    assert session.state.topic == "zorbleflux night"  # the command itself still works
    [(said, _)] = sink.sent
    assert "zorbleflux" not in said and "blocklist" in said
    sink = RecordingSink()
    session = _session(sink=sink, guard=guard)  # a new one: the first is cooling down
    session.start(_setup())
    long_topic = " ".join(["bread is good."] * 200)
    await session.handle(message(f"!twin topic {long_topic}", login="oakmod", roles=MOD))
    assert 1 <= len(sink.sent) <= 2
    assert all(len(text) <= 100 for text, _ in sink.sent)


async def test_a_command_the_session_refuses_by_name_never_reaches_the_controller() -> None:
    sink, seen = RecordingSink(), Seen()
    session = _session(sink=sink, seen=seen, refused={"note": "no journal here"})
    session.start(_setup())
    asked = message("!twin note the oven is new", login=STREAMER, roles=HOST)
    await session.handle(asked)
    [(result, said_in)] = seen.commands
    assert (result.command, result.accepted, result.reason) == ("note", False, "no journal here")
    assert said_in is asked
    assert (session.controller.accepted, session.controller.refused) == (0, 0)
    assert sink.sent == []  # refused quietly
    assert session.counters.commands == 1


async def test_an_inline_session_says_and_speaks_before_it_reads_on() -> None:
    sink, speaker = RecordingSink(), RecordingSpeaker()
    session = _session(sink=sink, speaker=speaker)
    session.start(_setup())  # no group: a replay's session
    await session.handle(message("!twin say hello chat", login="oakmod", roles=MOD))
    assert sink.sent == [("hello chat", None)]
    assert speaker.said == ["hello chat"]


async def test_a_picked_message_is_answered_and_every_hook_hears_of_it() -> None:
    sink, seen = RecordingSink(), Seen()
    session = _session(sink=sink, seen=seen)
    session.start(_setup())
    await session.handle(message("twin, what are we playing?", id="q"))
    assert sink.sent == [("sure thing", "q")]
    assert [d.picked for d in seen.decisions] == [True]
    assert [t.outcome for t in seen.traces] == ["answered"]
    assert session.last_answered is seen.traces[0]
    assert [t["turn_id"] for t in session.recent_turns()] == [seen.traces[0].turn_id]
    await session.handle(message("!twin status", login="oakmod", roles=MOD, id="s"))
    assert sink.sent[-1] == (
        "live, voice on, chat on, hold off, rate default, topic: -, ignoring 0; "
        "1 picks, turns: answered 1, twin: served model",
        "s",
    )


@pytest.mark.parametrize(
    ("simulator", "failure", "errors"),
    [
        (ScriptedSimulator(LINES, fail_after=0), Failure.TRANSIENT, 0),
        (BrokenSimulator(), Failure.UNEXPECTED, 1),
    ],
)
async def test_only_an_unexpected_failure_counts_as_an_error(
    simulator: Simulator, failure: Failure, errors: int
) -> None:
    seen = Seen()
    session = _session(sink=RecordingSink(), seen=seen)
    session.start(_setup(simulator))
    await session.handle(message("twin, what are we playing?"))
    [trace] = seen.traces
    assert (trace.outcome, trace.failure) == ("failed", failure)
    assert session.counters.errors == errors


async def test_close_stops_what_waits_to_go_out_and_nothing_starts_after() -> None:
    class HeldChat:
        def __init__(self) -> None:
            self.waiting = asyncio.Event()
            self.sent: list[str] = []

        async def send(self, text: str, *, reply_to: str | None = None) -> bool:
            self.waiting.set()
            await asyncio.Event().wait()  # Twitch's limit, never lifted
            self.sent.append(text)
            return True

    sink = HeldChat()
    session = Session(
        SessionOptions(channel="chan"),
        control=ControlSettings(),
        state=TwinState(),
        clock=VirtualClock(1000.0),
        guard=Guard(GuardSettings()),
        sink=sink,
    )
    async with asyncio.timeout(WAIT_S), asyncio.TaskGroup() as group:
        session.start(_setup(), group=group)
        await session.handle(message("!twin say back in five", login="oakmod", roles=MOD))
        await session.handle(message("!twin pause", login="oakmod", roles=MOD))
        assert session.state.paused  # read while the `say` waits for chat
        await sink.waiting.wait()
        await session.close("shutting down")
    assert sink.sent == []
    await session.say("too late")  # after close: starts nothing, waits for nothing
    assert sink.sent == []


async def test_a_session_with_no_feedback_store_holds_nothing() -> None:
    session = _session(sink=RecordingSink())
    session.start(_setup())
    assert session.approvals is None
    assert await session.approve_held(0, login="oakmod") == (False, "nothing is held")
    assert (await session.choose("t1", 0, login="dashboard")).ok is False
    assert session.feedback("good", login="oakmod") is None
    assert session.held_waiting() == 0


async def test_a_note_is_written_to_the_journal(tmp_path: Path) -> None:
    sink = RecordingSink()
    notebook = Notebook(tmp_path / "journal", JournalSettings())
    session = _session(sink=sink, notebook=notebook)
    session.start(_setup())
    await session.handle(message("!twin note the oven is new", login=STREAMER, roles=HOST))
    [reply] = [text for text, _ in sink.sent]
    assert reply.startswith("noted: ")
    [entry] = list((tmp_path / "journal").glob("*.tid"))
    assert "the oven is new" in entry.read_text(encoding="utf-8")


async def test_chat_before_start_is_an_error_and_mqtt_is_not_read() -> None:
    session = _session(sink=RecordingSink())
    with pytest.raises(RuntimeError):
        await session.handle(message("hello"))
    session.mqtt_command("!twin pause", "streamdeck")  # no group yet: nothing runs
    assert not session.state.paused and session.counters.commands == 0


# ---- added commands, as the controller takes them ---------------------------------------------


def _controller(*added: AddedCommand) -> tuple[Controller, VirtualClock]:
    clock = VirtualClock(1000.0)
    return Controller(ControlSettings(), TwinState(), _NoActions(), clock, None, added=added), clock


class _NoActions:
    """Actions an added command that only replies never reaches."""

    async def skip(self, reason: str) -> bool:
        raise AssertionError("not reached")

    async def say(self, text: str) -> str | None:
        raise AssertionError("not reached")

    async def silence(self) -> None:
        raise AssertionError("not reached")

    async def ask(self, question: str, *, login: str) -> None:
        raise AssertionError("not reached")

    def forget(self) -> None:
        raise AssertionError("not reached")

    def forget_chatter(self, login: str) -> bool:
        raise AssertionError("not reached")

    async def approve_held(self, choice: int, *, login: str) -> tuple[bool, str]:
        raise AssertionError("not reached")

    async def reject_held(self, *, login: str) -> tuple[bool, str]:
        raise AssertionError("not reached")

    async def note(self, text: str) -> str:
        raise AssertionError("not reached")

    def feedback(self, verdict: str, *, login: str) -> Rated | None:
        raise AssertionError("not reached")

    def status(self) -> str:
        return ""


async def _clip(call: CommandCall) -> str | None:
    return f"clipped by {call.login}"


CLIP = AddedCommand(name="clip", usage="clip", run=_clip, level="vip", cooldown_s=30.0)


async def test_an_added_command_is_permitted_cooled_down_and_listed_like_a_builtin() -> None:
    controller, clock = _controller(CLIP)

    async def use(text: str, role: Role, login: str = "ana") -> CommandResult:
        result = await controller.handle(text, login=login, role=role, source="chat")
        assert result is not None
        return result

    refused = await use("!twin clip", Role.EVERYONE)
    assert (refused.accepted, refused.reason) == (False, "needs vip, ana is everyone")
    done = await use("!twin clip", Role.VIP)
    assert (done.accepted, done.reply) == (True, "clipped by ana")
    assert (await use("!twin clip", Role.VIP, "bo")).reason.startswith("cooling down")
    clock.advance(30.0)
    assert (await use("!twin clip", Role.VIP, "bo")).accepted
    chatty = await use("!twin clip now please", Role.BROADCASTER)  # the words after it ignored
    assert (chatty.accepted, chatty.reply) == (True, "clipped by ana")
    listed = await use("!twin help", Role.VIP)
    assert listed.accepted and "clip" in str(listed.reply).split(" | ")
    clock.advance(30.0)  # help's own cooldown
    unlisted = await use("!twin help", Role.SUBSCRIBER, "cy")  # ana's own help cools longer
    assert unlisted.accepted and "clip" not in str(unlisted.reply).split(" | ")
    clock.advance(30.0)
    assert (await use("!twin help clip", Role.EVERYONE, "dee")).reply == (
        "!twin clip: a command of this channel"
    )


@pytest.mark.parametrize("name", ["pause", "Two words", "!clip"])
def test_an_added_command_needs_a_name_of_its_own(name: str) -> None:
    with pytest.raises(ValueError, match="command"):
        _controller(AddedCommand(name=name, usage=name, run=_clip))


async def test_a_moderator_cannot_make_the_session_ignore_its_broadcaster() -> None:
    sink = RecordingSink()
    session = _session(sink=sink)  # its channel is "chan": the broadcaster's login
    session.start(_setup())
    await session.handle(message("!twin ignore chan", login="oakmod", roles=MOD, id="i"))
    assert "chan" not in session.state.ignored
    [(said, _)] = sink.sent
    assert "broadcaster" in said


# ---- commands as moderators know them (issue #19) --------------------------------------------


async def test_the_streamers_pause_please_pauses_and_says_so() -> None:
    sink = RecordingSink()
    session = _session(sink=sink)
    session.start(_setup())
    await session.handle(message("!twin pause please", login="chan", roles=HOST, id="p"))
    assert session.state.paused
    assert sink.sent == [("paused", "p")]


async def test_ratings_go_to_the_dashboard_never_chat_and_a_change_is_said(
    tmp_path: Path,
) -> None:
    sink, seen = RecordingSink(), Seen()
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    session = _session(sink=sink, seen=seen, feedback=store)
    session.start(_setup())
    await session.handle(message("twin, what are we playing?", id="q"))
    assert sink.sent == [("sure thing", "q")]
    published: list[tuple[str, dict[str, object]]] = []
    bus = session.bus
    assert isinstance(bus, LocalBus)
    bus.subscribe(lambda topic, payload: published.append((topic, payload)))
    await session.handle(message("!twin bad", login="oakmod", roles=MOD, ts=1010.0))
    await session.handle(message("!twin good", login="oakmod", roles=MOD, ts=1020.0))
    assert sink.sent == [("sure thing", "q")]  # nothing more in chat: not the line, no ack
    replies = [result.reply for result, _ in seen.commands]
    assert replies == ["noted (bad): the last reply", "changed to good (was bad): the last reply"]
    said = [p.get("reply") for t, p in published if t.endswith("command")]
    assert said == replies  # the dashboard hears them
    assert [r.verdict for r in store.read()] == ["bad", "good"]


async def test_status_counts_an_approved_held_reply_as_answered(tmp_path: Path) -> None:
    sink = RecordingSink()
    session = _session(
        sink=sink, feedback=FeedbackStore(tmp_path / "f.jsonl"), state=TwinState(hold=True)
    )
    session.start(_setup())
    await session.handle(message("twin, what are we playing?", id="q1"))
    await session.handle(message("!twin status", login="chan", roles=HOST, id="s1"))
    assert "turns: held 1," in sink.sent[-1][0]
    await session.handle(message("!twin approve", login="chan", roles=HOST, id="a"))
    assert ("sure thing", "q1") in sink.sent
    await session.handle(message("!twin status", login="chan", roles=HOST, id="s2"))
    assert "turns: answered 1," in sink.sent[-1][0]
    assert "held" not in sink.sent[-1][0].split("; ")[1]
