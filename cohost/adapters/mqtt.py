"""The MQTT event bus: every event as JSON under PREFIX/, control commands from PREFIX/control.

Delivery per topic (the first segment of the topic decides):

| topic        | QoS | retain | why                                                      |
|--------------|-----|--------|----------------------------------------------------------|
| state/...    | 1   | yes    | a dashboard or OBS overlay that connects late sees it    |
| turn/...     | 1   | no     | replies and turn outcomes: automation acts on them       |
| caption...   | 0   | no     | stale a second later: resending one is worse than losing |
| anything else| 0   | no     | traces and metrics; the trace log is the record          |

Backpressure: publish() never blocks or raises. Events wait in a buffer of N; when it is full
(broker gone, or a raid's chat faster than the broker) the oldest QoS 0 event (chat, picks,
captions) is dropped and counted, so turn and state events survive a flood; only a buffer full
of QoS 1 events drops the oldest of those.

Control: MQTT 3.1.1 carries no sender identity in a message, so a command names its sender —
JSON `{"command": "pause", "args": "", "client": "<id>"}` — and only `control_client` is obeyed.
That name is a claim, not proof: in production the broker must let only that client's
credentials write PREFIX/control (Mosquitto: `acl_file` with `user <name>` /
`topic write cohost/control`, `allow_anonymous false`). Plain-text commands (`!twin pause`)
carry no claim and are refused, and so is everything when `control_client` is empty.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from collections.abc import Callable
from types import TracebackType

import aiomqtt
from pydantic import BaseModel, ConfigDict, ValidationError

from cohost.core.ports import Handler

log = logging.getLogger(__name__)

ControlHandler = Callable[[str, str], None]

_POLICY: dict[str, tuple[int, bool]] = {"state": (1, True), "turn": (1, False)}
_DEFAULT_POLICY = (0, False)


def topic_policy(topic: str) -> tuple[int, bool]:
    """The QoS and retain flag of a topic (see the table above)."""
    return _POLICY.get(topic.split("/", 1)[0], _DEFAULT_POLICY)


class ControlMessage(BaseModel):
    """A command on the control topic, as JSON."""

    model_config = ConfigDict(extra="ignore")

    command: str
    args: str = ""
    client: str


def parse_control(payload: bytes) -> ControlMessage | None:
    """The command in a control payload, or None when it is not a JSON command with a sender."""
    try:
        return ControlMessage.model_validate_json(payload)
    except ValidationError:
        return None


def control_text(message: ControlMessage) -> str:
    """The chat form of a control command: `!twin pause`, `!twin say hello`."""
    command = message.command.strip().removeprefix("!twin").strip()
    return " ".join(part for part in ("!twin", command, message.args.strip()) if part)


class MqttBus:
    """A Bus over MQTT: an async context manager whose background task publishes and listens."""

    def __init__(
        self,
        *,
        host: str,
        port: int = 1883,
        prefix: str = "cohost",
        client_id: str = "cohost",
        username: str | None = None,
        password: str | None = None,
        control_client: str = "",
        on_control: ControlHandler | None = None,
        buffer: int = 256,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        timeout_s: float = 5.0,
    ) -> None:
        self._host = host
        self._port = port
        self._prefix = prefix.strip("/")
        self._client_id = client_id
        self._username = username or None
        self._password = password or None
        self._control_client = control_client
        self._on_control = on_control
        # at most N events (see the module docstring); a turn never waits on the broker
        self._buffer: deque[tuple[str, bytes]] = deque()
        self._limit = buffer
        self._wake = asyncio.Event()
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._timeout_s = timeout_s
        self._handlers: list[Handler] = []
        self._group: asyncio.TaskGroup | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.disconnected.set()
        self.published = 0  # events accepted by publish()
        self.sent = 0  # events handed to the broker
        self.dropped = 0  # events lost: buffer full, or unencodable
        self.connects = 0
        self.control_accepted = 0
        self.control_refused = 0

    async def __aenter__(self) -> MqttBus:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        self._task = self._group.create_task(self._run(), name="bus")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._group is not None and self._task is not None
        self._task.cancel()
        await self._group.__aexit__(exc_type, exc, tb)

    def subscribe(self, handler: Handler) -> None:
        """Also hand every event to an in-process handler (trace log, dashboard)."""
        self._handlers.append(handler)

    def publish(self, topic: str, payload: dict[str, object]) -> None:
        """Queue one event; never blocks, never raises."""
        self.published += 1
        for handler in self._handlers:
            try:
                handler(topic, payload)
            except Exception:
                log.exception("bus handler failed on %s", topic)
        try:
            data = json.dumps(payload, ensure_ascii=False, default=str).encode()
        except (TypeError, ValueError):
            self.dropped += 1
            log.warning("bus event on %s is not JSON; dropped", topic)
            return
        self._make_room()
        self._buffer.append((topic, data))
        self._wake.set()

    def _make_room(self) -> None:
        """With the buffer full, drop one event: the oldest that is QoS 0, else the oldest."""
        if len(self._buffer) < self._limit:
            return
        self.dropped += 1
        for i, (queued, _) in enumerate(self._buffer):
            if topic_policy(queued)[0] == 0:
                del self._buffer[i]
                return
        self._buffer.popleft()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_max_s, self._backoff_base_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                async with aiomqtt.Client(
                    self._host,
                    self._port,
                    identifier=self._client_id,
                    username=self._username,
                    password=self._password,
                    timeout=self._timeout_s,
                ) as client:
                    attempt = 0
                    self.connects += 1
                    self.connected.set()
                    self.disconnected.clear()
                    log.info("bus connected to %s:%s", self._host, self._port)
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._send(client), name="bus-send")
                        # also notices a lost broker while there is nothing to send
                        group.create_task(self._listen(client), name="bus-control")
            except* (aiomqtt.MqttError, OSError) as errors:
                log.warning("bus: broker unavailable (%s)", errors.exceptions[0])
            self.connected.clear()
            self.disconnected.set()
            delay = self._backoff(attempt)
            attempt += 1
            await asyncio.sleep(delay)

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            while not self._buffer:
                self._wake.clear()
                await self._wake.wait()
            topic, data = self._buffer.popleft()
            qos, retain = topic_policy(topic)
            try:
                await client.publish(
                    f"{self._prefix}/{topic}",
                    data,
                    qos=qos,
                    retain=retain,
                    timeout=self._timeout_s,
                )
            except aiomqtt.MqttError:
                # sent again after the reconnect, unless it is the least worth keeping
                if len(self._buffer) < self._limit or qos > 0:
                    self._make_room()
                    self._buffer.appendleft((topic, data))
                else:
                    self.dropped += 1
                raise
            self.sent += 1

    async def _listen(self, client: aiomqtt.Client) -> None:
        control = f"{self._prefix}/control"
        if self._on_control is not None:
            await client.subscribe(control, qos=1, timeout=self._timeout_s)
        async for message in client.messages:
            if not message.topic.matches(control):
                continue
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload).encode()
            self._control(data)

    def _control(self, payload: bytes) -> None:
        command = parse_control(payload)
        if command is None or not self._control_client or command.client != self._control_client:
            self.control_refused += 1
            sender = "no sender" if command is None else f"client {command.client!r}"
            log.warning("bus: refused a control message from %s", sender)
            return
        self.control_accepted += 1
        assert self._on_control is not None
        try:
            self._on_control(control_text(command), command.client)
        except Exception:
            log.exception("bus: the control handler failed")
