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

Control: PREFIX/control takes JSON commands from one controller (a Stream Deck, Node-RED, a
script), named by `control_client`, and only when each is signed:

    {"command": "say", "args": "hi chat", "client": "streamdeck",
     "ts": 1718000000, "nonce": "4f1c0a9e2b7d4e11", "mac": "<64 hex digits>"}

`mac` is HMAC-SHA256, keyed with the shared `control_secret`, over these lines joined by "\n":
`cohost-control-v1`, the control topic, `ts` (whole Unix seconds), `nonce` (16 to 64 of
A-Z a-z 0-9 _ -), `client`, `command`, `args` (see `signing_input`, and `signed_control` to
make one). A command is obeyed only when its signature is right, its `ts` is within
`window_s` of this machine's clock, and its nonce was not seen within that window.

Why a signature and not the broker's word: MQTT hands a subscriber no verified publisher
identity (3.1.1 has none; a v5 user property is whatever the publisher wrote), so the name in a
message is only a claim: a client connected as `intruder` could write `"client": "streamdeck"`.
Only the secret's holder can sign, whatever the broker's configuration; the topic in the
signature keeps one instance's commands from another's, the window and the nonces keep a
captured command from being played again (nonces are remembered in memory: a restart forgets
them, so the window stays short). The `client` in the payload is then the name the secret
belongs to: anything else is refused.

Defence in depth, at the broker (docs/mqtt.md): `allow_anonymous false`, a password file,
and an ACL in which only the controller's broker user may write PREFIX/control; cohost logs in
with its own user and password. The broker then drops a stranger's command before cohost sees
it; a command that does reach cohost unsigned, badly signed, stale or replayed is refused, and
each refusal is handed to `on_refused` (the daemon puts it in the audit log beside accepted
commands) with what the message claimed and why, at most REFUSALS_AUDITED_PER_MINUTE a minute
(the rest are counted: a flood of forgeries must not fill the disk). Plain-text commands
(`!twin pause`) carry no signature and are refused; with no `control_client` the topic is not
even subscribed to, and with no secret every command is refused.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import json
import logging
import random
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiomqtt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cohost.core.ports import Handler

log = logging.getLogger(__name__)

ControlHandler = Callable[[str, str], None]  # (the command as a chat line, the client)
RefusalHandler = Callable[[str, str, str], None]  # (the command or "", the claimed client, why)

_POLICY: dict[str, tuple[int, bool]] = {"state": (1, True), "turn": (1, False)}
_DEFAULT_POLICY = (0, False)

SIGNATURE_VERSION = "cohost-control-v1"
MAX_CONTROL_BYTES = 16_384  # a long `note` fits; a larger payload is refused unread
REFUSALS_AUDITED_PER_MINUTE = 30
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_MAC = re.compile(r"[0-9a-fA-F]{64}")
_LATEST_TS = 1 << 40  # whole seconds; a bigger number is no time (and str() of it is slow)
_SHOWN_CLAIM = 64  # characters of a claimed client name that reach a log or the audit


def topic_policy(topic: str) -> tuple[int, bool]:
    """The QoS and retain flag of a topic (see the table above)."""
    return _POLICY.get(topic.split("/", 1)[0], _DEFAULT_POLICY)


class ControlMessage(BaseModel):
    """A command on the control topic, as JSON (the signature fields are checked by the gate)."""

    model_config = ConfigDict(extra="ignore")

    # no line breaks where the signed lines are joined; `args` is the last line
    command: str = Field(pattern=r"^[^\n]*$", max_length=64)
    args: str = ""
    client: str = Field(pattern=r"^[^\n]*$", max_length=256)
    # loose on purpose: a malformed signature is refused as such, naming who it claimed to be
    ts: Any = None
    nonce: Any = None
    mac: Any = None


def parse_control(payload: bytes) -> ControlMessage | None:
    """The command in a control payload, or None when it is not a JSON command with a sender."""
    try:
        return ControlMessage.model_validate_json(payload)
    except ValidationError:
        return None


def control_text(message: ControlMessage, prefix: str = "!twin") -> str:
    """The chat form of a control command: `!twin pause`, `!twin say hello`."""
    command = message.command.strip()
    if command[: len(prefix)].lower() == prefix.lower():
        command = command[len(prefix) :].strip()
    return " ".join(part for part in (prefix, command, message.args.strip()) if part)


def signing_input(
    *, topic: str, ts: int, nonce: str, client: str, command: str, args: str
) -> bytes:
    """The bytes a control command's HMAC covers (see the module docstring)."""
    return "\n".join((SIGNATURE_VERSION, topic, str(ts), nonce, client, command, args)).encode()


def control_mac(secret: bytes, **fields: Any) -> str:
    """HMAC-SHA256 of a command's signing input, as 64 lowercase hex digits."""
    return hmac.new(secret, signing_input(**fields), hashlib.sha256).hexdigest()


def signed_control(
    secret: bytes,
    *,
    topic: str,
    command: str,
    client: str,
    args: str = "",
    ts: int | None = None,
    nonce: str | None = None,
) -> bytes:
    """A signed control payload, as a controller publishes it (for scripts and tests)."""
    fields: dict[str, Any] = {
        "topic": topic,
        "ts": int(time.time()) if ts is None else ts,
        "nonce": secrets.token_hex(16) if nonce is None else nonce,
        "client": client,
        "command": command,
        "args": args,
    }
    body = {k: v for k, v in fields.items() if k != "topic"}
    return json.dumps({**body, "mac": control_mac(secret, **fields)}).encode()


class Refusal(enum.Enum):
    """Why a control message was not obeyed."""

    TOO_LARGE = "too large"
    UNREADABLE = "not a JSON control command"
    NO_SECRET = "no control secret is set"
    NOT_CONTROLLER = "not the controller"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad signature"
    STALE = "outside the time window"
    REPLAYED = "replayed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlVerdict:
    """What the gate made of one control message."""

    text: str  # the command as a chat line; "" when the message was unreadable
    claimed: str  # the client the message names; "" when none
    refusal: Refusal | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.refusal is None

    @property
    def reason(self) -> str:
        """Why it was refused, for people (no secret in it)."""
        if self.refusal is None:
            return ""
        return f"{self.refusal.value} ({self.detail})" if self.detail else self.refusal.value


class ControlGate:
    """Sans-I/O: decides whether a control payload is a command from the controller."""

    def __init__(
        self,
        *,
        controller: str,
        secret: bytes | None,
        topic: str,
        window_s: float = 30.0,
        prefix: str = "!twin",
    ) -> None:
        self._controller = controller
        self._secret = secret or None
        self._topic = topic
        self._window_s = window_s
        self._prefix = prefix
        # nonces of accepted commands and their `ts`; one older than the window cannot pass
        # the time check any more, so it is forgotten
        self._seen: dict[str, int] = {}

    def check(self, payload: bytes, now: float) -> ControlVerdict:
        """Accept one payload or say why not; an accepted nonce is remembered."""
        if len(payload) > MAX_CONTROL_BYTES:
            return ControlVerdict(
                text="", claimed="", refusal=Refusal.TOO_LARGE, detail=f"{len(payload)} bytes"
            )
        message = parse_control(payload)
        if message is None:
            return ControlVerdict(text="", claimed="", refusal=Refusal.UNREADABLE)
        text = control_text(message, self._prefix)
        claimed = message.client[:_SHOWN_CLAIM]

        def refuse(refusal: Refusal, detail: str = "") -> ControlVerdict:
            return ControlVerdict(text=text, claimed=claimed, refusal=refusal, detail=detail)

        if self._secret is None:
            return refuse(Refusal.NO_SECRET)
        if message.client != self._controller:
            return refuse(Refusal.NOT_CONTROLLER, f"only {self._controller!r} may command")
        ts, nonce, mac = message.ts, message.nonce, message.mac
        # bool is an int to Python, never a time
        if type(ts) is not int or not isinstance(nonce, str) or not isinstance(mac, str):
            return refuse(Refusal.UNSIGNED, "ts, nonce and mac are required")
        if not (0 <= ts < _LATEST_TS and _NONCE.fullmatch(nonce) and _MAC.fullmatch(mac)):
            return refuse(Refusal.BAD_SIGNATURE, "malformed ts, nonce or mac")
        expected = control_mac(
            self._secret,
            topic=self._topic,
            ts=ts,
            nonce=nonce,
            client=message.client,
            command=message.command,
            args=message.args,
        )
        if not hmac.compare_digest(expected, mac.lower()):
            return refuse(Refusal.BAD_SIGNATURE)
        skew = now - ts
        if abs(skew) > self._window_s:
            return refuse(Refusal.STALE, f"{skew:+.0f} s")
        self._forget_before(now - self._window_s)
        if nonce in self._seen:
            return refuse(Refusal.REPLAYED, f"nonce {nonce}")
        self._seen[nonce] = ts
        return ControlVerdict(text=text, claimed=claimed)

    def _forget_before(self, oldest: float) -> None:
        for nonce in [n for n, ts in self._seen.items() if ts < oldest]:
            del self._seen[nonce]


class BrokerAnswer(enum.Enum):
    """What a broker said to one connection attempt."""

    ACCEPTED = "accepted"
    REFUSED = "refused"  # bad user name or password, or not authorised
    UNREACHABLE = "unreachable"


_AUTH_CODES = frozenset({4, 5, 134, 135})  # 3.1.1's and 5's "bad credentials", "not authorised"


async def probe_broker(
    host: str,
    port: int,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = 3.0,
) -> tuple[BrokerAnswer, str]:
    """Connect once (anonymously when no user name is given) and say how the broker answered."""
    # a name of its own: a second session under the daemon's identifier would push it off
    identifier = f"cohost-probe-{secrets.token_hex(4)}"
    try:
        async with asyncio.timeout(timeout_s + 1):
            async with aiomqtt.Client(
                host,
                port,
                identifier=identifier,
                username=username,
                password=password,
                timeout=timeout_s,
            ):
                return BrokerAnswer.ACCEPTED, ""
    except aiomqtt.MqttCodeError as exc:
        code = getattr(exc.rc, "value", exc.rc)
        if code in _AUTH_CODES:
            return BrokerAnswer.REFUSED, str(exc)
        return BrokerAnswer.UNREACHABLE, str(exc)
    except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
        return BrokerAnswer.UNREACHABLE, str(exc) or type(exc).__name__


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
        control_secret: str | None = None,
        control_window_s: float = 30.0,
        command_prefix: str = "!twin",
        on_control: ControlHandler | None = None,
        on_refused: RefusalHandler | None = None,
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
        self._on_control = on_control
        self._on_refused = on_refused
        self._control_topic = f"{self._prefix}/control"
        # no controller named: control over MQTT is off, the topic is not even subscribed to
        self._gate = (
            ControlGate(
                controller=control_client,
                secret=control_secret.encode() if control_secret else None,
                topic=self._control_topic,
                window_s=control_window_s,
                prefix=command_prefix,
            )
            if control_client and on_control is not None
            else None
        )
        if self._gate is not None and not control_secret:
            log.warning(
                "bus: control is on for %r but no control secret is set: every command on %s "
                "is refused (set COHOST_BUS__CONTROL_SECRET)",
                control_client,
                self._control_topic,
            )
        self._refusal_window = (0.0, 0)  # (when the current minute began, refusals in it)
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
        self.control_unaudited = 0  # refusals past REFUSALS_AUDITED_PER_MINUTE

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
                error = errors.exceptions[0]
                code = getattr(getattr(error, "rc", None), "value", getattr(error, "rc", None))
                if isinstance(error, aiomqtt.MqttCodeError) and code in _AUTH_CODES:
                    # kept trying: the broker's password file may be mended while cohost runs
                    log.error(
                        "bus: the broker refused cohost's login (%s): check "
                        "COHOST_BUS__USERNAME and COHOST_BUS__PASSWORD",
                        error,
                    )
                else:
                    log.warning("bus: broker unavailable (%s)", error)
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
        control = self._control_topic
        if self._gate is not None:
            await client.subscribe(control, qos=1, timeout=self._timeout_s)
        async for message in client.messages:
            if not message.topic.matches(control):
                continue
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload).encode()
            self._control(data)

    def _control(self, payload: bytes) -> None:
        if self._gate is None:
            return
        verdict = self._gate.check(payload, time.time())
        if not verdict.accepted:
            self._refuse(verdict)
            return
        self.control_accepted += 1
        assert self._on_control is not None
        try:
            self._on_control(verdict.text, verdict.claimed)
        except Exception:
            log.exception("bus: the control handler failed")

    def _refuse(self, verdict: ControlVerdict) -> None:
        self.control_refused += 1
        began, count = self._refusal_window
        now = time.monotonic()
        if now - began >= 60.0:
            if self.control_unaudited:
                log.warning(
                    "bus: %d control refusals so far were past the audit's limit of %d a minute",
                    self.control_unaudited,
                    REFUSALS_AUDITED_PER_MINUTE,
                )
            began, count = now, 0
        if count >= REFUSALS_AUDITED_PER_MINUTE:
            self.control_unaudited += 1
            self._refusal_window = (began, count)
            return
        self._refusal_window = (began, count + 1)
        command = verdict.text.split(maxsplit=2)[1:2] or ["-"]
        log.warning(
            "bus: refused control command %r claiming client %r: %s",
            command[0],
            verdict.claimed,
            verdict.reason,
        )
        if self._on_refused is None:
            return
        try:
            self._on_refused(verdict.text, verdict.claimed, verdict.reason)
        except Exception:
            log.exception("bus: the refusal handler failed")
