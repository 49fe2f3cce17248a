"""Regulars in a session: welcomed back, known to the turn, and erased with `!twin forget me`."""

from __future__ import annotations

from pathlib import Path

from cohost.app.chatters import Chatters, RegularsFile, chatters_file, regulars_file
from cohost.control.controller import parse_command
from cohost.core.clock import VirtualClock
from cohost.core.events import ChatMessage, Role, SimLine, Tier
from cohost.core.options import (
    ControlSettings,
    GuardSettings,
    PickerSettings,
    RegularsSettings,
    TwinSettings,
)
from cohost.core.state import TwinState
from cohost.pipeline.deliver import RecordingSink
from cohost.pipeline.guard import Guard
from cohost.pipeline.pick import AnswerMemory, Picker
from cohost.pipeline.regulars import Regular, Regulars
from cohost.pipeline.turn import TurnOptions
from cohost.session import Session, SessionOptions, TurnSetup
from tests.fakes import RecordingSpeaker, ScriptedRewriter, ScriptedSimulator

T0 = 1_700_000_000.0
DAY = 86_400.0
MOD = frozenset({Role.MODERATOR})


class Stream:
    """A session in one channel with regulars on, its files, and what it said."""

    def __init__(self, data_dir: Path, **settings: object) -> None:
        self.clock = VirtualClock(T0)
        self.sink = RecordingSink()
        self.speaker = RecordingSpeaker()
        self.rewriter = ScriptedRewriter("sure thing")
        self.regulars_path = regulars_file(data_dir, "chan")
        self.chatters_path = chatters_file(data_dir, "chan")
        self.store = RegularsFile(
            self.regulars_path, self.clock, max_chatters=100, retention_days=180
        ).open()
        self.chatters = Chatters(self.chatters_path, self.clock).open()
        options = RegularsSettings(enabled=True, **settings)
        self.session = Session(
            SessionOptions(channel="chan", not_commands=frozenset({"twinbot"})),
            control=ControlSettings(),
            state=TwinState(),
            clock=self.clock,
            guard=Guard(GuardSettings()),
            sink=self.sink,
            speaker=self.speaker,
            chatters=self.chatters,
            regulars=Regulars(options, {"chan": self.store}, skip={"twinbot"}),
        )
        self.session.start(
            TurnSetup(
                picker=Picker(
                    PickerSettings(min_gap_s=0, user_cooldown_s=0), TwinSettings(name="twin")
                ),
                options=TurnOptions(twin="twin"),
                simulator=ScriptedSimulator(
                    [SimLine(speaker="twin", text="sure thing", is_twin=True)]
                ),
                rewriter=self.rewriter,
                memory=AnswerMemory(),
                window_size=20,
            )
        )

    async def say(
        self, login: str, text: str, *, at: float = 0.0, roles: frozenset[Role] = frozenset()
    ) -> ChatMessage:
        self.clock.advance_to(T0 + at)
        message = ChatMessage(
            id=f"{login}-{at}",
            channel="chan",
            login=login,
            display_name=login.capitalize(),
            text=text,
            ts=T0 + at,
            user_id=f"{sum(map(ord, login))}0042",
            roles=roles,
        )
        await self.session.handle(message)
        return message

    def last(self) -> str:
        """The last line posted."""
        return self.sink.sent[-1][0]

    def saved(self) -> str:
        """The regulars file as written (chat's saves run off the chat loop)."""
        self.store.wait_saved()
        return self.regulars_path.read_text()

    def close(self) -> None:
        self.store.close()
        self.chatters.close()


def regular(login: str) -> Regular:
    return Regular(
        login=login,
        user_id=f"{sum(map(ord, login))}0042",
        display_name=login.capitalize(),
        first_seen=T0 - 30 * DAY,
        last_seen=T0 - DAY,
        streams=4,
        messages=120,
        notes=("my cat is called biscuit",),
        stream=T0 - DAY - 3600,
    )


async def test_a_regular_is_welcomed_back_once_and_the_turn_knows_them(tmp_path: Path) -> None:
    stream = Stream(tmp_path)
    stream.store.put(regular("ana"))
    asked = await stream.say("ana", "twin, how is gerald the sourdough starter?")
    await stream.say("ana", "twin, and the rye bread?", at=120)
    welcomes = [text for text, _ in stream.sink.sent if text.startswith("welcome")]
    assert welcomes == ["welcome back, Ana!"]  # in chat, once this stream
    assert stream.speaker.said[0] == "welcome back, Ana!"  # and out loud, before the answer
    assert stream.sink.sent[1] == ("sure thing", asked.id)
    # the turn was given what chat knows of her: public, beside the journal's hits
    request = stream.rewriter.requests[0]
    [hit] = [h for h in request.hits if "biscuit" in h.text]
    assert hit.tier is Tier.PUBLIC and "5 streams" in hit.text
    assert stream.session.last_answered is not None
    assert hit in stream.session.last_answered.hits
    stream.close()


async def test_no_welcome_while_paused_or_for_a_newcomer(tmp_path: Path) -> None:
    stream = Stream(tmp_path)
    stream.store.put(regular("ana"))
    stream.session.state.paused = True
    await stream.say("ana", "hello everyone here")
    stream.session.state.paused = False
    await stream.say("ana", "still here friends", at=300)
    await stream.say("newbie", "first time here, hi all", at=301)
    assert not [t for t, _ in stream.sink.sent if t.startswith("welcome")]
    stream.close()


async def test_forget_me_erases_everything_kept_about_the_viewer(tmp_path: Path) -> None:
    stream = Stream(tmp_path)
    stream.store.put(regular("ana"))
    stream.store.put(regular("bea"))
    said = await stream.say("ana", "my dog is named waffles, say hi")
    await stream.say("bea", "hello chat, what is cooking?", at=5)
    await stream.say("cy", "what game is this one?", at=6)
    stream.store.save()
    ana_id = said.user_id
    assert "ana" in stream.saved()
    assert ana_id in stream.chatters_path.read_text()

    # any viewer may have themselves erased, and hears so briefly
    await stream.say("ana", "!twin forget me", at=60)
    assert stream.sink.sent[-1] == ("done: cohost keeps nothing about you now", "ana-60")
    for path in (stream.regulars_path, stream.chatters_path):
        text = path.read_text()
        assert "ana" not in text and ana_id not in text and "waffles" not in text
    assert stream.session.conductor is not None
    assert all(m.login != "ana" for m in stream.session.conductor.window)
    assert "bea" in stream.saved()  # nobody else

    # a viewer cannot erase someone else: refused in silence
    sent = len(stream.sink.sent)
    await stream.say("cy", "!twin forget bea", at=70)
    assert len(stream.sink.sent) == sent and "bea" in stream.saved()
    # a moderator can
    await stream.say("oakmod", "!twin forget @Bea", at=80, roles=MOD)
    assert stream.last() == "done: cohost keeps nothing about bea now"
    assert "bea" not in stream.saved()
    bea_id = f"{sum(map(ord, 'bea'))}0042"
    assert bea_id not in stream.chatters_path.read_text()
    await stream.say("oakmod", "!twin forget @nobody42", at=90, roles=MOD)
    assert stream.last() == "cohost kept nothing about nobody42"
    # the files stay erased after the store is written again and read back
    stream.close()
    assert "ana" not in stream.saved()
    again = RegularsFile(stream.regulars_path, stream.clock, max_chatters=100, retention_days=180)
    with again:
        assert again.get("ana") is None and again.get("cy") is not None


async def test_forget_with_more_words_still_forgets_the_recent_chat(tmp_path: Path) -> None:
    stream = Stream(tmp_path)
    await stream.say("cy", "what game is this one?")
    await stream.say("oakmod", "!twin forget the last bit please", at=10, roles=MOD)
    assert stream.last() == "forgot the recent chat"
    assert "cy" in stream.saved()
    stream.close()


async def test_forget_with_one_unknown_word_forgets_the_recent_chat_and_says_so(
    tmp_path: Path,
) -> None:
    stream = Stream(tmp_path)
    stream.store.put(regular("bea"))
    await stream.say("cy", "what game is this one?")
    await stream.say("bea", "my dog is named waffles, say hi", at=5)
    assert stream.session.conductor is not None
    window = stream.session.conductor.window
    await stream.say("oakmod", "!twin forget that", at=10, roles=MOD)
    assert stream.last() == (
        "forgot the recent chat (cohost knows no chatter that; `forget @that` erases a user)"
    )
    assert not window  # the recent chat is gone
    assert "bea" in stream.saved()  # and no one was erased
    # a known login without the @ still erases them
    await stream.say("oakmod", "!twin forget Bea", at=20, roles=MOD)
    assert stream.last() == "done: cohost keeps nothing about bea now"
    assert "bea" not in stream.saved()
    stream.close()


def test_forget_parses_me_a_login_or_chatter() -> None:
    def args(text: str) -> str:
        parsed = parse_command(text)
        assert parsed is not None and parsed.error is None
        return parsed.args

    assert args("!twin forget me") == "me"
    assert args("!twin forget ME") == "me"
    assert args("!twin forget @Bea_99") == "@bea_99"  # surely a user
    assert args("!twin forget Bea_99") == "bea_99"  # a user if cohost knows one so named
    assert args("!twin forget") == ""
    assert args("!twin forget it all please") == ""  # words after it: the recent chat


async def test_help_says_what_forget_me_does(tmp_path: Path) -> None:
    stream = Stream(tmp_path)
    await stream.say("cy", "!twin help forget")
    [(said, _)] = stream.sink.sent
    assert "twin forget [me|@USER]:" in said  # (the guard drops a leading "!")
    assert "`forget me` (anyone) erases all cohost keeps about you" in said
    stream.close()
