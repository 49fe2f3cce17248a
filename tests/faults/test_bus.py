"""The MQTT broker down at start, then killed and restarted mid-run, under the whole daemon.

The bus adapter alone is tested in tests/adapters/test_mqtt.py; here the daemon runs with
COHOST_BUS__MQTT_HOST set against a real Mosquitto and a (fake) Twitch, and must keep answering.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt
import pytest

from tests.adapters.test_mqtt import Broker, broker  # noqa: F401 (a fixture)
from tests.app.test_live import WAIT_S, Live, _start, _stop
from tests.support.fake_twitch import FakeTwitch

# The bus's reconnect backoff doubles up to 30 s while the broker is down: wait past that.
RECONNECT_WAIT_S = 75.0
BUFFER = 256  # MqttBus's default: the newest events it keeps while the broker is gone


pytestmark = pytest.mark.usefixtures("twitchio_urls_restored")


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with FakeTwitch() as fake:
        yield Live(fake, tmp_path / "data")


class Watcher:
    """An MQTT client that collects every cohost event (it reconnects with the broker)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.events: list[tuple[str, dict[str, object]]] = []
        self.connects = 0
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier="watcher") as client:
                    await client.subscribe("cohost/#", qos=1)
                    self.connects += 1
                    self._changed.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        self.events.append((str(message.topic), json.loads(message.payload)))
                        self._changed.set()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)

    async def until(self, predicate: Callable[[], bool], wait_s: float = WAIT_S) -> None:
        async with asyncio.timeout(wait_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_turn_on(self, text: str) -> None:
        """Until the pick of this message and the end of a turn have both arrived."""
        await self.until(
            lambda: any(
                topic == "cohost/pick" and payload.get("text") == text
                for topic, payload in self.events
            ),
            RECONNECT_WAIT_S,
        )
        await self.until(lambda: any(topic == "cohost/turn/end" for topic, _ in self.events))

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url.replace("/healthz", "/metrics"), timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


async def _health_url(caplog: pytest.LogCaptureFixture) -> str:
    """Where the daemon's health endpoint is, once it has said so."""
    async with asyncio.timeout(WAIT_S):
        while True:
            for record in caplog.records:
                if "health endpoint on" in record.getMessage():
                    return record.getMessage().rsplit(" ", 1)[1]
            await asyncio.sleep(0.05)


async def _ask(live: Live, text: str) -> None:
    """Ask the twin, until its reply threaded under the question is posted.

    Not a count of posts: the filler below may be picked and answered too.
    """
    # a fixed id per question: the embedded twin's draw is seeded by it, so whether its line
    # happens to repeat a recent reply (a silent turn) does not change from run to run
    fixed = "question-" + hashlib.sha256(text.encode()).hexdigest()[:16]
    asked = await live.fake.push_chat(chatter=live.viewer, text=text, message_id=fixed)
    try:
        async with asyncio.timeout(WAIT_S):
            await live.fake.wait_for_reply_to(asked)
    except TimeoutError:
        traces = [
            json.loads(line)
            for path in (live.data_dir / "traces").glob("*.jsonl")
            for line in path.read_text().splitlines()
        ]
        seen = [(t["decision"]["message"]["text"], t["outcome"], t["reason"]) for t in traces]
        raise AssertionError(
            f"no reply to {text!r}; turns: {seen}; sent: {live.replies()}"
        ) from None


async def test_broker_down_at_start_then_killed_and_restarted(
    live: Live,
    broker: Broker,  # noqa: F811 (the fixture)
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cohost")
    broker.stop()  # down before the daemon starts
    bus = {"mqtt_host": "127.0.0.1", "mqtt_port": broker.port}
    task = await _start(live, bus=bus, web={"enabled": True, "port": 0})
    watcher: Watcher | None = None
    try:
        health = await _health_url(caplog)
        # the daemon answers with no broker at all, and more events than the buffer holds
        await _ask(live, "twinbot is the bread rising?")
        for i in range(BUFFER + 20):
            await live.fake.push_chat(chatter=live.mod, text=f"just chatting {i}")
        async with asyncio.timeout(WAIT_S):
            while await asyncio.to_thread(_metric, health, "cohost_bus_dropped_total") <= 0:  # noqa: ASYNC110 (an HTTP endpoint, not an event)
                await asyncio.sleep(0.1)
        assert not task.done()

        # the broker comes up: events resume
        broker.start()
        watcher = Watcher(broker.port)
        await watcher.until(lambda: watcher.connects == 1)
        await _ask(live, "twinbot what are you baking next?")
        await watcher.wait_for_turn_on("twinbot what are you baking next?")

        # killed mid-run: chat is still answered; restarted: events resume again
        broker.stop()
        await _ask(live, "twinbot does rye make it sour?")
        assert not task.done()
        broker.start()
        watcher.events.clear()
        await watcher.until(lambda: watcher.connects == 2)
        await _ask(live, "twinbot how long does it proof?")
        await watcher.wait_for_turn_on("twinbot how long does it proof?")
        assert not task.done()
        dropped = await asyncio.to_thread(_metric, health, "cohost_bus_dropped_total")
        assert dropped >= 20  # the counter kept what the outage cost
    finally:
        if watcher is not None:
            await watcher.close()
        await _stop(task)
