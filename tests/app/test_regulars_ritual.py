"""Older IRC logs: Twitch's `new_chatter` ritual notice marks a chatter's first message."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from cohost.app.chatters import regulars_file
from cohost.app.replay import replay
from cohost.app.settings import load_settings
from cohost.chatlog.irc import IrcParser
from cohost.core.events import ChatMessage, Decision, UserNotice
from cohost.pipeline.regulars import Regular
from tests.app.test_regulars import DAY, NOW, _irc

# Twitch's own example of the notice (its IRC docs), as older logs keep it
RITUAL = (
    r"@badge-info=;badges=;color=;display-name=SevenTest1;emotes=30259:0-6;"
    r"id=37feed0f-b9c7-4c3a-b475-21c6c6d21c3d;login=seventest1;mod=0;msg-id=ritual;"
    r"msg-param-ritual-name=new_chatter;room-id=6316121;subscriber=0;"
    r"system-msg=@SevenTest1\sis\snew\shere!;tmi-sent-ts={ms};turbo=0;user-id=131260580;"
    r"user-type= :tmi.twitch.tv USERNOTICE #{channel} :{text}"
)


def _ritual(text: str, at_s: float, channel: str = "seventoes") -> str:
    ms = int((NOW + at_s) * 1000)
    return RITUAL.replace("{ms}", str(ms)).replace("{channel}", channel).replace("{text}", text)


def test_the_ritual_is_the_chatters_first_message() -> None:
    event = IrcParser().parse(_ritual("HeyGuys", 0), 1)
    assert isinstance(event, ChatMessage)
    assert event.first_msg and event.notice is None
    assert (event.login, event.display_name, event.user_id) == (
        "seventest1",
        "SevenTest1",
        "131260580",
    )
    assert (event.text, event.channel, event.id) == (
        "HeyGuys",
        "seventoes",
        "37feed0f-b9c7-4c3a-b475-21c6c6d21c3d",
    )
    assert event.emote_only  # its emote tag covers the whole line
    # another ritual, or one without words, stays a notice
    other = IrcParser().parse(_ritual("hi", 0).replace("new_chatter", "other_ritual"), 2)
    assert isinstance(other, UserNotice) and other.kind == "other"
    bare = _ritual("", 0).removesuffix(" :")
    assert isinstance(IrcParser().parse(bare, 3), UserNotice)


async def test_a_replayed_ritual_flags_a_first_timer_who_is_never_welcomed_back(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data", twin={"streamer": "mossbyte"}, regulars={"enabled": True}
    )
    out = tmp_path / "out"
    # a renamed account took the login of someone the regulars file knows
    path = regulars_file(out, "mossbyte")
    path.parent.mkdir(parents=True)
    kept = Regular(
        login="seventest1", first_seen=NOW - 30 * DAY, last_seen=NOW - DAY, streams=3,
        messages=9, stream=NOW - DAY - 60,
    )  # fmt: skip
    path.write_text(json.dumps({"version": 1, "chatters": [dataclasses.asdict(kept)]}))
    log = tmp_path / "old.irc"
    log.write_text(
        "\n".join(
            [
                _irc("mossbyte", "we are baking rye tonight chat", 0),
                _ritual("hello! what are you baking tonight?", 10, channel="mossbyte"),
            ]
        )
        + "\n"
    )
    decisions: list[Decision] = []
    result = await replay(
        log, out, settings, twin="mossbyte", progress=False, on_decision=decisions.append
    )
    [first] = [d for d in decisions if d.message.login == "seventest1"]
    assert first.message.first_msg and "first_time" in dict(first.parts)
    captions = [json.loads(line)["text"] for line in result.captions.read_text().splitlines()]
    assert not [c for c in captions if c.startswith("welcome back")]
