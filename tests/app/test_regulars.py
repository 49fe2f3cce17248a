"""The regulars file: a round trip, written whole, a torn file, retention; chatters forgotten."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from cohost.app import chatters as chatters_module
from cohost.app.chatters import HEADER, Chatters, RegularsFile, chatters_file, regulars_file
from cohost.app.replay import replay
from cohost.app.settings import load_settings
from cohost.core.clock import VirtualClock
from cohost.core.events import ChatMessage, Decision
from cohost.pipeline.regulars import Regular

DAY = 86_400.0
NOW = 1_700_000_000.0


def record(
    login: str,
    *,
    last_seen: float = NOW,
    notes: tuple[str, ...] = ("my cat is called biscuit", "rye is the best bread"),
) -> Regular:
    return Regular(
        login=login,
        user_id=f"id-{login}",
        display_name=login.capitalize(),
        first_seen=NOW - 40 * DAY,
        last_seen=last_seen,
        streams=5,
        messages=77,
        notes=notes,
        stream=last_seen - 100,
    )


def store(path: Path, clock: VirtualClock, **limits: float) -> RegularsFile:
    return RegularsFile(
        path,
        clock,
        max_chatters=int(limits.get("max_chatters", 1000)),
        retention_days=limits.get("retention_days", 180.0),
    )


def test_a_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = regulars_file(tmp_path, "#MossByte")
    assert path == tmp_path / "regulars" / "mossbyte.json"
    clock = VirtualClock(NOW)
    with store(path, clock) as regulars:
        regulars.put(record("ana"))
        regulars.put(record("oakmod", notes=()))
    with store(path, clock) as again:
        assert again.get("ana") == record("ana")
        assert again.get("oakmod") == record("oakmod", notes=())
        assert len(again) == 2


def test_the_file_is_written_whole_and_private(tmp_path: Path) -> None:
    path = regulars_file(tmp_path, "mossbyte")
    clock = VirtualClock(NOW)
    regulars = store(path, clock).open()
    regulars.put(record("ana"))  # the first change is written at once (off the chat loop)
    regulars.wait_saved()
    first = path.read_text()
    assert json.loads(first)["chatters"][0]["login"] == "ana"
    regulars.put(record("bea"))  # later ones wait a little (chat changes it all the time)
    assert path.read_text() == first
    clock.advance(31.0)
    regulars.put(record("cy"))
    regulars.wait_saved()
    assert {c["login"] for c in json.loads(path.read_text())["chatters"]} == {"ana", "bea", "cy"}
    regulars.put(record("dee"))
    regulars.close()  # and close writes what waits
    assert len(json.loads(path.read_text())["chatters"]) == 4
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_chats_saves_run_off_the_calling_thread_and_an_erase_waits_for_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = regulars_file(tmp_path, "mossbyte")
    clock = VirtualClock(NOW)
    writers: list[str] = []
    real = chatters_module.write_atomic

    def recording(*args: Any, **kwargs: Any) -> None:
        writers.append(threading.current_thread().name)
        real(*args, **kwargs)

    monkeypatch.setattr(chatters_module, "write_atomic", recording)
    regulars = store(path, clock).open()
    regulars.put(record("ana"))
    assert regulars.remove("ana") is not None  # an erase is written at once, after the save
    assert writers == ["regulars-save", threading.current_thread().name]
    assert json.loads(path.read_text())["chatters"] == []


def test_a_torn_file_is_reported_and_started_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = regulars_file(tmp_path, "mossbyte")
    clock = VirtualClock(NOW)
    with store(path, clock) as regulars:
        regulars.put(record("ana"))
    whole = path.read_text()
    path.write_text(whole[: len(whole) // 2])  # a crash of something that is not cohost
    with caplog.at_level(logging.WARNING), store(path, clock) as regulars:
        assert len(regulars) == 0
        regulars.put(record("bea"))
    assert f"{path}:" in caplog.text and "start afresh" in caplog.text
    assert [c["login"] for c in json.loads(path.read_text())["chatters"]] == ["bea"]


def test_a_bad_record_is_skipped_naming_its_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = regulars_file(tmp_path, "mossbyte")
    path.parent.mkdir(parents=True)
    good = json.loads(json.dumps({"login": "ana", "first_seen": NOW, "last_seen": NOW}))
    bad = {"login": "bea", "first_seen": NOW, "last_seen": "yesterday"}
    path.write_text(json.dumps({"version": 1, "chatters": [good, bad]}))
    with caplog.at_level(logging.WARNING), store(path, VirtualClock(NOW)) as regulars:
        assert regulars.get("ana") is not None and regulars.get("bea") is None
    assert "chatters[1]" in caplog.text and "last_seen" in caplog.text


def test_retention_and_the_limit_drop_the_longest_unseen(tmp_path: Path) -> None:
    path = regulars_file(tmp_path, "mossbyte")
    clock = VirtualClock(NOW)
    with store(path, clock, max_chatters=2, retention_days=30) as regulars:
        regulars.put(record("old", last_seen=NOW - 31 * DAY))
        regulars.put(record("a", last_seen=NOW - 3 * DAY))
        regulars.put(record("b", last_seen=NOW - 2 * DAY))
        regulars.put(record("c", last_seen=NOW - 1 * DAY))
    text = path.read_text()
    assert [c["login"] for c in json.loads(text)["chatters"]] == ["b", "c"]
    assert "old" not in text


def test_removing_a_chatter_rewrites_the_file_at_once(tmp_path: Path) -> None:
    path = regulars_file(tmp_path, "mossbyte")
    clock = VirtualClock(NOW)
    regulars = store(path, clock).open()
    regulars.put(record("ana"))
    regulars.put(record("bea"))
    gone = regulars.remove("nobody", {"id-bea"})  # by user id: a renamed account too
    assert gone is not None and gone.login == "bea"
    assert "bea" not in path.read_text() and "ana" in path.read_text()
    regulars.close()


def chat(login: str, user_id: str) -> ChatMessage:
    return ChatMessage(
        id=f"m-{login}", channel="mossbyte", login=login, display_name=login, text="hi", ts=NOW,
        user_id=user_id,
    )  # fmt: skip


def test_the_chatters_memory_forgets_a_chatter_and_keeps_on_appending(tmp_path: Path) -> None:
    path = chatters_file(tmp_path, "mossbyte")
    with Chatters(path, VirtualClock(NOW)) as chatters:
        for login, user_id in (("ana", "111"), ("bea", "222"), ("noid", "")):
            chatters.mark(chat(login, user_id))
        assert chatters.forget({"bea", "222"})
        assert not chatters.forget({"bea", "222"})  # nothing left to erase
        assert chatters.forget({"noid"})  # kept by login where Twitch gave no id
        chatters.mark(chat("cy", "333"))
        assert len(chatters) == 2
    lines = path.read_text().splitlines()
    assert lines[0].startswith(HEADER)
    assert lines[1:] == ["111", "333"]
    assert os.access(path, os.R_OK)


# ---- replay: logs rebuild the regulars, and Twitch's first-msg tag marks a first-timer -------


def _irc(login: str, text: str, at_s: float, *, tags: str = "") -> str:
    ms = int((NOW + at_s) * 1000)
    head = f"@display-name={login};id={login}-{ms};tmi-sent-ts={ms};user-id=9{len(login)}{tags}"
    return f"{head} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #mossbyte :{text}"


async def test_replaying_logs_in_order_rebuilds_the_regulars_and_welcomes(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data", twin={"streamer": "mossbyte"}, regulars={"enabled": True}
    )
    out = tmp_path / "out"
    first = tmp_path / "monday.irc"
    first.write_text(
        "\n".join(
            [
                _irc("mossbyte", "we are baking rye tonight chat", 0),
                _irc("ana", "my cat is called biscuit by the way", 10),
                _irc("ana", "!twin status", 20),
            ]
        )
        + "\n"
    )
    await replay(first, out, settings, twin="mossbyte", progress=False)
    stored = json.loads(regulars_file(out, "mossbyte").read_text())["chatters"]
    assert [(c["login"], c["streams"], c["notes"]) for c in stored] == [
        ("ana", 1, ["my cat is called biscuit by the way"])
    ]
    second = tmp_path / "tuesday.irc"
    second.write_text(
        "\n".join(
            [
                _irc("mossbyte", "back again, sourdough day", DAY),
                _irc("ana", "hello again everyone", DAY + 10),
                _irc("newbie", "hi! what game is this?", DAY + 20, tags=";first-msg=1"),
            ]
        )
        + "\n"
    )
    decisions: list[Decision] = []
    result = await replay(
        second, out, settings, twin="mossbyte", progress=False, on_decision=decisions.append
    )
    captions = [json.loads(line)["text"] for line in result.captions.read_text().splitlines()]
    assert "welcome back, ana!" in captions
    stored = json.loads(regulars_file(out, "mossbyte").read_text())["chatters"]
    assert {c["login"]: c["streams"] for c in stored} == {"ana": 2, "newbie": 1}
    # Twitch's own marker, read from the log's tag, reaches the picker
    parts = {d.message.login: dict(d.parts) for d in decisions}
    assert "first_time" in parts["newbie"] and "first_time" not in parts["ana"]
