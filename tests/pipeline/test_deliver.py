"""The one way a reply reaches chat and the voice: threading, the switches, what chat took."""

from __future__ import annotations

from cohost.core.events import ASKED_ID_PREFIX
from cohost.pipeline.deliver import post, say_as_twin, speak
from cohost.pipeline.guard import GuardResult
from tests.fakes import RecordingSpeaker, message


def _checked(*messages: str, blocked: bool = False) -> GuardResult:
    return GuardResult(
        text="" if blocked else " ".join(messages),
        messages=[] if blocked else list(messages),
        verdicts=[],
        blocked=blocked,
    )


class Chat:
    """A sink that records posts; it refuses those named in `refuse`."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.sent: list[tuple[str, str | None]] = []
        self.refuse = refuse
        self.seen_sent: list[list[str]] = []  # what `post` had recorded when each send began
        self.record: list[str] | None = None

    async def send(self, text: str, *, reply_to: str | None = None) -> bool:
        if self.record is not None:
            self.seen_sent.append(list(self.record))
        if text in self.refuse:
            return False
        self.sent.append((text, reply_to))
        return True


async def test_the_first_part_is_threaded_under_the_message_it_answers() -> None:
    chat = Chat()
    asked = message("twin, tell us everything", id="q1")
    took = await post(_checked("one.", "two."), chat, answering=asked)
    assert chat.sent == [("one.", "q1"), ("two.", None)]
    assert took == ["one.", "two."]


async def test_a_reply_to_an_ask_or_to_nothing_is_not_threaded() -> None:
    chat = Chat()
    await post(_checked("hi."), chat, answering=message("what?", id=f"{ASKED_ID_PREFIX}7"))
    await post(_checked("hello."), chat)
    assert chat.sent == [("hi.", None), ("hello.", None)]


async def test_chat_is_asked_as_each_part_goes_and_what_it_took_is_recorded_at_once() -> None:
    chat = Chat(refuse=("two.",))
    switch = iter([True, True, False])  # chat off while the second part was on its way
    sent: list[str] = []
    chat.record = sent
    took = await post(
        _checked("one.", "two.", "three."), chat, chat_on=lambda: next(switch), sent=sent
    )
    assert took is sent and sent == ["one."]  # "two." refused by chat, "three." by the switch
    assert chat.seen_sent == [[], ["one."]]  # a cancel during the second send knows the first


async def test_nothing_blocked_goes_out() -> None:
    chat, speaker = Chat(), RecordingSpeaker()
    assert await post(_checked("x", blocked=True), chat) == []
    await say_as_twin(
        _checked("x", blocked=True),
        sink=chat,
        speaker=speaker,
        chat_on=lambda: True,
        voice_on=lambda: True,
    )
    assert chat.sent == [] and speaker.said == []


async def test_say_posts_then_speaks_the_whole_text_unless_the_voice_is_off() -> None:
    chat, speaker = Chat(), RecordingSpeaker()
    await say_as_twin(
        _checked("back in five.", "brb."),
        sink=chat,
        speaker=speaker,
        chat_on=lambda: True,
        voice_on=lambda: True,
    )
    assert chat.sent == [("back in five.", None), ("brb.", None)]
    assert speaker.said == ["back in five. brb."]
    assert not await speak("hello", speaker, turn_id="say", voice_on=lambda: False)
    assert speaker.said == ["back in five. brb."]
