"""The MQTT bus against a real Mosquitto on loopback: order, JSON, drops, reconnects.

Control commands and who may send them: tests/adapters/test_mqtt_control.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from cohost.adapters.mqtt import MqttBus, control_text, parse_control, topic_policy


class Broker:
    """A Mosquitto process on a fixed loopback port that can be stopped and started again.

    Anonymous by default; given `users` (name: password) it takes only those, through a password
    file made by mosquitto_passwd, and given `acl` (a Mosquitto acl_file's text) only what that
    allows.
    """

    def __init__(
        self,
        binary: str,
        folder: Path,
        *,
        users: dict[str, str] | None = None,
        acl: str | None = None,
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._conf = folder / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "persistence false"]
        if os.geteuid() == 0:
            # as root it would switch to the `mosquitto` user, who cannot read tmp_path's files
            lines.append("user root")
        if users:
            passwords = folder / "mosquitto.passwd"
            tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
            for i, (name, password) in enumerate(users.items()):
                create = ["-c"] if i == 0 else []
                subprocess.run([tool, "-b", *create, str(passwords), name, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            (folder / "mosquitto.acl").write_text(acl)
            lines.append(f"acl_file {folder / 'mosquitto.acl'}")
        self._conf.write_text("\n".join(lines) + "\n")
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self._conf.with_suffix(".log")
        with log.open("ab") as out:
            self._proc = subprocess.Popen(
                [self._binary, "-c", str(self._conf)], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._proc.poll() is None:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not open its port: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


def mosquitto() -> str:
    """The mosquitto binary; missing, a skip, but a failure on CI."""
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mosquitto is missing on CI (scripts/setup --dev installs it)")
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    return binary


@contextlib.contextmanager
def running(server: Broker) -> Iterator[Broker]:
    """The broker started, and stopped afterwards."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running(Broker(mosquitto(), tmp_path)) as server:
        yield server


async def _collect(
    port: int, count: int, into: list[tuple[str, object]], ready: asyncio.Event
) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="watcher") as client:
        await client.subscribe("cohost/#", qos=1)
        ready.set()
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            into.append((str(message.topic), json.loads(message.payload)))
            if len(into) >= count or str(message.topic) == "cohost/turn/reply/last":
                return


def _bus(port: int, **kwargs: object) -> MqttBus:
    return MqttBus(
        host="127.0.0.1",
        port=port,
        backoff_base_s=0.05,
        backoff_max_s=0.3,
        timeout_s=2,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_events_arrive_in_order_as_json(broker: Broker) -> None:
    got: list[tuple[str, object]] = []
    ready = asyncio.Event()
    async with asyncio.TaskGroup() as group, _bus(broker.port) as bus:
        watcher = group.create_task(_collect(broker.port, 30, got, ready))
        await asyncio.wait_for(ready.wait(), 5)
        await asyncio.wait_for(bus.connected.wait(), 5)
        for i in range(30):
            bus.publish("caption" if i % 2 else "turn/reply", {"n": i, "text": f"héllo {i}"})
        await asyncio.wait_for(watcher, 10)
    assert [payload for _, payload in got] == [{"n": i, "text": f"héllo {i}"} for i in range(30)]
    assert [topic for topic, _ in got][:2] == ["cohost/turn/reply", "cohost/caption"]
    assert bus.dropped == 0 and bus.sent == 30


async def test_broker_gone_drops_without_blocking_then_reconnects(broker: Broker) -> None:
    async with _bus(broker.port, buffer=8) as bus:
        await asyncio.wait_for(bus.connected.wait(), 5)
        broker.stop()
        await asyncio.wait_for(bus.disconnected.wait(), 10)
        began = time.perf_counter()
        for i in range(50):
            bus.publish("caption", {"n": i})
        print(f"50 publishes with the broker down: {1e6 * (time.perf_counter() - began):.0f} us")
        assert bus.dropped == 42  # the newest 8 wait for the broker

        broker.start()
        await asyncio.wait_for(bus.connected.wait(), 10)
        assert bus.connects == 2
        got: list[tuple[str, object]] = []
        ready = asyncio.Event()
        watcher = asyncio.create_task(_collect(broker.port, 100, got, ready))
        await asyncio.wait_for(ready.wait(), 5)
        bus.publish("turn/reply/last", {"after": "reconnect"})
        await asyncio.wait_for(watcher, 10)
    # buffered captions may still be on their way when the watcher subscribes: they come first
    assert got[-1] == ("cohost/turn/reply/last", {"after": "reconnect"})
    earlier = [payload for _, payload in got[:-1]]
    assert earlier == [{"n": n} for n in range(50 - len(earlier), 50)]
    assert bus.sent == 9  # the newest 8 waited out the outage, then the new one


def test_a_full_buffer_drops_chat_before_turns() -> None:
    # never connected: every event waits in the buffer, as during an outage
    bus = _bus(1, buffer=8)
    for i in range(50):
        bus.publish("turn/end" if i % 10 == 0 else "chat", {"n": i})
    bus.publish("state", {"paused": False})
    waiting = [(topic, json.loads(data)) for topic, data in bus._buffer]
    # the five turn events and the state survive the flood; chat fills what is left, newest
    assert [e for e in waiting if e[0] != "chat"] == [
        ("turn/end", {"n": n}) for n in (0, 10, 20, 30, 40)
    ] + [("state", {"paused": False})]
    assert [e[1] for e in waiting if e[0] == "chat"] == [{"n": 48}, {"n": 49}]
    assert bus.dropped == 51 - 8

    # a buffer of nothing but QoS 1 events drops the oldest of those
    for i in range(10):
        bus.publish("turn/reply", {"r": i})
    kept = [json.loads(data) for _, data in bus._buffer]
    assert kept == [{"r": i} for i in range(2, 10)]


def test_policy_and_control_parsing() -> None:
    assert topic_policy("state/voice") == (1, True)
    assert topic_policy("turn/reply") == (1, False)
    assert topic_policy("caption") == (0, False)
    assert parse_control(b"!twin pause") is None
    assert parse_control(b'{"command": "pause"}') is None  # no sender: refused
    message = parse_control(b'{"command": "!twin rate", "args": "3", "client": "a"}')
    assert message is not None and control_text(message) == "!twin rate 3"
    # the daemon's own command prefix
    message = parse_control(b'{"command": "rate", "args": "3", "client": "a"}')
    assert message is not None and control_text(message, "!moss") == "!moss rate 3"
