"""Reading chat never waits on what the twin says: a send held by Twitch's limit, or a voice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from cohost.app.daemon import Daemon, _with_bot_login, allowed_hosts
from cohost.app.settings import load_settings
from cohost.core.clock import RealClock
from cohost.core.events import Moderation, Role, TurnTrace
from cohost.core.options import WebSettings
from tests.fakes import RecordingSpeaker
from tests.faults.test_local import WAIT_S, Feed, _settings, chat


class FullChat:
    """A sink at Twitch's rate limit: every send waits until the test opens it."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.waiting = 0
        self.sent: list[str] = []

    async def send(self, text: str, *, reply_to: str | None = None) -> bool:
        self.waiting += 1
        try:
            await self.open.wait()
        finally:
            self.waiting -= 1
        self.sent.append(text)
        return True


async def test_commands_are_read_while_a_send_waits_for_the_rate_limit(tmp_path: Path) -> None:
    sink = FullChat()
    daemon = Daemon(_settings(tmp_path / "data"), source=Feed(), sink=sink, clock=RealClock())
    source = daemon.source
    assert isinstance(source, Feed)
    mod = (Role.MODERATOR,)
    task = asyncio.create_task(daemon.run(until_source_ends=True))
    try:
        await source.queue.put(chat("!twin say back in five, chat", 1, login="oakmod", roles=mod))
        await source.queue.put(chat("!twin pause", 2, login="oakmod", roles=mod))
        async with asyncio.timeout(WAIT_S):  # before: reading waited on the `say` send
            while not daemon.state.paused:  # noqa: ASYNC110 (the daemon's state)
                await asyncio.sleep(0.01)
        assert sink.sent == [] and sink.waiting >= 1  # the `say` is still held by the limit
        sink.open.set()
    finally:
        await _input_ends(source, task)
    # once chat had room, everything went out, in the order it was said
    assert sink.sent == ["back in five, chat", "paused"]


async def _running(daemon: Daemon) -> asyncio.Task[None]:
    task = asyncio.create_task(daemon.run(until_source_ends=True))
    async with asyncio.timeout(WAIT_S):
        while daemon.session.conductor is None:  # noqa: ASYNC110 (the daemon's state)
            await asyncio.sleep(0.01)
    return task


async def _input_ends(source: Feed, task: asyncio.Task[None]) -> None:
    """Chat input ends; the daemon finishes what it has and stops."""
    await source.queue.put(None)
    async with asyncio.timeout(WAIT_S):
        await task


async def _until(done: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not done():  # noqa: ASYNC110 (the daemon's state)
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("hush", ["!twin voice off", "!twin skip"])
async def test_a_say_still_waiting_to_post_is_never_spoken_after_it_is_hushed(
    tmp_path: Path, hush: str
) -> None:
    sink, speaker = FullChat(), RecordingSpeaker()
    daemon = Daemon(
        _settings(tmp_path / "data"), source=Feed(), sink=sink, clock=RealClock(), speaker=speaker
    )
    assert daemon.state.voice
    source = daemon.source
    assert isinstance(source, Feed)
    mod = (Role.MODERATOR,)
    task = await _running(daemon)
    try:
        await source.queue.put(chat("!twin say hello there chat", 1, login="oakmod", roles=mod))
        await _until(lambda: sink.waiting >= 1)
        await source.queue.put(chat(hush, 2, login="oakmod", roles=mod))
        await _until(lambda: daemon.session.counters.commands >= 2)
        sink.open.set()
    finally:
        await _input_ends(source, task)
    assert "hello there chat" in sink.sent  # chat still gets it: only the voice was hushed
    assert speaker.said == []


async def test_shutdown_does_not_wait_for_a_send_held_by_the_rate_limit(tmp_path: Path) -> None:
    sink = FullChat()  # never opens
    daemon = Daemon(_settings(tmp_path / "data"), source=Feed(), sink=sink, clock=RealClock())
    source = daemon.source
    assert isinstance(source, Feed)
    task = await _running(daemon)
    await source.queue.put(chat("!twin pause", 1, login="oakmod", roles=(Role.MODERATOR,)))
    await _until(lambda: sink.waiting >= 1)  # the reply "paused" waits for room in chat
    daemon.stop()
    async with asyncio.timeout(WAIT_S):
        await task
    assert sink.sent == []
    # and an output asked for after shutdown began starts nothing
    await daemon.session.say("too late")
    assert sink.waiting == 0


async def _held(tmp_path: Path) -> tuple[Daemon, FullChat, asyncio.Task[None], TurnTrace]:
    """A daemon holding one reply, with chat full."""
    base = _settings(tmp_path / "data")
    settings = base.model_copy(update={"turn": base.turn.model_copy(update={"hold": True})})
    sink = FullChat()
    daemon = Daemon(settings, source=Feed(), sink=sink, clock=RealClock())
    source = daemon.source
    assert isinstance(source, Feed)
    task = await _running(daemon)
    await source.queue.put(chat("twinbot how is gerald doing?", 1, login="viewer1"))
    await _until(lambda: daemon.session.approvals.waiting() == 1)
    [held] = daemon.session.approvals.held()
    return daemon, sink, task, held


async def _held_and_approved(
    tmp_path: Path,
) -> tuple[Daemon, FullChat, asyncio.Task[None], TurnTrace]:
    """A daemon holding one reply that a moderator approved while chat is full."""
    daemon, sink, task, held = await _held(tmp_path)
    source = daemon.source
    assert isinstance(source, Feed)
    await source.queue.put(chat("!twin approve", 2, login="oakmod", roles=(Role.MODERATOR,)))
    await _until(lambda: bool(held.decided) and sink.waiting >= 1)
    return daemon, sink, task, held


async def test_an_approval_from_chat_goes_out_without_holding_up_chat(tmp_path: Path) -> None:
    daemon, sink, task, held = await _held_and_approved(tmp_path)
    source = daemon.source
    assert isinstance(source, Feed)
    try:
        await source.queue.put(chat("!twin pause", 3, login="oakmod", roles=(Role.MODERATOR,)))
        await _until(lambda: daemon.state.paused)  # read while the approved reply waits
        assert held.outcome == "held" and held.decided  # taken, not yet out
        sink.open.set()
        await _until(lambda: held.outcome != "held")
    finally:
        await _input_ends(source, task)
    assert held.outcome == "answered", held.reason
    assert sink.sent[0] == held.reply  # the approved reply went first, then the replies
    assert sink.sent[1:] == ["paused"]  # "approved" is for the dashboard, not chat


async def test_moderation_stops_an_approved_reply_still_waiting_for_chat(tmp_path: Path) -> None:
    daemon, sink, task, held = await _held_and_approved(tmp_path)
    source = daemon.source
    assert isinstance(source, Feed)
    try:
        deleted = Moderation(
            kind="delete", channel="c", ts=0.0, target_message_id=held.decision.message.id
        )
        await source.queue.put(deleted)
        await _until(lambda: held.outcome != "held")
        sink.open.set()
    finally:
        await _input_ends(source, task)
    assert held.outcome == "silent"
    assert held.reason == "approved by oakmod; the message it answered was deleted"
    assert held.reply not in sink.sent  # only the command's own reply went out
    assert daemon.session.counters.settled == {"silent": 1}


async def test_shutdown_settles_an_approved_reply_once(tmp_path: Path) -> None:
    daemon, _, task, held = await _held_and_approved(tmp_path)
    daemon.stop()
    async with asyncio.timeout(WAIT_S):
        await task
    assert held.outcome == "unsent"
    assert held.reason == "approved by oakmod; the daemon stopped before chat took it"
    assert daemon.session.counters.settled == {"unsent": 1}  # not also "silent" by close()
    assert daemon.session.approvals.waiting() == 0


async def test_an_approval_cancelled_before_its_send_began_still_settles(tmp_path: Path) -> None:
    daemon, sink, task, held = await _held(tmp_path)
    source = daemon.source
    assert isinstance(source, Feed)
    try:
        # both already waiting: the delete is read before the approved send ever runs
        approve = chat("!twin approve", 2, login="oakmod", roles=(Role.MODERATOR,))
        deleted = Moderation(
            kind="delete", channel="c", ts=0.0, target_message_id=held.decision.message.id
        )
        source.queue.put_nowait(approve)
        source.queue.put_nowait(deleted)
        await _until(lambda: held.outcome != "held")
        sink.open.set()
    finally:
        await _input_ends(source, task)
    assert held.outcome == "silent", held.reason
    assert held.reason == "approved by oakmod; the message it answered was deleted"
    assert daemon.session.counters.settled == {"silent": 1}
    assert held.reply not in sink.sent


def test_health_says_which_outside_link_is_down(tmp_path: Path) -> None:
    daemon = Daemon(
        _settings(tmp_path / "data"),
        source=Feed(),
        sink=FullChat(),
        clock=RealClock(),
        links=lambda: {"chat.message": "up", "mqtt": "down"},
    )
    health = daemon.health()
    assert health["ok"] is True  # it serves: a dead broker degrades the twin, never ends it
    assert health["degraded"] is True
    assert health["links"] == {"chat.message": "up", "mqtt": "down"}


def test_the_twin_knows_its_own_lines_by_the_tokens_login(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Twitch echoes the twin's own lines: unless the picker knows them, the twin answers itself
    unset = load_settings(twin={"bot_login": ""})
    assert _with_bot_login(unset, "twinbot").twin.bot_login == "twinbot"
    same = load_settings(twin={"bot_login": "@TwinBot"})
    assert _with_bot_login(same, "twinbot") is same
    wrong = load_settings(twin={"bot_login": "otherbot"})
    assert _with_bot_login(wrong, "twinbot").twin.bot_login == "twinbot"
    assert "the bot's token is for twinbot" in caplog.text
    # a bot posting as the streamer's own account: every line of the streamer would be "own",
    # never answered nor obeyed, so it is not made the twin's
    own_account = load_settings(twin={"bot_login": "", "streamer": "MossByte"})
    assert _with_bot_login(own_account, "mossbyte").twin.bot_login == ""


async def test_the_streamer_is_obeyed_when_the_bot_is_their_own_account(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data")
    settings = settings.model_copy(
        update={"twin": settings.twin.model_copy(update={"bot_login": settings.twin.streamer})}
    )
    sink = FullChat()
    sink.open.set()
    daemon = Daemon(settings, source=Feed(), sink=sink, clock=RealClock())
    source = daemon.source
    assert isinstance(source, Feed)
    task = await _running(daemon)
    try:
        host = (Role.BROADCASTER,)
        await source.queue.put(chat("!twin pause", 1, login=settings.twin.streamer, roles=host))
        await _until(lambda: daemon.state.paused)
    finally:
        await _input_ends(source, task)


async def test_the_twins_own_line_is_never_obeyed_as_a_command(tmp_path: Path) -> None:
    # under a prefix the guard does not strip, a line the twin was led to say reads as a
    # command, and Twitch echoes it with the bot's (moderator) badges
    settings = _settings(tmp_path / "data")
    settings = settings.model_copy(
        update={
            "twin": settings.twin.model_copy(update={"bot_login": "twinbot"}),
            "control": settings.control.model_copy(update={"prefix": "?twin"}),
        }
    )
    sink = FullChat()
    sink.open.set()
    daemon = Daemon(settings, source=Feed(), sink=sink, clock=RealClock())
    source = daemon.source
    assert isinstance(source, Feed)
    mod = (Role.MODERATOR,)
    task = await _running(daemon)
    try:
        await source.queue.put(chat("?twin ignore mossbyte", 1, login="twinbot", roles=mod))
        await source.queue.put(chat("?twin pause", 2, login="oakmod", roles=mod))
        await _until(lambda: daemon.state.paused)
    finally:
        await _input_ends(source, task)
    assert daemon.state.ignored == set()
    assert daemon.session.controller.accepted == 1
    assert daemon.session.conductor is not None
    assert [m.login for m in daemon.session.conductor.window] == ["twinbot"]  # it only joins chat


async def test_says_waiting_to_go_out_are_bounded(tmp_path: Path) -> None:
    # an automation (or a streamer) firing `say` in a loop while chat is at its limit must
    # not queue the twin's voice and chat for the rest of the stream
    sink = FullChat()
    daemon = Daemon(_settings(tmp_path / "data"), source=Feed(), sink=sink, clock=RealClock())
    source = daemon.source
    assert isinstance(source, Feed)
    host = (Role.BROADCASTER,)  # no cooldown
    task = await _running(daemon)
    try:
        for n in range(1, 6):
            await source.queue.put(chat(f"!twin say line {n}", n, login="mossbyte", roles=host))
        await _until(
            lambda: daemon.session.controller.accepted + daemon.session.controller.refused == 5
        )
        assert (daemon.session.controller.accepted, daemon.session.controller.refused) == (3, 2)
        sink.open.set()
    finally:
        await _input_ends(source, task)
    said = [text for text in sink.sent if text.startswith("line")]
    assert said == ["line 1", "line 2", "line 3"]
    assert sum("still waiting" in text for text in sink.sent) == 2


async def test_a_command_over_mqtt_gets_its_reply_on_the_bus(tmp_path: Path) -> None:
    # automation has no chat to read `status` in: the reply comes on the command topic
    daemon = Daemon(_settings(tmp_path / "data"), source=Feed(), sink=FullChat(), clock=RealClock())
    source = daemon.source
    assert isinstance(source, Feed)
    seen: list[dict[str, object]] = []
    daemon.bus.subscribe(
        lambda topic, payload: seen.append(payload) if topic == "command" else None
    )
    task = await _running(daemon)
    try:
        daemon.session.mqtt_command("!twin status", "streamdeck")
        await _until(lambda: bool(seen))
    finally:
        await _input_ends(source, task)
    [event] = seen
    assert event["source"] == "mqtt" and event["accepted"] is True
    assert str(event["reply"]).startswith("live, voice on, chat on")


def test_the_web_app_answers_loopback_names_and_those_the_settings_add() -> None:
    assert allowed_hosts(WebSettings()) == ["127.0.0.1", "localhost", "[::1]"]
    proxied = WebSettings(allowed_hosts=["cohost.example.net"])
    assert allowed_hosts(proxied) == ["127.0.0.1", "localhost", "[::1]", "cohost.example.net"]
    assert allowed_hosts(WebSettings(host="::1")) == ["127.0.0.1", "localhost", "[::1]"]
    assert allowed_hosts(WebSettings(allowed_hosts=["*"])) is None  # checks no name
    assert allowed_hosts(WebSettings(host="0.0.0.0")) is None  # behind the streamer's proxy


class _HeldClock(RealClock):
    """Real time, except that sleeping waits for the test."""

    def __init__(self) -> None:
        self.woken = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await self.woken.wait()
        self.woken.clear()


async def test_the_state_heartbeat_starts_a_minute_in(tmp_path: Path) -> None:
    # a daemon dying at start all night must not keep the moderators' switches fresh
    clock = _HeldClock()
    daemon = Daemon(_settings(tmp_path / "data"), source=Feed(), sink=FullChat(), clock=clock)
    state_file = tmp_path / "data" / "state.json"
    beating = asyncio.create_task(daemon._keep_state())
    try:
        await asyncio.sleep(0.05)
        assert not state_file.exists()  # nothing yet: not up a minute
        clock.woken.set()
        await _until(state_file.exists)
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
