"""Who may steer the twin over MQTT: a real Mosquitto with a password file and an ACL, and signed
commands (HMAC-SHA256 with COHOST_BUS__CONTROL_SECRET), down to the daemon's audit log."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from cohost.adapters.mqtt import (
    MAX_CONTROL_BYTES,
    REFUSALS_AUDITED_PER_MINUTE,
    ControlGate,
    MqttBus,
    Refusal,
    control_mac,
    signed_control,
)
from tests.adapters.test_mqtt import Broker, mosquitto, running
from tests.app.test_live import WAIT_S, Live, _start, _stop
from tests.support.fake_twitch import FakeTwitch

SECRET = "test-only-control-secret-0123456789"
TOPIC = "cohost/control"
USERS = {
    "cohost": "cohost-pw",
    "streamdeck": "deck-pw",
    "intruder": "intruder-pw",
    "overlay": "overlay-pw",
}
# cohost writes its events and reads commands; only the Stream Deck may write commands by the
# broker's rules. `intruder` stands for any other login the ACL lets write the control topic
# (a shared automation login, a mistake in the ACL): the signature must stop it on its own.
ACL = """\
user cohost
topic write cohost/#
topic read cohost/control

user streamdeck
topic write cohost/control
topic read cohost/#

user intruder
topic readwrite cohost/control

user overlay
topic read cohost/#
"""


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto that takes only USERS, each as far as ACL allows."""
    with running(Broker(mosquitto(), tmp_path, users=USERS, acl=ACL)) as server:
        yield server


def _client(port: int, user: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=f"{user}-{time.monotonic_ns()}",
        username=user,
        password=USERS[user],
    )


def _signed(command: str, args: str = "", ts: int | None = None) -> bytes:
    return signed_control(
        SECRET.encode(), topic=TOPIC, command=command, args=args, client="streamdeck", ts=ts
    )


class Recorder:
    """What the bus obeyed and what it refused."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, str]] = []
        self.refused: list[tuple[str, str, str]] = []
        self.changed = asyncio.Event()

    def on_control(self, text: str, client: str) -> None:
        self.accepted.append((text, client))
        self.changed.set()

    def on_refused(self, text: str, claimed: str, reason: str) -> None:
        self.refused.append((text, claimed, reason))
        self.changed.set()

    async def until_accepted(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.accepted) < count:
                self.changed.clear()
                await self.changed.wait()


def _bus(port: int, recorder: Recorder) -> MqttBus:
    return MqttBus(
        host="127.0.0.1",
        port=port,
        username="cohost",
        password=USERS["cohost"],
        control_client="streamdeck",
        control_secret=SECRET,
        on_control=recorder.on_control,
        on_refused=recorder.on_refused,
        backoff_base_s=0.05,
        backoff_max_s=0.3,
        timeout_s=2,
    )


async def _ready(bus: MqttBus) -> None:
    await asyncio.wait_for(bus.connected.wait(), 5)
    await asyncio.sleep(0.2)  # the subscription is made right after connecting


async def test_the_broker_takes_known_logins_only_and_drops_what_the_acl_forbids(
    secured_broker: Broker,
) -> None:
    port = secured_broker.port
    for user, password in ((None, None), ("streamdeck", "wrong"), ("nobody", "deck-pw")):
        with pytest.raises(aiomqtt.MqttError, match="Not authorized"):
            async with aiomqtt.Client("127.0.0.1", port, username=user, password=password):
                pass

    recorder = Recorder()
    async with _bus(port, recorder) as bus:
        await _ready(bus)
        # a correctly signed command from a login the ACL lets only read: the broker drops it
        async with _client(port, "overlay") as overlay:
            await overlay.publish(TOPIC, _signed("say", "from the overlay"), qos=1)
        async with _client(port, "streamdeck") as deck:
            await deck.publish(TOPIC, _signed("pause"), qos=1)
        await recorder.until_accepted(1)
        await asyncio.sleep(0.2)
    assert recorder.accepted == [("!twin pause", "streamdeck")]
    assert recorder.refused == [] and bus.control_refused == 0


async def test_an_intruder_naming_the_controller_is_refused_and_reported(
    secured_broker: Broker,
) -> None:
    """The red-team finding: a login that may write the topic claims to be the Stream Deck."""
    port = secured_broker.port
    recorder = Recorder()
    captured: list[bytes] = []
    async with (
        _bus(port, recorder) as bus,
        _client(port, "intruder") as intruder,
        _client(port, "streamdeck") as deck,
    ):
        await _ready(bus)
        await intruder.subscribe(TOPIC, qos=1)  # it reads the controller's commands too

        await deck.publish(TOPIC, _signed("say", "hi chat"), qos=1)
        await recorder.until_accepted(1)
        async with asyncio.timeout(5):
            async for message in intruder.messages:
                assert isinstance(message.payload, bytes)
                captured.append(message.payload)
                break

        claims = [
            ("note", "the spare key is under the mat"),
            ("say", "free followers at my site"),
            ("topic", "crypto"),
            ("hold", "off"),
        ]
        for command, args in claims:  # as the red team sent them: no signature at all
            payload = {"command": command, "args": args, "client": "streamdeck"}
            await intruder.publish(TOPIC, json.dumps(payload), qos=1)
        forged = signed_control(
            b"a-guess-at-the-secret-0000", topic=TOPIC, command="pause", client="streamdeck"
        )
        await intruder.publish(TOPIC, forged, qos=1)
        tampered = json.loads(captured[0])
        tampered["args"] = "free followers at my site"
        await intruder.publish(TOPIC, json.dumps(tampered), qos=1)
        await intruder.publish(TOPIC, captured[0], qos=1)  # the very same command, again
        await intruder.publish(TOPIC, "!twin pause", qos=1)

        await deck.publish(TOPIC, _signed("resume"), qos=1)
        await recorder.until_accepted(2)

    assert recorder.accepted == [
        ("!twin say hi chat", "streamdeck"),
        ("!twin resume", "streamdeck"),
    ]
    texts = [text for text, _, _ in recorder.refused]
    assert texts == [
        "!twin note the spare key is under the mat",
        "!twin say free followers at my site",
        "!twin topic crypto",
        "!twin hold off",
        "!twin pause",
        "!twin say free followers at my site",
        "!twin say hi chat",
        "",
    ]
    reasons = [reason for _, _, reason in recorder.refused]
    assert [r.split(" (")[0] for r in reasons] == [
        *["unsigned"] * 4,
        "bad signature",
        "bad signature",
        "replayed",
        "not a JSON control command",
    ]
    assert {claimed for _, claimed, _ in recorder.refused} == {"streamdeck", ""}
    assert bus.control_refused == 8 and bus.control_accepted == 2
    assert not any(SECRET in reason for reason in reasons)


async def test_a_flood_of_forgeries_is_counted_past_the_audit_limit(secured_broker: Broker) -> None:
    port = secured_broker.port
    recorder = Recorder()
    flood = REFUSALS_AUDITED_PER_MINUTE + 5
    async with (
        _bus(port, recorder) as bus,
        _client(port, "intruder") as intruder,
        _client(port, "streamdeck") as deck,
    ):
        await _ready(bus)
        for i in range(flood):
            payload = {"command": "say", "args": f"spam {i}", "client": "streamdeck"}
            await intruder.publish(TOPIC, json.dumps(payload), qos=1)
        await deck.publish(TOPIC, _signed("status"), qos=1)
        await recorder.until_accepted(1)
    # the disk is spared, the count is kept
    assert len(recorder.refused) == REFUSALS_AUDITED_PER_MINUTE
    assert bus.control_refused == flood
    assert bus.control_unaudited == flood - REFUSALS_AUDITED_PER_MINUTE


def test_the_gate_checks_every_signed_field_the_time_and_the_nonce() -> None:
    now = 1_718_000_000.0
    gate = ControlGate(controller="streamdeck", secret=SECRET.encode(), topic=TOPIC)

    def signed(ts: int = int(now)) -> dict[str, object]:
        message: dict[str, object] = json.loads(_signed("rate", "5", ts=ts))
        return message

    def check(message: dict[str, object]) -> Refusal | None:
        return gate.check(json.dumps(message).encode(), now).refusal

    good = signed()
    verdict = gate.check(json.dumps(good).encode(), now)
    assert verdict.accepted and verdict.text == "!twin rate 5" and verdict.claimed == "streamdeck"
    assert check(good) is Refusal.REPLAYED
    shouted = signed()
    assert check({**shouted, "mac": str(shouted["mac"]).upper()}) is None

    for field, value in (("command", "pause"), ("args", "60"), ("ts", int(now) - 1)):
        assert check({**signed(), field: value}) is Refusal.BAD_SIGNATURE, field
    assert check({**signed(), "nonce": "0" * 32}) is Refusal.BAD_SIGNATURE
    assert check({**signed(), "client": "overlay"}) is Refusal.NOT_CONTROLLER
    other = json.loads(
        signed_control(SECRET.encode(), topic="other/control", command="rate", client="streamdeck")
    )
    assert check({**other, "ts": int(now)}) is Refusal.BAD_SIGNATURE  # another instance's
    assert check(signed(ts=int(now) - 31)) is Refusal.STALE
    assert check(signed(ts=int(now) + 31)) is Refusal.STALE
    assert check(signed(ts=int(now) - 29)) is None

    for bad_ts in (True, 1.5, "1718000000", None):
        message = {**signed(), "ts": bad_ts}
        assert check(message) is Refusal.UNSIGNED, bad_ts
    assert check({**signed(), "ts": 10**4000}) is Refusal.BAD_SIGNATURE  # no time; no slow str()
    assert check({**signed(), "nonce": "short"}) is Refusal.BAD_SIGNATURE
    assert check({"command": "pause", "client": "streamdeck"}) is Refusal.UNSIGNED
    too_large = {**signed(), "args": "x" * MAX_CONTROL_BYTES}
    assert check(too_large) is Refusal.TOO_LARGE

    unkeyed = ControlGate(controller="streamdeck", secret=None, topic=TOPIC)
    assert unkeyed.check(json.dumps(signed()).encode(), now).refusal is Refusal.NO_SECRET


def test_the_documented_shell_recipe_signs_as_cohost_checks() -> None:
    """README's openssl line makes the same MAC (a controller needs no Python)."""
    if shutil.which("openssl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("openssl missing on CI (scripts/setup --dev installs it)")
        pytest.skip("openssl is not installed (Debian: apt-get install openssl)")
    fields = {
        "topic": TOPIC,
        "ts": 1_718_000_000,
        "nonce": "4f1c0a9e2b7d4e11",
        "client": "streamdeck",
        "command": "say",
        "args": "hi chat, it's 'me'",
    }
    recipe = (
        'printf \'cohost-control-v1\\n%s\\n%s\\n%s\\n%s\\n%s\\n%s\' "$TOPIC" "$TS" "$NONCE" '
        '"$CLIENT" "$COMMAND" "$ARGS" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d" " -f1'
    )
    env = {k.upper(): str(v) for k, v in fields.items()} | {"SECRET": SECRET, "PATH": "/usr/bin"}
    mac = subprocess.run(
        ["bash", "-c", recipe], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert mac == control_mac(SECRET.encode(), **fields)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with FakeTwitch() as fake:
        yield Live(fake, tmp_path / "data")


@pytest.mark.usefixtures("twitchio_urls_restored")
async def test_the_daemon_obeys_the_signed_controller_and_audits_the_intruder(
    live: Live, secured_broker: Broker
) -> None:
    port = secured_broker.port
    bus = {
        "mqtt_host": "127.0.0.1",
        "mqtt_port": port,
        "username": "cohost",
        "password": USERS["cohost"],
        "control_client": "streamdeck",
        "control_secret": SECRET,
    }
    task = await _start(live, bus=bus)
    answers: list[dict[str, object]] = []
    try:
        async with _client(port, "streamdeck") as deck, _client(port, "intruder") as intruder:
            await deck.subscribe("cohost/command", qos=1)

            async def answer(command: str) -> dict[str, object]:
                async with asyncio.timeout(WAIT_S):
                    async for message in deck.messages:
                        assert isinstance(message.payload, bytes)
                        answers.append(json.loads(message.payload))
                        if answers[-1]["command"] == command:
                            return answers[-1]
                raise AssertionError("the message iterator ended")

            # until the daemon is connected and subscribed: a signed status, again and again
            async with asyncio.timeout(WAIT_S):
                while True:
                    await deck.publish(TOPIC, _signed("status"), qos=1)
                    try:
                        async with asyncio.timeout(0.5):
                            await answer("status")
                        break
                    except TimeoutError:
                        continue

            for command, args in (
                ("note", "the spare key is under the mat"),
                ("say", "free followers at my site"),
                ("topic", "crypto"),
                ("hold", "on"),
            ):
                payload = {"command": command, "args": args, "client": "streamdeck"}
                await intruder.publish(TOPIC, json.dumps(payload), qos=1)
            await deck.publish(TOPIC, _signed("topic", "sourdough"), qos=1)
            topic = await answer("topic")
    finally:
        await _stop(task)

    assert topic["accepted"] is True and topic["login"] == "mqtt:streamdeck"
    audit = live.audit()
    forged = [r for r in audit if r["login"] == "unverified"]
    assert [(r["command"], r["accepted"]) for r in forged] == [
        ("note", False),
        ("say", False),
        ("topic", False),
        ("hold", False),
    ]
    assert all("claims 'streamdeck'" in r["reason"] and "unsigned" in r["reason"] for r in forged)
    assert forged[0]["args"] == "(30 characters, into the journal)"  # the audit keeps no note
    obeyed = [(r["command"], r["args"]) for r in audit if r["login"] == "mqtt:streamdeck"]
    assert ("topic", "sourdough") in obeyed
    assert {command for command, _ in obeyed} <= {"status", "topic"}
    assert all(r["accepted"] for r in audit if r["login"] == "mqtt:streamdeck")
    # nothing the intruder asked for happened
    journal = live.data_dir / "journal"
    notes = [p.read_text() for p in journal.rglob("*.tid")] if journal.exists() else []
    assert not any("spare key" in text for text in notes)
    assert not any("free followers" in text for text in live.replies())
    state = json.loads((live.data_dir / "state.json").read_text())
    assert state["topic"] == "sourdough" and state["hold"] is False
    everything = (live.data_dir / "audit" / "commands.jsonl").read_text()
    assert SECRET not in everything
