"""The whole daemon live on (a fake) Twitch: a real twitchio client, commands, Twitch's rules."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cohost.adapters.speech import wav_info
from cohost.adapters.twitch import SUBSCRIPTIONS
from cohost.adapters.twitch_tokens import TokenStore
from cohost.app.chatters import HEADER, chatters_file
from cohost.app.daemon import run_daemon
from cohost.app.demo import demo_files
from cohost.app.settings import Settings, load_settings
from cohost.core.errors import Permanent
from cohost.core.options import SpeechSettings
from tests.adapters.test_twitch import stored
from tests.support.audio import fake_aplay, on_path, require_espeak
from tests.support.fake_twitch import BOT_SCOPES, BROADCASTER_SCOPES, FakeTwitch

WAIT_S = 30.0  # a guard against hanging, never a timing assertion


pytestmark = pytest.mark.usefixtures("twitchio_urls_restored")


class Live:
    """A fake Twitch, its accounts, and the daemon running against it."""

    def __init__(self, fake: FakeTwitch, data_dir: Path) -> None:
        self.fake = fake
        self.data_dir = data_dir
        self.bot = fake.add_user("twinbot", scopes=BOT_SCOPES)
        self.streamer = fake.add_user("mossbyte", scopes=BROADCASTER_SCOPES)
        self.viewer = fake.add_user("viewer42")
        self.mod = fake.add_user("oakmod")
        TokenStore.in_data_dir(data_dir).save(stored(self.bot, "bot"))

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": self.data_dir,
            "twin": {
                "name": "twinbot",
                "streamer": self.streamer.login,
                "bot_login": self.bot.login,
                "writings": [str(demo_files() / "writing.md")],
            },
            "twitch": {
                **self.fake.settings_overrides(),
                "channel": self.streamer.login,
                "broadcaster_id": self.streamer.user_id,
                "bot_login": self.bot.login,
                "bot_id": self.bot.user_id,
                "watch_interval_s": 0.2,
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.2,
            },
            "picker": {"min_gap_s": 0, "user_cooldown_s": 0, "replies_per_minute": 1000},
            "web": {"enabled": False},
            "journal": {"embedding_model": "hashing"},
            # these tests are about Twitch: a voice would hold each turn for its audio's length
            # (the default voice's own live test says so)
            "speech": {"engine": "captions"},
            # the same draws every run: these tests read what the twin says
            "simulator": {"seed": 7},
        }
        for key, value in overrides.items():
            values[key] = {**values.get(key, {}), **value}
        return load_settings(**values)

    def replies(self) -> list[str]:
        return [s.text for s in self.fake.sent]

    def audit(self) -> list[dict[str, Any]]:
        path = self.data_dir / "audit" / "commands.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with FakeTwitch() as fake:
        yield Live(fake, tmp_path / "data")


async def _start(live: Live, **overrides: Any) -> asyncio.Task[int]:
    task = asyncio.create_task(run_daemon(live.settings(**overrides), console=False))
    async with asyncio.timeout(WAIT_S):
        await live.fake.wait_for_active_subscriptions(len(SUBSCRIPTIONS))
    return task


async def _stop(task: asyncio.Task[int]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _sent(live: Live, count: int) -> None:
    async with asyncio.timeout(WAIT_S):
        await live.fake.wait_for_sent(count)


async def test_chat_gets_a_threaded_reply_and_commands_follow_permissions(live: Live) -> None:
    task = await _start(live)
    try:
        asked = await live.fake.push_chat(
            chatter=live.viewer, text="twinbot how is gerald the sourdough starter doing?"
        )
        await _sent(live, 1)
        reply = live.fake.sent[0]
        assert reply.reply_parent_message_id == asked
        assert reply.text.strip()

        # a viewer may not pause the twin: refused, silently, and audited
        await live.fake.push_chat(chatter=live.viewer, text="!twin pause")
        # a moderator may
        await live.fake.push_chat(chatter=live.mod, text="!twin pause", badges=[("moderator", "1")])
        await _sent(live, 2)
        assert live.replies()[1] == "paused"
        await live.fake.push_chat(chatter=live.viewer, text="twinbot are you there? hello?")
        await live.fake.push_chat(
            chatter=live.mod, text="!twin status", badges=[("moderator", "1")]
        )
        await _sent(live, 3)
        status = live.replies()[2]
        assert status.startswith("paused") and "turns: answered 1" in status, "no reply paused"
        assert status.endswith("twin: embedded stand-in")  # never a server's address in chat

        # the broadcaster's long line arrives as two chat messages, both within 500 characters
        long_text = " ".join(["This is one sentence the twin says about bread."] * 13)
        assert len(long_text) > 600
        await live.fake.push_chat(
            chatter=live.streamer, text=f"!twin say {long_text}", badges=[("broadcaster", "1")]
        )
        await _sent(live, 5)
        assert all(len(text) <= 500 for text in live.replies()[3:5])
        assert " ".join(live.replies()[3:5]) == long_text
        async with asyncio.timeout(WAIT_S):  # the audit line is written once `say` returns
            while len(live.audit()) < 4:  # noqa: ASYNC110 (a file, not an event)
                await asyncio.sleep(0.05)
    finally:
        await _stop(task)
    audit = live.audit()
    refused = [a for a in audit if not a["accepted"]]
    assert refused[0]["login"] == "viewer42" and refused[0]["command"] == "pause"
    assert [a["command"] for a in audit if a["accepted"]] == ["pause", "status", "say"]


async def test_a_burst_never_breaks_the_send_limit(live: Live) -> None:
    task = await _start(live, sink={"max_wait_s": 0.5})
    try:
        # 200 picks over a few seconds: each turn finishes before the next message comes
        for i in range(200):
            await live.fake.push_chat(chatter=live.viewer, text=f"twinbot question number {i}?")
            await asyncio.sleep(0.03)
        await _sent(live, 20)
        await asyncio.sleep(1.0)  # let the daemon work through the rest of the burst
    finally:
        await _stop(task)
    stamps = sorted(s.at for s in live.fake.sent)
    # every 30 s window of the fake's clock holds at most 20 of the bot's messages
    assert max(sum(1 for t in stamps if a <= t < a + 30) for a in stamps) <= 20
    assert len(stamps) == 20


async def test_a_dropped_websocket_reconnects_and_chat_goes_on(live: Live) -> None:
    task = await _start(live)
    try:
        await live.fake.drop_websocket()
        async with asyncio.timeout(WAIT_S):
            await live.fake.wait_for_active_subscriptions(len(SUBSCRIPTIONS))
        await live.fake.push_chat(chatter=live.viewer, text="twinbot did you come back?")
        await _sent(live, 1)
    finally:
        await _stop(task)


async def test_a_revoked_token_stops_the_daemon_with_a_clear_error(live: Live) -> None:
    task = await _start(live)
    await live.fake.revoke_token(live.bot)
    with pytest.raises(BaseException) as caught:  # a TaskGroup may wrap it
        async with asyncio.timeout(WAIT_S):
            await task
    errors = (
        caught.value.exceptions if isinstance(caught.value, BaseExceptionGroup) else (caught.value,)
    )
    assert any(isinstance(e, Permanent) for e in errors), errors


async def test_a_held_reply_goes_out_once_the_streamer_approves_it(live: Live) -> None:
    from tests.app.test_daemon_web import TOKEN, _free_port  # noqa: PLC0415

    async def turns_when(client: httpx.AsyncClient, outcome: str) -> list[dict[str, Any]]:
        async with asyncio.timeout(WAIT_S):
            while True:
                try:
                    turns: list[dict[str, Any]] = (
                        await client.get("/api/turns", headers=bearer)
                    ).json()
                except httpx.TransportError:
                    turns = []  # not listening yet
                if any(t["outcome"] == outcome for t in turns):
                    return turns
                await asyncio.sleep(0.05)

    port = _free_port()
    task = await _start(
        live, web={"enabled": True, "port": port, "token": TOKEN}, turn={"hold": True}
    )
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            asked = await live.fake.push_chat(
                chatter=live.viewer, text="twinbot how is gerald the sourdough starter doing?"
            )
            turns = await turns_when(client, "held")
            [held] = [t for t in turns if t["outcome"] == "held"]
            health = (await client.get("/healthz")).json()
            assert health["links"] == {
                "chat.message": "up",
                "chat.message_delete": "up",
                "chat.clear_user_messages": "up",
                "chat.clear": "up",
                "chat.notification": "up",
            }
            assert health["degraded"] is False and "127.0.0.1" not in str(health)
            assert held["reply"] and live.fake.sent == []  # nothing went out on its own

            approved = await client.post(
                f"/api/turns/{held['turn_id']}/choose", json={"choice": 0}, headers=bearer
            )
            assert approved.status_code == 200, approved.text
            async with asyncio.timeout(WAIT_S):
                await live.fake.wait_for_reply_to(asked)
            assert live.replies() == [held["reply"]]
            again = await client.post(
                f"/api/turns/{held['turn_id']}/choose", json={"choice": 0}, headers=bearer
            )
            assert again.status_code == 409
            settled = await turns_when(client, "answered")
            assert settled[0]["reason"] == "approved by dashboard"
            assert settled[0]["decided"] == "candidate 1 approved by dashboard"
            metrics = (await client.get("/metrics")).text
            assert 'cohost_turns_total{outcome="held"} 1' in metrics
            assert 'cohost_turns_settled_total{outcome="answered"} 1' in metrics
            assert "cohost_turns_held 0" in metrics
    finally:
        await _stop(task)
    [record] = [
        json.loads(line)
        for line in (live.data_dir / "feedback" / "feedback.jsonl").read_text().splitlines()
    ]
    assert record["verdict"] == "good" and record["reply"] == held["reply"]
    assert record["sent"] == [held["reply"]]
    # the turn's trace: written when it was held, again when it was approved
    [trace_file] = (live.data_dir / "traces").iterdir()
    lines = [json.loads(line) for line in trace_file.read_text().splitlines()]
    mine = [t for t in lines if t["turn_id"] == held["turn_id"]]
    assert [(t["outcome"], t["decided"]) for t in mine] == [
        ("held", ""),
        ("answered", "candidate 1 approved by dashboard"),
    ]


async def test_moderators_approve_and_reject_held_replies_from_chat(live: Live) -> None:
    # with acks_in_chat: chat reads what approve and reject did (by default only the dashboard)
    task = await _start(live, turn={"hold": True, "candidates": 2}, control={"acks_in_chat": True})
    mod = {"chatter": live.mod, "badges": [("moderator", "1")]}
    try:
        await live.fake.push_chat(chatter=live.viewer, text="twinbot is gerald the starter ok?")
        async with asyncio.timeout(WAIT_S):
            while not await _held(task, live):  # noqa: ASYNC110 (the daemon's state)
                await asyncio.sleep(0.05)
        assert live.fake.sent == []
        # the embedded twin offers the two candidates asked for (a redraw when one is short)
        [held] = [t for t in _traces(live) if t["outcome"] == "held"]
        assert len([held["reply"], *held["alternatives"]]) == 2, held
        await live.fake.push_chat(text="!twin reject", **mod)
        await _sent(live, 1)
        assert live.replies() == ["rejected"]
        await live.fake.push_chat(text="!twin approve", **mod)
        await _sent(live, 2)
        assert live.replies()[1] == "nothing is held"

        asked = await live.fake.push_chat(
            chatter=live.viewer, text="twinbot what will you bake next?"
        )
        async with asyncio.timeout(WAIT_S):
            while not await _held(task, live):  # noqa: ASYNC110 (the daemon's state)
                await asyncio.sleep(0.05)
        await live.fake.push_chat(text="!twin approve 1", **mod)
        async with asyncio.timeout(WAIT_S):
            await live.fake.wait_for_reply_to(asked)
            while len(live.audit()) < 3:  # noqa: ASYNC110 (a file, written once `approve` returns)
                await asyncio.sleep(0.05)
    finally:
        await _stop(task)
    audit = [(a["command"], a["accepted"]) for a in live.audit()]
    assert audit == [("reject", True), ("approve", False), ("approve", True)]


def _traces(live: Live) -> list[dict[str, Any]]:
    """The turns on record, the last trace of each (the daemon writes one as a turn ends)."""
    folder = live.data_dir / "traces"
    lines = [line for path in folder.glob("*.jsonl") for line in path.read_text().splitlines()]
    last: dict[str, dict[str, Any]] = {}
    for line in lines:
        trace = json.loads(line)
        last[trace["turn_id"]] = trace
    return list(last.values())


async def _held(task: asyncio.Task[int], live: Live) -> bool:
    """Whether a held turn is on record."""
    assert not task.done()
    return any(t["outcome"] == "held" for t in _traces(live))


async def test_a_held_reply_to_a_message_a_moderator_deletes_is_dropped(live: Live) -> None:
    async def traced(outcome: str) -> dict[str, Any]:
        async with asyncio.timeout(WAIT_S):
            while True:
                for path in (live.data_dir / "traces").glob("*"):
                    for line in path.read_text().splitlines():
                        trace: dict[str, Any] = json.loads(line)
                        if trace["outcome"] == outcome:
                            return trace
                await asyncio.sleep(0.05)

    task = await _start(live, turn={"hold": True})
    try:
        asked = await live.fake.push_chat(
            chatter=live.viewer, text="twinbot how is gerald the sourdough starter doing?"
        )
        held = await traced("held")
        await live.fake.push_moderation("delete", target=live.viewer, message_id=asked)
        settled = await traced("silent")
    finally:
        await _stop(task)
    assert settled["turn_id"] == held["turn_id"]
    assert settled["reason"] == "the message it answered was deleted"
    assert live.fake.sent == []  # nothing ever went out for it


async def test_the_default_voice_speaks_each_reply_into_wav_files(
    live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the voice as a fresh setup has it: espeak-ng, and WAV files when there is no sound card
    require_espeak()
    fake_aplay(tmp_path / "bin", card=False)
    on_path(monkeypatch, tmp_path / "bin")
    settings = live.settings().model_copy(update={"speech": SpeechSettings()})
    task = asyncio.create_task(run_daemon(settings, console=False))
    try:
        async with asyncio.timeout(WAIT_S):
            await live.fake.wait_for_active_subscriptions(len(SUBSCRIPTIONS))
        await live.fake.push_chat(chatter=live.viewer, text="twinbot how is gerald doing?")
        await _sent(live, 1)
        wav_dir = live.data_dir / "speech"
        async with asyncio.timeout(WAIT_S):
            # a file appears as synthesis starts: wait until its audio is all there
            while not (wavs := _whole_wavs(wav_dir)):  # noqa: ASYNC110 (files)
                await asyncio.sleep(0.05)
    finally:
        await _stop(task)
    info = wav_info(wavs[0])
    assert info.sample_rate == 22050 and info.seconds > 0.3


def _whole_wavs(folder: Path) -> list[Path]:
    whole = []
    for path in sorted(folder.glob("cohost-*.wav")):
        try:
            if wav_info(path).frames > 0:
                whole.append(path)
        except ValueError:
            pass  # its header is still being written
    return whole


async def test_a_chatter_new_to_the_channel_is_a_first_time_chatter(live: Live) -> None:
    # EventSub carries no first-message flag: the daemon's own memory of the channel tells
    regular = live.viewer
    newcomer = live.fake.add_user("newcomer7")
    memory = chatters_file(live.data_dir, live.streamer.login)
    memory.parent.mkdir(parents=True)
    memory.write_text(f"{HEADER}1000000000\n{regular.user_id}\n")  # years of streams
    task = await _start(live)
    try:
        await live.fake.push_chat(chatter=regular, text="twinbot how is gerald doing?")
        await _sent(live, 1)
        await live.fake.push_chat(chatter=newcomer, text="twinbot hello! what game is this?")
        await _sent(live, 2)
    finally:
        await _stop(task)
    [trace_file] = (live.data_dir / "traces").iterdir()
    traces = [json.loads(line) for line in trace_file.read_text().splitlines()]
    parts = {t["decision"]["message"]["login"]: dict(t["decision"]["parts"]) for t in traces}
    assert "first_time" not in parts[regular.login]
    assert parts[newcomer.login]["first_time"] > 0
    # the twin's own echoed lines are not chatters
    assert memory.read_text().splitlines()[1:] == [regular.user_id, newcomer.user_id]


async def test_an_answer_to_twin_ask_reaches_chat(live: Live) -> None:
    # the question is cohost's own message, not chat's: Twitch refuses a reply threaded to it
    task = await _start(live)
    try:
        await live.fake.push_chat(
            chatter=live.mod, text="!twin ask how is gerald doing?", badges=[("moderator", "1")]
        )
        await _sent(live, 1)
    finally:
        await _stop(task)
    [answer] = live.fake.sent
    assert answer.is_sent and answer.text.strip()
    assert answer.reply_parent_message_id is None


async def test_the_twin_model_sees_what_the_twin_said(live: Live) -> None:
    # Twitch echoes the bot's own messages: they join the recent chat, and are never answered
    task = await _start(live, twin={"bot_login": ""})  # known from the token all the same
    try:
        await live.fake.push_chat(chatter=live.viewer, text="twinbot how is gerald doing?")
        await _sent(live, 1)
        first = live.fake.sent[0].text
        await live.fake.push_chat(chatter=live.viewer, text="twinbot and what game is this?")
        await _sent(live, 2)
    finally:
        await _stop(task)
    [trace_file] = (live.data_dir / "traces").iterdir()
    traces = [json.loads(line) for line in trace_file.read_text().splitlines()]
    second = next(t for t in traces if t["decision"]["message"]["text"].endswith("game is this?"))
    said = [(m["login"], m["text"]) for m in second["window"]]
    assert (live.bot.login, first) in said
    assert len(live.fake.sent) == 2  # the twin never answered its own line


async def test_a_raid_is_welcomed(live: Live) -> None:
    raider = live.fake.add_user("raiderrita")
    task = await _start(live)
    try:
        await live.fake.push_notification(
            "raid", chatter=raider, system_message="raiderrita is raiding with a party of 25."
        )
        await _sent(live, 1)
    finally:
        await _stop(task)
    [trace_file] = (live.data_dir / "traces").iterdir()
    [trace] = [json.loads(line) for line in trace_file.read_text().splitlines()]
    decision = trace["decision"]
    assert decision["message"]["login"] == "raiderrita"
    assert decision["message"]["notice"] == "raid"
    assert dict(decision["parts"])["support"] > 0
    [welcome] = live.fake.sent
    assert welcome.is_sent and welcome.text.strip()
    assert welcome.reply_parent_message_id is None  # Twitch threads under chat messages only
