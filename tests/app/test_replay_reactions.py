"""A replayed log's subs, raids, gift bombs and cheers (IRC USERNOTICE, `bits`) are thanked."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from cohost.app.replay import replay
from cohost.app.settings import load_settings
from tests.app.test_replay_commands import STREAMER, T0, irc


def notice(login: str, msg_id: str, system: str, at_s: float, **params: str) -> str:
    extra = "".join(f";msg-param-{k}={v}" for k, v in params.items())
    tags = (
        f"@badges=;display-name={login};id={uuid.uuid4()};login={login};msg-id={msg_id}"
        f"{extra};system-msg={system.replace(' ', chr(92) + 's')};"
        f"tmi-sent-ts={T0 + int(at_s * 1000)};user-id={abs(hash(login)) % 10**8}"
    )
    return f"{tags} :tmi.twitch.tv USERNOTICE #{STREAMER}"


def write_log(tmp_path: Path) -> Path:
    streamer = [
        "gerald the sourdough starter doubled overnight",
        "we are baking rye bread tonight chat",
        "thanks for hanging out while the dough rises",
    ]
    lines = [irc(STREAMER, text, i, badge="broadcaster/1") for i, text in enumerate(streamer)]
    lines += [
        irc("ana", "the crust looks great today", 50),
        notice("subsam", "sub", "subsam subscribed at Tier 1.", 100, months="1"),
        notice("rita", "raid", "5 raiders from rita have joined!", 200, viewerCount="500"),
        notice(
            "gerri",
            "submysterygift",
            "gerri is gifting 5 Tier 1 Subs!",
            300,
            **{"mass-gift-count": "5"},
        ),
        *(
            notice(
                "gerri",
                "subgift",
                "gerri gifted a sub",
                300.1 + i * 0.1,
                **{"recipient-user-name": f"lucky{i}", "community-gift-id": "42"},
            )
            for i in range(5)
        ),
        irc("bo", "what kind of flour is that?", 400),
        f"@bits=500;display-name=cy;id={uuid.uuid4()};tmi-sent-ts={T0 + 500_000};user-id=7"
        f" :cy!cy@cy.tmi.twitch.tv PRIVMSG #{STREAMER} :Cheer500 for gerald",
        irc("ana", "bread bread bread", 900),
    ]
    log = tmp_path / "stream.irc"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return log


def _traces(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_replay_thanks_subs_raids_gifts_and_cheers_in_the_twins_words(
    tmp_path: Path,
) -> None:
    log = write_log(tmp_path)
    settings = load_settings(data_dir=tmp_path / "data", twin={"streamer": STREAMER})
    result = await replay(log, tmp_path / "out", settings, twin=STREAMER, progress=False)
    thanks = [t for t in _traces(result.traces) if t["decision"]["category"] == "thanks"]
    told = [t["decision"]["message"]["text"] for t in thanks]
    assert told == [
        "subsam just subscribed.",
        "rita raided the channel with 500 viewers.",
        "gerri gifted 5 subs.",
        'cy cheered 500 bits. cy said: "Cheer500 for gerald"',
    ]
    # each is said: by the twin's turn, or from its template when the turn found nothing new
    captions = result.captions.read_text()
    templates = [
        "Thank you for subscribing, subsam!",
        "Welcome in, raiders! Thank you for the raid, rita, and hello to all 500 of you!",
        "Thank you gerri for 5 gift subs!",
        "Thanks for the 500 bits, cy!",
    ]
    for trace, template in zip(thanks, templates, strict=True):
        assert trace["sent"] or (trace["outcome"] == "silent" and template in captions)


@pytest.mark.parametrize("gift_batch_s", [0.0, 10.0])
async def test_a_replay_says_the_templates_once_per_batch(
    tmp_path: Path, gift_batch_s: float
) -> None:
    log = write_log(tmp_path)
    reactions: dict[str, dict[str, Any]] = {
        kind: {"mode": "template"} for kind in ("sub", "resub", "raid", "gift", "cheer", "follow")
    }
    reactions["gift"]["batch_s"] = gift_batch_s
    settings = load_settings(
        data_dir=tmp_path / "data", twin={"streamer": STREAMER}, reactions=reactions
    )
    result = await replay(log, tmp_path / "out", settings, twin=STREAMER, progress=False)
    said = [json.loads(line)["text"] for line in result.captions.read_text().splitlines()]
    thanked = [s for s in said if s.startswith(("Thank", "Welcome"))]
    assert thanked[:3] == [
        "Thank you for subscribing, subsam!",
        "Welcome in, raiders! Thank you for the raid, rita, and hello to all 500 of you!",
        "Thank you gerri for 5 gift subs!",
    ]
    assert thanked[3:] == ["Thanks for the 500 bits, cy!"]
    # the notices were thanked, not answered: no turn is about them
    for trace in _traces(result.traces):
        assert trace["decision"]["message"].get("notice") is None
