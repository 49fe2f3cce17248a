"""Soak: a long stream of chat through the whole daemon with model faults; crashes and memory.

    .venv/bin/python -m bench.soak --quick   # 5,000 messages, about a minute
    .venv/bin/python -m bench.soak           # 100,000 messages

The real path, all on loopback: a fake Twitch (tests/support/fake_twitch.py) delivers chat over
its EventSub websocket to the daemon's real twitchio client (`run_daemon`, not a shortcut);
replies go out through `TwitchRules` to the fake's Helix endpoint. Both models are the scripted
OpenAI-compatible server, which fails 10% of requests (a 503, a stall past the adapters' stall
limit, or a connection cut mid-stream, in equal shares). Events go to a real Mosquitto broker
when `mosquitto` is installed, else the in-process bus only (the report says which).
Chat is pushed as fast as the websocket takes it; the daemon's inbound queue keeps the newest
and counts what it drops (source drops = pushed - events seen).

The fake Twitch, the model server and the broker client share the daemon's process and event
loop (the broker is its own process), so RSS covers them too. Crashes: the daemon ending on its
own before it is stopped, plus errors it caught per message. Key figures last, one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from twitchio.eventsub import websockets as eventsub_websockets
from twitchio.http import Route

from bench.flood import OPENERS, SPAM, rss_mb, vocabulary
from cohost.adapters.twitch import SUBSCRIPTIONS
from cohost.adapters.twitch_tokens import StoredToken, TokenStore
from cohost.app.daemon import run_daemon
from cohost.app.demo import demo_files
from cohost.app.settings import load_settings
from tests.support.fake_twitch import BOT_SCOPES, BROADCASTER_SCOPES, FakeTwitch, FakeUser
from tests.support.scripted_server import Script, ScriptedServer

TWIN = "twinbot"
SIM_TEXT = " the bread is rising fine\nviewer: nice\ntwinbot: told you\n"
REPLY = "The bread is rising fine, thanks for asking."
STALL_LIMIT_S = 0.3  # the adapters' stall limit here; a scripted stall lasts longer
ADDRESSED = 0.1  # share of chat that talks to the twin
WAIT_S = 60.0


class FaultyModels:
    """Scripts both model endpoints; `rate` of requests fail, evenly 5xx / stall / disconnect."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.requests = 0
        self.faults: Counter[str] = Counter()

    def __call__(self, body: dict[str, Any]) -> Script:
        self.requests += 1
        chat = "messages" in body
        # a reply that differs each time: Twitch (and the sink) drop one repeated within 30 s
        text = f"{REPLY} That was question {self.requests}." if chat else SIM_TEXT
        if self.rng.random() >= self.rate:
            return Script(text=text, repeat=not chat)
        kind = self.rng.choice(("5xx", "stall", "disconnect"))
        self.faults[kind] += 1
        if kind == "5xx":
            return Script(status=503)
        if kind == "stall":
            return Script(text=text, repeat=not chat, stall_after=2, stall_seconds=1.0)
        return Script(text=text, repeat=not chat, disconnect_after=2)


@dataclass(slots=True, kw_only=True)
class SoakReport:
    """What one soak did."""

    messages: int
    bus: str = ""
    pushed: int = 0
    events: int = 0
    picks: int = 0
    turns: dict[str, int] = field(default_factory=dict)
    model_requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    crashes: int = 0
    errors: int = 0
    sent: int = 0
    sink_drops: int = 0
    bus_drops: int = 0
    rss_mb: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def faults_survived(self) -> int:
        return sum(self.faults.values()) if self.crashes == 0 else 0

    @property
    def rss_growth(self) -> float:
        start, end = self.rss_mb.get("start", 0.0), self.rss_mb.get("end", 0.0)
        return (end - start) / start if start else 0.0


class _HealthUrl(logging.Handler):
    """Catches the daemon's log line that says where its health endpoint is."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.url = ""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "health endpoint on " in message:
            self.url = message.rsplit(" ", 1)[1]


def _mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found is None and Path("/usr/sbin/mosquitto").exists():
        found = "/usr/sbin/mosquitto"
    return found


@contextlib.contextmanager
def _broker(binary: str, folder: Path) -> Iterator[int]:
    """A Mosquitto on a free loopback port, for the length of the block."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not open its port")
            time.sleep(0.02)
        yield port
    finally:
        proc.kill()
        proc.wait()


@contextlib.asynccontextmanager
async def _twitchio_urls() -> AsyncIterator[None]:
    # the adapter points twitchio's module-level URLs at the fake; put them back afterwards
    saved = (Route.BASE, Route.ID_BASE, eventsub_websockets.WSS)
    try:
        yield
    finally:
        Route.BASE, Route.ID_BASE, eventsub_websockets.WSS = saved


def _token(user: FakeUser) -> StoredToken:
    return StoredToken(
        account="bot",
        login=user.login,
        user_id=user.user_id,
        access_token=SecretStr(user.token),
        refresh_token=SecretStr(user.refresh),
        scopes=user.scopes,
        expires_at=0.0,
    )


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def _metric(text: str, name: str) -> int:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


async def soak(
    count: int, *, fault_rate: float = 0.1, seed: int = 1, use_broker: bool = True
) -> SoakReport:
    """Push `count` chat messages through the whole daemon; returns the figures."""
    report = SoakReport(messages=count)
    rng = random.Random(seed)
    words = vocabulary()
    models = FaultyModels(fault_rate, seed)
    catcher = _HealthUrl()
    daemon_log = logging.getLogger("cohost.app.daemon")
    daemon_log.addHandler(catcher)
    old_level = daemon_log.level
    daemon_log.setLevel(logging.INFO)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
            binary = _mosquitto() if use_broker else None
            bus: dict[str, Any] = {}
            if binary is not None:
                bus = {
                    "mqtt_host": "127.0.0.1",
                    "mqtt_port": stack.enter_context(_broker(binary, Path(tmp))),
                }
                report.bus = "mosquitto"
            else:
                report.bus = "in-process (mosquitto is not installed)"
            async with (
                _twitchio_urls(),
                FakeTwitch() as fake,
                ScriptedServer(models) as server,
            ):
                data = Path(tmp) / "data"
                bot = fake.add_user(TWIN, scopes=BOT_SCOPES)
                streamer = fake.add_user("mossbyte", scopes=BROADCASTER_SCOPES)
                viewers = [fake.add_user(f"viewer{i}") for i in range(40)]
                TokenStore.in_data_dir(data).save(_token(bot))
                limits = {"first_token_timeout_s": 2.0, "stall_timeout_s": STALL_LIMIT_S}
                settings = load_settings(
                    data_dir=data,
                    twin={
                        "name": TWIN,
                        "streamer": streamer.login,
                        "bot_login": bot.login,
                        "writings": [str(demo_files() / "writing.md")],
                    },
                    twitch={
                        **fake.settings_overrides(),
                        "channel": streamer.login,
                        "broadcaster_id": streamer.user_id,
                        "bot_login": bot.login,
                        "bot_id": bot.user_id,
                        "watch_interval_s": 0.5,
                        "reconnect_min_s": 0.05,
                        "reconnect_max_s": 0.5,
                    },
                    simulator={"url": server.url, "model": "twin", **limits},
                    rewriter={"url": server.url, "model": "base", **limits},
                    picker={"min_gap_s": 0, "user_cooldown_s": 0, "replies_per_minute": 1000},
                    sink={"max_wait_s": 0.5},
                    web={"enabled": True, "port": 0},
                    journal={"embedding_model": "hashing"},
                    speech={"engine": "captions"},
                    bus=bus,
                )
                task = asyncio.create_task(run_daemon(settings, console=False), name="daemon")
                try:
                    async with asyncio.timeout(WAIT_S):
                        await fake.wait_for_active_subscriptions(len(SUBSCRIPTIONS))
                        while not catcher.url:  # noqa: ASYNC110 (a log line, not an event)
                            await asyncio.sleep(0.05)
                    marks = {max(1, count // 20): "start", count // 2: "middle"}
                    for i in range(count):
                        if task.done():
                            break
                        if i in marks:
                            report.rss_mb[marks[i]] = rss_mb()
                        if rng.random() < ADDRESSED:
                            asked = " ".join(rng.sample(words, 4))
                            text = f"{TWIN} {rng.choice(OPENERS)} {asked}?"
                        elif rng.random() < 0.3:
                            text = rng.choice(SPAM)
                        else:
                            text = f"chatting about {' '.join(rng.sample(words, 3))} {i}"
                        await fake.push_chat(chatter=rng.choice(viewers), text=text)
                        report.pushed += 1
                        if i % 1000 == 0:
                            # the scripted server records every request: the harness's memory,
                            # not the daemon's, so it must not count in the RSS figures
                            del server.requests[:]
                        await asyncio.sleep(0)  # the daemon reads as fast as it can
                    # let the daemon take what is queued and end the turn it runs
                    seen = -1
                    while not task.done():
                        health = json.loads(await asyncio.to_thread(_get, catcher.url))
                        if health["events"] == seen and not health["busy"]:
                            break
                        seen = health["events"]
                        await asyncio.sleep(1.0)
                    report.rss_mb["end"] = rss_mb()
                    if not task.done():
                        health = json.loads(await asyncio.to_thread(_get, catcher.url))
                        metrics = await asyncio.to_thread(
                            _get, catcher.url.replace("/healthz", "/metrics")
                        )
                        report.events = int(health["events"])
                        report.picks = int(health["picks"])
                        report.turns = dict(health["turns"])
                        report.errors = int(health["errors"])
                        report.sink_drops = _metric(metrics, "cohost_chat_dropped_total")
                        report.bus_drops = _metric(metrics, "cohost_bus_dropped_total")
                finally:
                    if task.done():
                        report.crashes += 1  # it ended on its own: a crash
                        with contextlib.suppress(BaseException):
                            task.result()
                    else:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                report.sent = len(fake.sent)
    finally:
        daemon_log.removeHandler(catcher)
        daemon_log.setLevel(old_level)
    report.crashes += report.errors
    report.model_requests = models.requests
    report.faults = dict(models.faults)
    report.wall_s = time.monotonic() - started
    return report


def print_report(r: SoakReport) -> None:
    print(f"soak: {r.pushed} of {r.messages} messages pushed; bus: {r.bus}")
    print(
        f"daemon saw {r.events} events (source drops {r.pushed - r.events}), picks {r.picks}, "
        f"turns {r.turns}"
    )
    print(f"model requests {r.model_requests}, faults injected {r.faults}")
    print(
        f"crashes {r.crashes} (errors caught per message {r.errors}); faults survived "
        f"{r.faults_survived}"
    )
    print(f"chat sent {r.sent}, sink drops {r.sink_drops}, bus drops {r.bus_drops}")
    rss = ", ".join(f"{k} {v:.1f} MiB" for k, v in r.rss_mb.items())
    print(f"RSS {rss} (growth start to end {r.rss_growth:+.1%}); wall {r.wall_s:.0f} s")
    completed = sum(r.turns.values())
    print(
        f"messages={r.pushed} events={r.events} turns_completed={completed} "
        f"answered={r.turns.get('answered', 0)} failed={r.turns.get('failed', 0)} "
        f"faults_injected={sum(r.faults.values())} faults_survived={r.faults_survived} "
        f"crashes={r.crashes} sent={r.sent} rss_start_mb={r.rss_mb.get('start', 0):.1f} "
        f"rss_mid_mb={r.rss_mb.get('middle', 0):.1f} rss_end_mb={r.rss_mb.get('end', 0):.1f} "
        f"rss_growth={r.rss_growth:+.3f} wall_s={r.wall_s:.0f}"
    )


def main() -> None:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 messages instead of 100,000")
    parser.add_argument("--messages", type=int, help="how many messages")
    parser.add_argument("--no-broker", action="store_true", help="the in-process bus only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, force=True)
    logging.getLogger("cohost").setLevel(logging.ERROR)  # faults are the point: no log per one
    count = args.messages or (5_000 if args.quick else 100_000)
    print_report(asyncio.run(soak(count, use_broker=not args.no_broker)))


if __name__ == "__main__":
    main()
