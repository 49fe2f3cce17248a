"""Welcomes back in the twin's own words, never cutting an answer short; and held ones on time.

Live sessions here run their turns as tasks (as the daemon does) on a clock that moves only
when the test says, so "a turn is running" and "the cooldown is over" are both the test's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager

from cohost.core.events import ChatMessage, SimLine, TurnTrace
from cohost.core.options import (
    ControlSettings,
    GuardSettings,
    PickerSettings,
    RegularsSettings,
    TwinSettings,
)
from cohost.core.ports import FusionRequest
from cohost.core.state import TwinState
from cohost.embedded.bus import LocalBus
from cohost.pipeline.guard import Guard
from cohost.pipeline.pick import AnswerMemory, Picker
from cohost.pipeline.regulars import WELCOME_NOTICE, Regular, Regulars
from cohost.pipeline.turn import TurnOptions
from cohost.session import WELCOME_WAIT_S, Session, SessionOptions, TurnSetup
from tests.fakes import RecordingSpeaker, ScriptedSimulator

T0 = 1_700_000_000.0
DAY = 86_400.0
WAIT_S = 10.0  # real seconds a test may wait for something that should happen at once
ASKS = "twin, how is gerald the sourdough starter?"  # the picker picks it
HELLO = "hello everyone"  # the picker does not: chat, not a question


class StepClock:
    """Wall time that moves only when the test says; a sleeper wakes once it has moved so far
    (the session's welcome tick runs when the test moves time, and then at once)."""

    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return time.perf_counter()

    def advance_to(self, t: float) -> None:
        self._now = max(self._now, t)

    async def sleep(self, seconds: float) -> None:
        until = self._now + seconds
        while self._now < until:  # noqa: ASYNC110 (time the test moves)
            await asyncio.sleep(0.001)


class Rewriter:
    """The twin's reply: what `reply` says for the message; a message in `gated` waits until
    the gate opens (a turn that is still running)."""

    def __init__(self, reply: Callable[[ChatMessage], str]) -> None:
        self.reply = reply
        self.gate = asyncio.Event()
        self.gated: set[str] = set()
        self.requests: list[FusionRequest] = []

    def prompt(self, request: FusionRequest) -> str:
        return request.message.text

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        self.requests.append(request)
        if request.message.text in self.gated:
            await self.gate.wait()
        if text := self.reply(request.message):
            yield text


class Sink:
    """Chat as the twin posts it, with the (test) time of each line."""

    def __init__(self, clock: StepClock) -> None:
        self.clock = clock
        self.sent: list[tuple[str, str | None, float]] = []

    async def send(self, text: str, *, reply_to: str | None = None) -> bool:
        self.sent.append((text, reply_to, self.clock.now()))
        return True

    def lines(self) -> list[str]:
        return [text for text, _, _ in self.sent]


def _reply(message: ChatMessage) -> str:
    if message.notice == WELCOME_NOTICE:
        return f"oh hey {message.display_name}, welcome back!"
    return "gerald is bubbling nicely"


class Stream:
    """A live session with regulars on: its chat, its turns, and the welcomes on the bus."""

    def __init__(self, rewriter: Rewriter, **settings: object) -> None:
        self.clock = StepClock(T0)
        self.sink = Sink(self.clock)
        self.rewriter = rewriter
        self.store = Store()
        self.traces: list[TurnTrace] = []
        self.bus = LocalBus()
        self.welcomes: list[dict[str, object]] = []
        self.bus.subscribe(
            lambda topic, payload: (
                self.welcomes.append(payload) if topic == "stream/welcome" else None
            )
        )
        self.session = Session(
            SessionOptions(channel="chan", not_commands=frozenset({"twinbot"})),
            control=ControlSettings(),
            state=TwinState(),
            clock=self.clock,
            guard=Guard(GuardSettings()),
            sink=self.sink,
            speaker=RecordingSpeaker(),
            bus=self.bus,
            regulars=Regulars(
                RegularsSettings(enabled=True, **settings), {"chan": self.store}, skip={"twinbot"}
            ),
            on_trace=self.traces.append,
        )

    def setup(self) -> TurnSetup:
        return TurnSetup(
            picker=Picker(
                PickerSettings(min_gap_s=0, user_cooldown_s=0), TwinSettings(name="twin")
            ),
            options=TurnOptions(twin="twin"),
            simulator=ScriptedSimulator([SimLine(speaker="twin", text="sure thing", is_twin=True)]),
            rewriter=self.rewriter,
            memory=AnswerMemory(),
            window_size=20,
        )

    @asynccontextmanager
    async def live(self) -> AsyncIterator[Stream]:
        async with asyncio.timeout(WAIT_S * 3), asyncio.TaskGroup() as group:
            self.session.start(self.setup(), group=group)
            try:
                yield self
            finally:
                await self.session.close("test over")

    async def say(self, login: str, text: str, *, at: float = 0.0) -> ChatMessage:
        self.clock.advance_to(T0 + at)
        message = ChatMessage(
            id=f"{login}-{at}",
            channel="chan",
            login=login,
            display_name=login.capitalize(),
            text=text,
            ts=T0 + at,
            user_id=f"id-{login}",
        )
        await self.session.handle(message)
        await asyncio.sleep(0.005)  # what it started goes out before time moves on
        return message

    def categories(self) -> list[tuple[str, str]]:
        """Each finished turn: its decision's category and outcome."""
        return [(t.decision.category, t.outcome) for t in self.traces]


class Store:
    """Regulars kept in memory (the app's keep a file: `tests/app/test_regulars.py`)."""

    def __init__(self) -> None:
        self.records = {login: regular(login) for login in ("ana", "bea", "cy")}

    def get(self, login: str) -> Regular | None:
        return self.records.get(login)

    def put(self, record: Regular) -> None:
        self.records[record.login] = record

    def remove(self, login: str, user_ids: object = ()) -> Regular | None:
        return self.records.pop(login, None)


def regular(login: str) -> Regular:
    return Regular(
        login=login,
        user_id=f"id-{login}",
        display_name=login.capitalize(),
        first_seen=T0 - 30 * DAY,
        last_seen=T0 - DAY,
        streams=4,
        messages=120,
        notes=("my cat is called biscuit",),
        stream=T0 - DAY - 3600,
    )


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110 (any condition)
            await asyncio.sleep(0.005)


async def settle() -> None:
    """Let the session's tasks run a while."""
    await asyncio.sleep(0.1)


async def pass_time(stream: Stream, seconds: float) -> None:
    """Time passes with no chat: the welcome tick runs each second."""
    start = float(int(stream.clock.now()))  # on whole seconds
    for second in range(1, int(seconds) + 1):
        stream.clock.advance_to(start + second)
        await asyncio.sleep(0.01)  # the tick wakes, and what it starts runs, before this does


# ---- `greeting: twin` ---------------------------------------------------------------------


async def test_a_returning_chatter_asking_gets_one_answer_that_welcomes_them() -> None:
    rewriter = Rewriter(_reply)
    rewriter.gated.add(ASKS)  # the answer is still running when the welcome could be due
    async with Stream(rewriter, greeting="twin", cooldown_s=0).live() as stream:
        asked = await stream.say("ana", ASKS)
        await settle()
        rewriter.gate.set()
        await until(lambda: len(stream.traces) == 1)
        await pass_time(stream, WELCOME_WAIT_S + 5)  # nothing is left waiting to be said
        await settle()
    assert stream.categories() == [("picked", "answered")]  # one turn, never cut short
    assert stream.sink.sent == [("gerald is bubbling nicely", asked.id, T0)]
    # the answer is the welcome: its turn was told she is back, beside what she said before
    [request] = rewriter.requests
    [hit] = [h for h in request.hits if h.entry_id == "regulars-ana"]
    assert "back in chat for the first time this stream" in hit.text and "biscuit" in hit.text
    assert [(w["mode"], w["names"], w["text"]) for w in stream.welcomes] == [
        ("reply", ["Ana"], ASKS)
    ]


async def test_a_returning_chatter_saying_hello_gets_a_twin_styled_welcome() -> None:
    rewriter = Rewriter(_reply)
    async with Stream(rewriter, greeting="twin", cooldown_s=0).live() as stream:
        await stream.say("ana", HELLO)
        await until(lambda: len(stream.traces) == 1)
        await settle()
    assert stream.categories() == [("welcome", "answered")]
    [trace] = stream.traces
    assert trace.decision.message.text == "Ana is back in chat for the first time this stream."
    # in the twin's words, as a line of its own (a notice: threaded under nothing)
    assert stream.sink.sent == [("oh hey Ana, welcome back!", None, T0)]
    assert any("biscuit" in h.text for h in rewriter.requests[0].hits)  # it knows her
    assert [(w["mode"], w["names"]) for w in stream.welcomes] == [("twin", ["Ana"])]


async def test_a_twin_welcome_waits_for_the_answer_that_runs() -> None:
    rewriter = Rewriter(_reply)
    rewriter.gated.add("what game is this one?")
    async with Stream(rewriter, greeting="twin", cooldown_s=0).live() as stream:
        await stream.say("newbie", "what game is this one?")  # a turn starts and runs on
        await stream.say("ana", HELLO, at=1)
        await settle()
        assert stream.traces == [] and len(rewriter.requests) == 1  # no welcome turn yet
        rewriter.gate.set()
        await until(lambda: len(stream.traces) == 1)
        await pass_time(stream, 1)  # the twin is quiet: the welcome's tick starts its turn
        await until(lambda: len(stream.traces) == 2)
        await settle()
    # the answer went out whole, and the welcome after it
    assert stream.categories() == [("picked", "answered"), ("welcome", "answered")]
    assert stream.sink.lines() == ["gerald is bubbling nicely", "oh hey Ana, welcome back!"]


async def test_a_twin_welcome_that_says_nothing_is_said_from_its_template() -> None:
    rewriter = Rewriter(lambda m: "" if m.notice == WELCOME_NOTICE else _reply(m))
    async with Stream(rewriter, greeting="twin", cooldown_s=0).live() as stream:
        await stream.say("ana", HELLO)
        await until(lambda: len(stream.traces) == 1)
        await pass_time(stream, 1)  # the next tick says its template
        await until(lambda: stream.sink.lines() == ["welcome back, Ana!"])
        await settle()
    assert stream.categories() == [("welcome", "silent")]
    assert stream.sink.lines() == ["welcome back, Ana!"]
    assert [w["mode"] for w in stream.welcomes] == ["twin", "template"]


async def test_a_twin_welcome_kept_waiting_by_a_busy_twin_is_its_template() -> None:
    rewriter = Rewriter(_reply)
    rewriter.gated.add("what game is this one?")
    async with Stream(rewriter, greeting="twin", cooldown_s=0).live() as stream:
        await stream.say("newbie", "what game is this one?")
        await stream.say("ana", HELLO, at=1)
        await settle()
        assert stream.sink.sent == []  # waits for the twin to be quiet
        await pass_time(stream, WELCOME_WAIT_S)
        await until(lambda: stream.sink.lines() == ["welcome back, Ana!"])
        rewriter.gate.set()  # the answer that ran all along is not cut short
        await until(lambda: len(stream.traces) == 1)
        await settle()
    assert stream.categories() == [("picked", "answered")]
    assert stream.sink.lines() == ["welcome back, Ana!", "gerald is bubbling nicely"]


async def test_a_held_welcome_that_its_chatter_is_answered_meanwhile_drops_them() -> None:
    # ana's welcome waits for a quiet moment; her question then comes first: answered once,
    # welcomed in it, and the welcome that waited names only bea
    rewriter = Rewriter(_reply)
    rewriter.gated.add("what game is this one?")
    async with Stream(rewriter, greeting="twin", cooldown_s=0).live() as stream:
        await stream.say("newbie", "what game is this one?")
        await stream.say("ana", HELLO, at=1)
        await stream.say("bea", "good evening chat", at=2)
        await stream.say("ana", ASKS, at=3)  # the turn that runs is cut for it (a better pick)
        rewriter.gate.set()
        await until(lambda: "gerald is bubbling nicely" in stream.sink.lines())
        await pass_time(stream, 2)
        await until(lambda: any("welcome" in line for line in stream.sink.lines()))
        await settle()
    welcome_turns = [t for t in stream.traces if t.decision.category == "welcome"]
    told = [t.decision.message.text for t in welcome_turns]
    assert told == ["Bea is back in chat for the first time this stream."]
    assert [w["names"] for w in stream.welcomes if w["mode"] == "reply"] == [["Ana"]]


async def test_in_a_replay_an_answer_welcomes_its_asker_and_a_turn_welcomes_the_rest() -> None:
    stream = Stream(Rewriter(_reply), greeting="twin", cooldown_s=0)
    stream.session.start(stream.setup())  # inline, as a replay runs: each turn ends in turn
    asked = await stream.say("ana", ASKS)
    await stream.say("bea", HELLO, at=1)
    assert stream.categories() == [("picked", "answered"), ("welcome", "answered")]
    assert stream.sink.lines() == ["gerald is bubbling nicely", "oh hey Bea, welcome back!"]
    assert stream.sink.sent[0][1] == asked.id
    assert [(w["mode"], w["names"]) for w in stream.welcomes] == [
        ("reply", ["Ana"]),
        ("twin", ["Bea"]),
    ]


# ---- held back by the cooldown: out on time, not only with the next line of chat -----------


async def test_a_welcome_held_by_the_cooldown_goes_out_without_more_chat() -> None:
    settings = {"cooldown_s": 30.0, "per_minute": 2, "names_per_greeting": 2, "wait_s": 120.0}
    async with Stream(Rewriter(_reply), **settings).live() as stream:
        await stream.say("ana", HELLO)
        await stream.say("bea", HELLO, at=5)
        await stream.say("cy", HELLO, at=6)
        await settle()
        assert stream.sink.lines() == ["welcome back, Ana!"]
        await pass_time(stream, 200)  # no more chat: only time passes
        await settle()
    assert [(text, at - T0) for text, _, at in stream.sink.sent] == [
        ("welcome back, Ana!", 0.0),
        ("welcome back, Bea and Cy!", 30.0),  # when the cooldown ended, both at once
    ]


async def test_held_welcomes_on_a_timer_stay_calm_under_a_flood() -> None:
    settings = {"cooldown_s": 30.0, "per_minute": 2, "names_per_greeting": 3, "wait_s": 120.0}
    async with Stream(Rewriter(_reply), **settings).live() as stream:
        stream.store.records |= {f"v{i}": regular(f"v{i}") for i in range(40)}
        for i in range(40):  # a raid of regulars: 40 lines in 8 s
            await stream.say(f"v{i}", HELLO, at=i * 0.2)
        await pass_time(stream, 400)
        await settle()
    times = [at - T0 for _, _, at in stream.sink.sent]
    assert times == [0.0, 30.0, 60.0, 90.0, 120.0]  # then whoever still waits is let go
    assert all("welcome back" in text for text in stream.sink.lines())
