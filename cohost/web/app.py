"""The daemon's web app: OBS overlay, the streamer's dashboard, Prometheus metrics, health.

Who may read or do what:
- `/overlay` and its stream `/events` need no token. OBS loads them as a browser source that
  cannot type a token, and they carry only the sentences the twin speaks out loud, which are
  on stream anyway: never chat, journal titles, picks or private text (a whitelist below).
- `/audio/ID.wav` needs no token either: the overlay (`?audio=1`) plays the sentence being said
  from it; ids are random (128 bits) and live minutes (`cohost.web.audio`).
- `/commands` needs no token: the `!twin` commands, who may use them and their cooldowns, as
  chat bots' command pages show them; read-only, no chat and no state.
- `/metrics` and `/healthz` need no token: counts and timings only, read-only; the daemon binds
  loopback by default, so the scraper is a process on the same machine.
- `/dashboard`, `/dashboard/events` and `/api/*` need the web token: it shows chat and journal
  titles, and its controls steer the twin. Either `Authorization: Bearer TOKEN`, or the cookie
  the page sets after the token is given once (a keyed hash of the token, HttpOnly,
  SameSite=Strict). A cookie-authenticated write must also send `X-CSRF-Token` equal to the
  CSRF cookie (double submit; the page gets the value in a meta tag). The token typed into
  the login form goes back to the private page that asked for it (`/dashboard` or `/desk`,
  never any other address).
- Without a configured token the dashboard and the API refuse everything (503).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import hmac
import html
import json
import logging
import math
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, Protocol

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from cohost.core.bus_events import (
    PRIVATE_TITLE,
    CaptionCut,
    CaptionShown,
    CommandDone,
    HitShown,
    MessageSeen,
    StreamEventSeen,
    ThanksGiven,
    TurnEnded,
    TurnHeld,
    TurnRecalled,
    TurnReplied,
    TurnSimulated,
    TurnStarted,
    WelcomeGiven,
)
from cohost.core.events import Flaw, Quality, TurnTrace
from cohost.core.serialise import read_bus_event
from cohost.pipeline.listen import HEARD_STAGE
from cohost.pipeline.privacy import public_reason
from cohost.web.audio import CLIP_PATH, AudioClips
from cohost.web.commands_page import render_commands_page
from cohost.web.desk_page import DeskView, desk_routes
from cohost.web.hosts import TrustedHosts

if TYPE_CHECKING:
    from cohost.control.approvals import ChoiceResult
    from cohost.control.controller import CommandInfo, CommandResult  # only fields are read

log = logging.getLogger(__name__)

AUTH_COOKIE = "cohost_dashboard"
CSRF_COOKIE = "cohost_csrf"
CSRF_HEADER = "x-csrf-token"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie: enter the token once
MAX_BODY_BYTES = 16 * 1024  # a command is one chat line; anything near this is not one
HISTORY = 40  # chat lines and commands the dashboard shows again after a reload
MAX_JSON_DEPTH = 8  # {"command": …} is 1 deep; json.loads would recurse on until it crashed
MAX_COMMAND_CHARS = 500  # Twitch's own message limit
KEEPALIVE_S = 15.0  # an SSE comment this often keeps proxies from closing an idle stream
CLIENT_QUEUE = 256  # events waiting per browser; when full the oldest goes (a stale tab lags)
MAX_TEXT = 600  # longest text field passed to a page
DEFAULT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# The overlay's page: scripts as locked down as everywhere, but styles may be inline. OBS's
# Custom CSS is injected by obs-browser as a <style> element it appends to <head> (older
# versions: a <link> to a data: URL); neither can carry a nonce, so 'unsafe-inline' and data:
# for styles only. Captions are set as text, never markup, so no style comes from chat.
OVERLAY_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline' data:; "
    "connect-src 'self'; img-src 'self' data:; media-src 'self' blob:; form-action 'none'; "
    "base-uri 'none'"
)
# The desk's page (`cohost.web.desk_page`): as locked down as the dashboard, and it plays the
# twin's voice from this app's own /desk/audio/.
DESK_CSP = _HEADERS["Content-Security-Policy"] + "; media-src 'self'; frame-ancestors 'none'"
_STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


class WebView(Protocol):
    """What the web app needs from the daemon."""

    def health(self) -> dict[str, object]:
        """The daemon's summary, as /healthz shows it; its "state" holds TwinState's fields."""
        ...

    def metrics(self) -> Metrics:
        """Counters and stage-time histograms for /metrics."""
        ...

    def subscribe(self, handler: Callable[[str, dict[str, object]], None]) -> Callable[[], None]:
        """Call handler with every bus event (topic, payload); returns how to unsubscribe."""
        ...

    def recent_turns(self) -> list[dict[str, object]]:
        """The last few turns as `trace_dict` dicts, oldest first."""
        ...

    async def command(self, text: str) -> CommandResult | None:
        """Run one `!twin` line as the broadcaster, source "dashboard"."""
        ...

    async def choose(self, turn_id: str, choice: int, text: str | None = None) -> ChoiceResult:
        """Approve candidate `choice` of a held turn (as `text`, when edited), or rate it the
        best of a live one."""
        ...

    async def reject(self, turn_id: str) -> ChoiceResult:
        """Reject a held turn's replies."""
        ...


# ---- metrics -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Histogram:
    """Observations in buckets: counts[i] are those <= bounds[i], the last count is +Inf."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]  # cumulative, len(bounds) + 1
    sum: float

    @property
    def count(self) -> int:
        return self.counts[-1] if self.counts else 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    """Everything /metrics shows, taken at one moment."""

    uptime_s: float = 0.0
    events: int = 0
    picks: int = 0
    turns: Mapping[str, int] = field(default_factory=dict)
    commands: int = 0
    errors: int = 0
    bus_drops: int = 0
    sink_drops: int = 0
    settled: Mapping[str, int] = field(default_factory=dict)  # held turns, by final outcome
    held: int = 0  # held replies waiting for the streamer now
    stages: Mapping[str, Histogram] = field(default_factory=dict)
    turn: Histogram | None = None
    quality: Mapping[str, int] = field(default_factory=dict)  # reviewed replies, by Quality
    flaws: Mapping[str, int] = field(default_factory=dict)  # reviewed replies, by Flaw found
    heard: Histogram | None = None  # end of the streamer's speech to its transcript, listening


class _Series:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # per bucket, the last one above every bound
        self.sum = 0.0

    def add(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def frozen(self) -> Histogram:
        running, cumulative = 0, []
        for n in self.counts:
            running += n
            cumulative.append(running)
        return Histogram(bounds=self.bounds, counts=tuple(cumulative), sum=self.sum)


class MetricsRecorder:
    """Stage and whole-turn times from each finished turn's trace; the daemon calls observe()."""

    def __init__(
        self, bounds: Sequence[float] = DEFAULT_BUCKETS, *, listening: bool = False
    ) -> None:
        """listening: the daemon hears the streamer, and times each transcript (`heard`)."""
        self.bounds = tuple(sorted(bounds))
        self._stages: dict[str, _Series] = {}
        self._turn = _Series(self.bounds)
        self._heard = _Series(self.bounds) if listening else None
        # every value from the start, so a counter is there (at 0) before it first counts
        self._quality = dict.fromkeys(map(str, Quality), 0)
        self._flaws = dict.fromkeys(map(str, Flaw), 0)

    def observe(self, trace: TurnTrace) -> None:
        """Add the times of one turn's stages, the turn's own span, and its reply's quality."""
        if trace.quality is not None:
            self._quality[str(trace.quality)] += 1
            for flaw in dict.fromkeys(trace.flaws):
                self._flaws[str(flaw)] += 1
        # hearing a spoken line is timed by `heard` (every line, answered or not), and is
        # before the turn: neither a stage of it nor part of its span
        stages = [s for s in trace.stages if s.name != HEARD_STAGE]
        for stage in stages:
            series = self._stages.get(stage.name)
            if series is None:
                series = self._stages[stage.name] = _Series(self.bounds)
            series.add(max(0.0, stage.seconds))
        if stages:
            start = min(s.start for s in stages)
            end = max(s.end for s in stages)
            self._turn.add(max(0.0, end - start))

    def heard(self, seconds: float) -> None:
        """One spoken line: seconds from the end of the streamer's speech to its transcript."""
        if self._heard is not None:
            self._heard.add(max(0.0, seconds))

    def metrics(
        self,
        *,
        uptime_s: float = 0.0,
        events: int = 0,
        picks: int = 0,
        turns: Mapping[str, int] | None = None,
        commands: int = 0,
        errors: int = 0,
        bus_drops: int = 0,
        sink_drops: int = 0,
        settled: Mapping[str, int] | None = None,
        held: int = 0,
    ) -> Metrics:
        """A snapshot: the daemon's counters with these histograms."""
        return Metrics(
            settled=dict(settled or {}),
            held=held,
            uptime_s=uptime_s,
            events=events,
            picks=picks,
            turns=dict(turns or {}),
            commands=commands,
            errors=errors,
            bus_drops=bus_drops,
            sink_drops=sink_drops,
            stages={name: s.frozen() for name, s in sorted(self._stages.items())},
            turn=self._turn.frozen(),
            quality=dict(self._quality),
            flaws=dict(self._flaws),
            heard=self._heard.frozen() if self._heard is not None else None,
        )


def _le(bound: float) -> str:
    """A bucket's bound as its `le` label: "0.25", "1", "+Inf"."""
    if math.isinf(bound):
        return "+Inf"
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))


def _buckets(h: Histogram) -> list[tuple[str, float]]:
    return [(_le(b), n) for b, n in zip((*h.bounds, math.inf), h.counts, strict=True)]


def _counts(name: str, help_text: str, label: str, values: Mapping[str, int]) -> Metric:
    family = CounterMetricFamily(name, help_text, labels=[label])
    for value, n in sorted(values.items()):
        family.add_metric([value], n)
    return family


class DaemonCollector(Collector):
    """The daemon's counters and stage times as Prometheus metrics, read at each scrape."""

    def __init__(self, read: Callable[[], Metrics]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        """One snapshot of the daemon, as metric families."""
        m = self._read()
        yield GaugeMetricFamily(
            "cohost_uptime_seconds", "Seconds since the daemon started.", m.uptime_s
        )
        yield CounterMetricFamily("cohost_chat_events_total", "Chat events read.", m.events)
        yield CounterMetricFamily("cohost_picks_total", "Messages picked for an answer.", m.picks)
        yield _counts("cohost_turns_total", "Turns finished, by outcome.", "outcome", m.turns)
        yield _counts(
            "cohost_turns_settled_total",
            "Held turns approved, rejected or expired, by final outcome.",
            "outcome",
            m.settled,
        )
        yield _counts(
            "cohost_reply_quality_total",
            "Replies reviewed, by what became of them "
            "(clean, repaired, fallback to the simulated line, silent).",
            "quality",
            m.quality,
        )
        yield _counts(
            "cohost_reply_flaws_total",
            "Reviewed replies with each flaw (prompt echo, label, runaway, too long).",
            "flaw",
            m.flaws,
        )
        yield GaugeMetricFamily("cohost_turns_held", "Held replies waiting for approval.", m.held)
        yield CounterMetricFamily("cohost_commands_total", "!twin commands handled.", m.commands)
        yield CounterMetricFamily("cohost_errors_total", "Errors the daemon survived.", m.errors)
        yield CounterMetricFamily("cohost_bus_dropped_total", "Bus events dropped.", m.bus_drops)
        yield CounterMetricFamily("cohost_chat_dropped_total", "Chat posts dropped.", m.sink_drops)
        stages = HistogramMetricFamily(
            "cohost_stage_seconds", "Time of each stage of a turn.", labels=["stage"]
        )
        for name, h in sorted(m.stages.items()):
            stages.add_metric([name], _buckets(h), round(h.sum, 6))
        yield stages
        if m.turn is not None:
            yield HistogramMetricFamily(
                "cohost_turn_seconds",
                "From a turn's first stage to its last.",
                buckets=_buckets(m.turn),
                sum_value=round(m.turn.sum, 6),
            )
        if m.heard is not None:
            yield HistogramMetricFamily(
                "cohost_heard_seconds",
                "From the end of the streamer's speech to its transcript.",
                buckets=_buckets(m.heard),
                sum_value=round(m.heard.sum, 6),
            )


def render_metrics(metrics: Metrics) -> str:
    """Prometheus text format 0.0.4 for one snapshot."""
    registry = CollectorRegistry()
    registry.register(DaemonCollector(lambda: metrics))
    return generate_latest(registry).decode("utf-8")


# ---- what may leave the daemon for a page ----------------------------------------------------


def _text(value: object, limit: int = MAX_TEXT) -> str:
    return str(value)[:limit] if value is not None else ""


def _num(value: object) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return round(float(value), 4)
    return 0.0


def _texts(value: object, limit: int = 8) -> list[str]:
    return [_text(v) for v in value[:limit]] if isinstance(value, list) else []


def _parts(value: object) -> dict[str, float]:
    if not isinstance(value, Mapping):
        return {}
    return {_text(k, 40): _num(v) for k, v in list(value.items())[:24]}


def _hits(hits: tuple[HitShown, ...]) -> list[dict[str, object]]:
    """Tiers and scores, and titles of public entries: no hit's text ever reaches a page.

    A private entry's title can say what its text does ("Divorce lawyer meeting"), and the
    dashboard may be on a screen others see: it shows "(private entry)" instead, whatever an
    event claims.
    """
    return [
        {
            "title": _text(h.title, 120) if h.tier == "public" else PRIVATE_TITLE,
            "tier": _text(h.tier, 16),
            "score": _num(h.score),
        }
        for h in hits[:20]
    ]


def overlay_event(topic: str, payload: Mapping[str, object]) -> dict[str, object] | None:
    """What the public overlay may see of a bus event: spoken captions, and when they stop."""
    match read_bus_event(topic, payload):
        case CaptionShown() as caption:
            shown: dict[str, object] = {
                "turn_id": _text(caption.turn_id, 40),
                "text": _text(caption.text),
                "seconds": max(0.0, round(_num(caption.end) - _num(caption.start), 3)),
            }
            if CLIP_PATH.fullmatch(caption.audio):  # a clip of this web app's, never any URL
                shown["audio"] = caption.audio
            return shown
        case CaptionCut(turn_id=turn_id) | TurnEnded(turn_id=turn_id, outcome="cancelled"):
            return {"turn_id": _text(turn_id, 40)}
    return None


# What the picker's rule names mean, as the dashboard says them (the reason has the details).
SKIP_LABELS: dict[str, str] = {
    "picked": "picked",
    "ask": "asked by a moderator",
    "low_score": "not interesting enough",
    "gap": "answered someone just now",
    "rate": "enough replies this minute",
    "cooldown": "answered this person just now",
    "duplicate": "already answered that",
    "stale": "too old",
    "bot": "a bot",
    "command": "a chat command",
    "ignored": "on the ignore list",
    "advert": "a link or announcement",
    "streamer": "the streamer, not to the twin",
    "emote_only": "only emotes",
    "link_only": "only a link",
    "copypasta": "copypasta",
    "botlike": "a music bot or an advert",
    "troll": "a troll (lewd or an insult)",
    "repeat": "said again, answered before",
    "queued": "waits for chat to calm",
    "paused": "the twin is paused",
    "chat_full": "chat is at Twitch's limit",
    "busy": "busy with another reply",
    "thanks": "thanked",
    "welcome": "welcomed back",
}


def skip_label(category: str) -> str:
    """A few plain words for why a message was (not) picked; never a bare rule name."""
    return SKIP_LABELS.get(category) or "not answered"


def dashboard_event(topic: str, payload: Mapping[str, object]) -> dict[str, object] | None:
    """What the dashboard may see of a bus event (per event type; None: not shown).

    The event is read back by its schema (`cohost.core.bus_events`); what is shown of it is
    cut to lengths a page can hold.
    """
    event = read_bus_event(topic, payload)
    match event:
        case MessageSeen():
            return {
                "message_id": _text(event.message_id, 80),
                "login": _text(event.login, 40),
                "text": _text(event.text),
                "picked": event.picked,
                "score": _num(event.score),
                "parts": {_text(k, 40): _num(v) for k, v in list(event.parts.items())[:24]},
                "reason": _text(event.reason),
                "category": _text(event.category, 40),
                "label": skip_label(event.category),
            }
        case TurnStarted():
            return {"turn_id": _text(event.turn_id, 40), "message_id": _text(event.message_id, 80)}
        case TurnRecalled():
            return {"turn_id": _text(event.turn_id, 40), "hits": _hits(event.hits)}
        case TurnSimulated():
            lines = [
                {"speaker": _text(s.speaker, 40), "text": _text(s.text), "is_twin": s.is_twin}
                for s in event.lines[:40]
            ]
            return {"turn_id": _text(event.turn_id, 40), "lines": lines}
        case TurnReplied():
            return {"turn_id": _text(event.turn_id, 40), "reply": _text(event.reply)}
        case TurnHeld():
            candidates = [_text(c) for c in event.candidates[:8]]
            return {"turn_id": _text(event.turn_id, 40), "candidates": candidates}
        case TurnEnded():
            return {
                "turn_id": _text(event.turn_id, 40),
                "outcome": _text(event.outcome, 20),
                "reason": _text(event.reason),
                "decided": _text(event.decided),
            }
        case CaptionShown():
            return overlay_event(topic, payload)
        case CommandDone():
            return {
                "command": _text(event.command, 40),
                "login": _text(event.login, 40),
                "accepted": event.accepted,
                "reason": _text(event.reason),
                # what the command said: acknowledgements come here, not to chat
                "reply": _text(event.reply or ""),
            }
        case StreamEventSeen():
            return {
                "kind": _text(event.kind, 20),
                "login": _text(event.login, 40),
                "display_name": _text(event.display_name, 40),
                "amount": event.amount,
                "thanked": event.thanked,
            }
        case ThanksGiven():
            return {
                "kind": _text(event.kind, 20),
                "mode": _text(event.mode, 20),
                "names": [_text(n, 40) for n in event.names[:8]],
                "count": event.count,
                "amount": event.amount,
                "events": event.events,
                "text": _text(event.text),
            }
        case WelcomeGiven():
            return {
                "mode": _text(event.mode, 20),
                "names": [_text(n, 40) for n in event.names[:8]],
                "text": _text(event.text),
            }
    return None


def _trace_hits(value: object) -> list[dict[str, object]]:
    """A trace's hits as the dashboard shows them: read as the bus's hits are (`_hits`)."""
    if not isinstance(value, list):
        return []
    return _hits(
        tuple(
            HitShown(
                entry_id=None,
                title=_text(h.get("title"), 120),
                tier=_text(h.get("tier"), 16),
                score=_num(h.get("score")),
            )
            for h in value[:20]
            if isinstance(h, Mapping)
        )
    )


def _lines(value: object) -> list[dict[str, object]]:
    if not isinstance(value, list):
        return []
    return [
        {
            "speaker": _text(s.get("speaker"), 40),
            "text": _text(s.get("text")),
            "is_twin": bool(s.get("is_twin", False)),
        }
        for s in value[:40]
        if isinstance(s, Mapping)
    ]


def turn_summary(trace: Mapping[str, Any]) -> dict[str, object]:
    """A `trace_dict` cut down to what the dashboard shows; journal text never passes."""
    decision = trace.get("decision")
    decision = decision if isinstance(decision, Mapping) else {}
    message = decision.get("message")
    message = message if isinstance(message, Mapping) else {}
    stages = trace.get("stages") if isinstance(trace.get("stages"), list) else []
    verdicts = trace.get("guard")
    guard: list[Any] = verdicts if isinstance(verdicts, list) else []
    return {
        "turn_id": _text(trace.get("turn_id"), 40),
        "started": _num(trace.get("started")),
        "outcome": _text(trace.get("outcome"), 20),
        "reason": _text(
            public_reason(
                str(trace.get("outcome", "")),
                str(trace.get("reason", "")),
                (
                    str(v.get("rule", ""))
                    for v in guard
                    if isinstance(v, Mapping) and v.get("action") == "blocked"
                ),
            )
        ),
        "reply": _text(trace.get("reply")),
        "alternatives": _texts(trace.get("alternatives")),
        "decided": _text(trace.get("decided")),
        "message": {
            "id": _text(message.get("id"), 80),
            "login": _text(message.get("login"), 40),
            "text": _text(message.get("text")),
        },
        "score": _num(decision.get("score")),
        "parts": _parts(decision.get("parts")),
        "why": _text(decision.get("reason")),
        "hits": _trace_hits(trace.get("hits")),
        "sim_lines": _lines(trace.get("sim_lines")),
        "stages": [
            {
                "name": _text(s.get("name"), 20),
                "start_ms": _num(s.get("start_ms")),
                "end_ms": _num(s.get("end_ms")),
                "ms": _num(s.get("ms")),
            }
            for s in (stages or [])
            if isinstance(s, Mapping)
        ],
        # rule and action only: a verdict's detail may quote what it stopped
        "guard": [
            {"rule": _text(g.get("rule"), 40), "action": _text(g.get("action"), 10)}
            for g in (guard or [])
            if isinstance(g, Mapping)
        ],
    }


def _state(view: WebView) -> dict[str, object]:
    health = view.health()
    state = health.get("state")
    return {
        "state": dict(state) if isinstance(state, Mapping) else {},
        "busy": bool(health.get("busy", False)),
        "picks": health.get("picks", 0),
        "turns": health.get("turns", {}),
        "errors": health.get("errors", 0),
        "uptime_s": health.get("uptime_s", 0),
        "held": health.get("held", 0),
        "hold_expiry_s": health.get("hold_expiry_s", 0),
        "models": health.get("models", ""),
        "links": health.get("links", {}),
        "embedded": bool(health.get("embedded", False)),
        "server_time": time.time(),  # turns are stamped by this process, not the browser
    }


# ---- live streams ----------------------------------------------------------------------------

Audience = Literal["overlay", "dashboard"]
_FILTERS = {"overlay": overlay_event, "dashboard": dashboard_event}


@dataclass(slots=True, eq=False)  # compared by identity: each browser is its own
class _Client:
    audience: Audience
    queue: asyncio.Queue[tuple[str, dict[str, object]] | None]


class StreamHub:
    """Fans bus events out to the open SSE streams, and keeps the dashboard's recent chat and
    commands (a reload shows them again). Subscribed to the bus from the start."""

    def __init__(self, view: WebView, *, overlay_question: bool = False) -> None:
        self._view = view
        self._clients: set[_Client] = set()
        # with overlay_question: the overlay also gets the message each turn answers
        self.overlay_question = overlay_question
        self._asked: OrderedDict[str, dict[str, object]] = OrderedDict()  # message id -> it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.dropped = 0
        self.closed = False
        # the dashboard's chat, command and stream panels, kept here so a reload shows them
        self.history: dict[str, deque[dict[str, object]]] = {
            "chat": deque(maxlen=HISTORY),
            "commands": deque(maxlen=HISTORY),
            "stream": deque(maxlen=HISTORY),
        }
        self._unsubscribe = view.subscribe(self._on_event)
        with contextlib.suppress(RuntimeError):  # no loop yet: the first stream or event sets it
            self._loop = asyncio.get_running_loop()

    @property
    def clients(self) -> int:
        return len(self._clients)

    def open(self, audience: Audience) -> _Client:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        client = _Client(audience, asyncio.Queue(maxsize=CLIENT_QUEUE))
        self._clients.add(client)
        return client

    def release(self, client: _Client) -> None:
        self._clients.discard(client)

    def close(self) -> None:
        """End every stream (before the server stops: uvicorn waits for open responses)."""
        self.closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for client in list(self._clients):
            self._put(client, None)

    def _on_event(self, topic: str, payload: dict[str, object]) -> None:
        # Filtered here, on the publisher's side: a payload mutated later cannot leak later.
        shown = {a: f(topic, payload) for a, f in _FILTERS.items()}
        question = self._question(topic, shown["dashboard"]) if self.overlay_question else None
        if question is not None:
            shown = {"overlay": None, "dashboard": shown["dashboard"]}
        elif all(v is None for v in shown.values()):
            return
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()  # published on the loop's own thread
            except RuntimeError:
                return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            # the bus may publish from another thread (an MQTT listener)
            self._loop.call_soon_threadsafe(self._fan_out, topic, shown)
            if question is not None:
                asked = {"overlay": question, "dashboard": None}
                self._loop.call_soon_threadsafe(self._fan_out, "question", asked)

    def _question(self, topic: str, shown: dict[str, object] | None) -> dict[str, object] | None:
        """The overlay's question line: a picked message remembered, sent when its turn starts."""
        if shown is None:
            return None
        if topic == "pick":
            self._asked[str(shown["message_id"])] = shown
            while len(self._asked) > 50:
                self._asked.popitem(last=False)
        elif topic == "turn/start" and (pick := self._asked.get(str(shown["message_id"]))):
            return {"turn_id": shown["turn_id"], "login": pick["login"], "text": pick["text"]}
        return None

    def _fan_out(self, topic: str, shown: dict[str, dict[str, object] | None]) -> None:
        kept = shown["dashboard"]
        if kept is not None and topic in ("chat", "pick"):
            self.history["chat"].append({"topic": topic, **kept})
        elif kept is not None and topic == "command":
            self.history["commands"].append({**kept, "ts": time.time()})
        elif kept is not None and topic in ("stream/event", "stream/thanks", "stream/welcome"):
            self.history["stream"].append({"topic": topic, **kept, "ts": time.time()})
        for client in list(self._clients):
            data = shown[client.audience]
            if data is not None:
                self._put(client, (topic, data))

    def _put(self, client: _Client, item: tuple[str, dict[str, object]] | None) -> None:
        if client.queue.full():
            # keep the newest: a browser that stopped reading sees the present when it wakes
            client.queue.get_nowait()
            self.dropped += 1
        client.queue.put_nowait(item)

    async def stream(self, audience: Audience) -> AsyncIterator[str]:
        """One browser's stream as SSE text."""
        if self.closed:
            return
        client = self.open(audience)
        try:
            yield "retry: 2000\n\n"
            while True:  # until close() queues the end, after whatever came before it
                try:
                    item = await asyncio.wait_for(client.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if item is None:
                    return
                topic, data = item
                yield f"event: {topic}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        finally:
            self.release(client)


# ---- auth ------------------------------------------------------------------------------------


class _Auth:
    def __init__(self, token: SecretStr | None) -> None:
        value = token.get_secret_value().encode("utf-8") if token is not None else b""
        self.secret = value
        self.session = (
            hmac.new(value, b"cohost dashboard session v1", hashlib.sha256).hexdigest()
            if value
            else ""
        )

    @property
    def enabled(self) -> bool:
        return bool(self.secret)

    def good_token(self, given: str) -> bool:
        return self.enabled and bool(given) and hmac.compare_digest(given.encode(), self.secret)

    def how(self, request: Request) -> Literal["bearer", "cookie"] | None:
        """How this request proved it holds the token, if it did."""
        if not self.enabled:
            return None
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            return "bearer" if self.good_token(header[7:].strip()) else None
        cookie = request.cookies.get(AUTH_COOKIE, "")
        return "cookie" if cookie and hmac.compare_digest(cookie, self.session) else None


def _set_cookie(request: Request, response: Response, key: str, value: str) -> None:
    response.set_cookie(
        key,
        value,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def json_depth(raw: bytes) -> int:
    """How deep a JSON text's arrays and objects nest (brackets inside strings do not count)."""
    depth = deepest = 0
    for byte in _JSON_STRING.sub(b'""', raw):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def _secure(response: Response, *, framed: bool = False) -> Response:
    """The security headers; no page but the overlay may be framed (no clicks tricked on
    Approve or Pause from a page that frames the dashboard)."""
    response.headers.update(_HEADERS)
    if not framed:
        response.headers["Content-Security-Policy"] += "; frame-ancestors 'none'"
        response.headers["X-Frame-Options"] = "DENY"
    return response


def _refuse(status: int, error: str) -> Response:
    response = JSONResponse({"error": error}, status_code=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="cohost"'
    return _secure(response)


def _static_files() -> dict[str, tuple[bytes, str]]:
    root = resources.files("cohost.web") / "static"
    files: dict[str, tuple[bytes, str]] = {}
    for item in root.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in _STATIC_TYPES:
            files[item.name] = (item.read_bytes(), _STATIC_TYPES[suffix])
    return files


_LOGIN = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Co-host dashboard</title>
<link rel="stylesheet" href="/static/dashboard.css">
</head>
<body class="gate">
<main>
<h1>Co-host dashboard</h1>
{notice}
<form method="post" action="/dashboard/login" autocomplete="off">
<input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label for="token">Token <span class="hint">(asked once on this browser)</span></label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Open</button>
</form>
</main>
</body>
</html>
"""


def create_web_app(
    view: WebView,
    *,
    token: SecretStr | None,
    command_prefix: str = "!twin",
    allowed_hosts: Sequence[str] | None = None,
    overlay_label: str = "AI co-host",
    overlay_question: bool = False,
    commands: Callable[[], Sequence[CommandInfo]] | None = None,
    cooldown_bypass: str = "moderator",
    clips: AudioClips | None = None,
    desk: DeskView | None = None,
) -> Starlette:
    """The whole web app; `app.state.hub.close()` ends the live streams before a shutdown.

    With `allowed_hosts`, a request naming any other host is refused: a web page the streamer
    visits cannot rebind a name of its own to 127.0.0.1 and read the streams or try tokens.
    """
    auth = _Auth(token)
    hub = StreamHub(view, overlay_question=overlay_question)
    files = _static_files()
    started = time.monotonic()
    registry = CollectorRegistry()  # this app's own: two apps in one process never mix
    registry.register(DaemonCollector(view.metrics))
    Gauge("cohost_web_streams", "Live event streams open.", registry=registry).set_function(
        lambda: hub.clients
    )
    Gauge(
        "cohost_web_stream_dropped",
        "Events dropped for browsers that stopped reading.",
        registry=registry,
    ).set_function(lambda: hub.dropped)
    Gauge(
        "cohost_web_uptime_seconds", "Seconds since the web app started.", registry=registry
    ).set_function(lambda: round(time.monotonic() - started, 3))

    def static_response(
        name: str, replace: Mapping[str, str] | None = None, *, framed: bool = False
    ) -> Response:
        body, media_type = files[name]
        text = body.decode("utf-8")
        for key, value in (replace or {}).items():
            text = text.replace(key, value)
        return _secure(Response(text, media_type=media_type), framed=framed)

    # where a login goes on to: the private page it was asked for (never any other address)
    pages = ("/dashboard", "/desk") if desk is not None else ("/dashboard",)

    def login_page(
        request: Request, *, status: int, notice: str = "", then: str = "/dashboard"
    ) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        body = _LOGIN.format(
            notice=f'<p class="notice" role="alert">{html.escape(notice)}</p>' if notice else "",
            csrf=html.escape(csrf),
            next=html.escape(then if then in pages else "/dashboard"),
        )
        response = HTMLResponse(body, status_code=status)
        _set_cookie(request, response, CSRF_COOKIE, csrf)
        return _secure(response)

    def no_token_page() -> Response:
        return _secure(
            HTMLResponse(
                "<!doctype html><title>Co-host dashboard</title><p>The dashboard is off: "
                "set a web token (COHOST_WEB__TOKEN) and restart the daemon.</p>",
                status_code=503,
            )
        )

    async def healthz(request: Request) -> Response:
        # the daemon's own summary; it changes nothing
        return JSONResponse(view.health())

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    async def overlay(request: Request) -> Response:
        # tools that lay out a stream may frame the overlay: it shows only what is said aloud
        page = static_response(
            "overlay.html", {"__LABEL__": html.escape(overlay_label[:40])}, framed=True
        )
        page.headers["Content-Security-Policy"] = OVERLAY_CSP
        return page

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files:
            return PlainTextResponse("not found", status_code=404)
        return static_response(name)

    def sse(audience: Audience) -> Response:
        return StreamingResponse(
            hub.stream(audience),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def overlay_events(request: Request) -> Response:
        return sse("overlay")

    async def audio(request: Request) -> Response:
        # public as the overlay is: the id is unguessable and short-lived (cohost.web.audio)
        name = request.path_params["clip"]
        wav = clips.get(name.removesuffix(".wav")) if clips and name.endswith(".wav") else None
        if wav is None:
            return _secure(PlainTextResponse("no such clip", status_code=404))
        return _secure(Response(wav, media_type="audio/wav"))

    async def commands_page(request: Request) -> Response:
        # read-only and public, as a chat bot's commands page is: no chat, no state
        if commands is None:
            return _secure(PlainTextResponse("no commands here", status_code=404))
        page = render_commands_page(commands(), bypass=cooldown_bypass)
        return _secure(HTMLResponse(page))

    async def root(request: Request) -> Response:
        return RedirectResponse("/dashboard", status_code=303)

    async def dashboard(request: Request) -> Response:
        # the link to the desk, where this app serves one
        shown = {"__DESK_HIDDEN__": "" if desk is not None else " hidden"}
        return private_page(request, "/dashboard", "dashboard.html", shown)

    async def desk_page(request: Request) -> Response:
        page = private_page(request, "/desk", "desk.html")
        if page.status_code == 200:
            page.headers["Content-Security-Policy"] = DESK_CSP  # it plays the twin's voice
        return page

    def private_page(
        request: Request, path: str, name: str, replace: Mapping[str, str] | None = None
    ) -> Response:
        if not auth.enabled:
            return no_token_page()
        given = request.query_params.get("token")
        if given is not None:
            if not auth.good_token(given):
                return login_page(request, status=401, notice="That token is not right.", then=path)
            # trade the token in the address for a cookie, and get it out of the address bar
            redirect = RedirectResponse(path, status_code=303)
            _set_cookie(request, redirect, AUTH_COOKIE, auth.session)
            return _secure(redirect)
        if auth.how(request) is None:
            return login_page(request, status=401, then=path)
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        response = static_response(name, {**(replace or {}), "__CSRF__": html.escape(csrf)})
        _set_cookie(request, response, CSRF_COOKIE, csrf)
        return response

    async def login(request: Request) -> Response:
        if not auth.enabled:
            return no_token_page()
        form = await request.form(max_files=0, max_fields=4)
        given = form.get("token")
        csrf_form = form.get("csrf")
        then = form.get("next")
        then = then if isinstance(then, str) and then in pages else "/dashboard"
        csrf_cookie = request.cookies.get(CSRF_COOKIE, "")
        if not (
            isinstance(csrf_form, str)
            and csrf_cookie
            and hmac.compare_digest(csrf_cookie, csrf_form)
        ):
            notice = "The form was stale; try again."
            return login_page(request, status=403, notice=notice, then=then)
        if not (isinstance(given, str) and auth.good_token(given)):
            return login_page(request, status=401, notice="That token is not right.", then=then)
        response = RedirectResponse(then, status_code=303)
        _set_cookie(request, response, AUTH_COOKIE, auth.session)
        return _secure(response)

    def refused(request: Request, *, writes: bool) -> Response | None:
        if not auth.enabled:
            return _refuse(503, "no web token is configured")
        how = auth.how(request)
        if how is None:
            return _refuse(401, "this needs the web token")
        if writes and how == "cookie":
            cookie = request.cookies.get(CSRF_COOKIE, "")
            header = request.headers.get(CSRF_HEADER, "")
            if not cookie or not hmac.compare_digest(cookie, header):
                return _refuse(403, "missing or stale CSRF token; reload the page")
        return None

    async def dashboard_events(request: Request) -> Response:
        return refused(request, writes=False) or sse("dashboard")

    async def api_state(request: Request) -> Response:
        return refused(request, writes=False) or _secure(JSONResponse(_state(view)))

    async def api_history(request: Request) -> Response:
        if (refusal := refused(request, writes=False)) is not None:
            return refusal
        return _secure(JSONResponse({k: list(v) for k, v in hub.history.items()}))

    async def api_turns(request: Request) -> Response:
        if (refusal := refused(request, writes=False)) is not None:
            return refusal
        return _secure(JSONResponse([turn_summary(t) for t in view.recent_turns()]))

    async def api_command(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        command = body.get("command")
        if not isinstance(command, str) or not command.strip():
            return _refuse(400, 'expected {"command": "pause"}')
        command = " ".join(command.split())
        if len(command) > MAX_COMMAND_CHARS:
            return _refuse(400, "the command is too long")
        if command.lower().startswith(command_prefix.lower() + " "):
            command = command[len(command_prefix) + 1 :]
        result = await view.command(f"{command_prefix} {command}")
        if result is None:
            return _refuse(400, "not a command")
        return _secure(
            JSONResponse(
                {
                    "accepted": result.accepted,
                    "command": result.command,
                    "reply": result.reply,
                    "reason": result.reason,
                    **_state(view),
                },
                status_code=200 if result.accepted else 409,
            )
        )

    async def _json_body(request: Request) -> dict[str, Any] | Response:
        """A state-changing request's JSON object, or the response refusing it."""
        if (refusal := refused(request, writes=True)) is not None:
            return refusal
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _refuse(415, "send JSON")
        raw = await request.body()
        if json_depth(raw) > MAX_JSON_DEPTH:
            return _refuse(400, f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            body = json.loads(raw)
        except ValueError:
            return _refuse(400, "the body is not JSON")
        return body if isinstance(body, dict) else _refuse(400, "expected a JSON object")

    def _choice_response(result: ChoiceResult) -> Response:
        return _secure(
            JSONResponse(
                {"ok": result.ok, "outcome": result.outcome, "reason": result.reason},
                status_code=200 if result.ok else 409,
            )
        )

    async def api_choose(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        choice = body.get("choice")
        if not isinstance(choice, int) or isinstance(choice, bool) or choice < 0:
            return _refuse(400, 'expected {"choice": N}, N counting candidates from 0')
        text = body.get("text")
        if text is not None and (not isinstance(text, str) or len(text) > MAX_COMMAND_CHARS):
            return _refuse(
                400, f'"text" is the edited reply, at most {MAX_COMMAND_CHARS} characters'
            )
        turn_id = request.path_params["turn_id"]
        return _choice_response(await view.choose(turn_id, choice, text))

    async def api_reject(request: Request) -> Response:
        if (refusal := refused(request, writes=True)) is not None:
            return refusal
        return _choice_response(await view.reject(request.path_params["turn_id"]))

    app = Starlette(
        routes=[
            Route("/", root, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/overlay", overlay, methods=["GET"]),
            Route("/events", overlay_events, methods=["GET"]),
            Route("/audio/{clip}", audio, methods=["GET"]),
            Route("/commands", commands_page, methods=["GET"]),
            Route("/static/{name}", static, methods=["GET"]),
            Route("/dashboard", dashboard, methods=["GET"]),
            Route("/dashboard/login", login, methods=["POST"]),
            Route("/dashboard/events", dashboard_events, methods=["GET"]),
            Route("/api/state", api_state, methods=["GET"]),
            Route("/api/turns", api_turns, methods=["GET"]),
            Route("/api/history", api_history, methods=["GET"]),
            Route("/api/command", api_command, methods=["POST"]),
            Route("/api/turns/{turn_id}/choose", api_choose, methods=["POST"]),
            Route("/api/turns/{turn_id}/reject", api_reject, methods=["POST"]),
            *(
                desk_routes(
                    desk,
                    page=desk_page,
                    refused=refused,
                    json_body=_json_body,
                    shown=dashboard_event,
                    secure=_secure,
                )
                if desk is not None
                else []
            ),
        ],
        max_body_size=MAX_BODY_BYTES,
        middleware=(
            [Middleware(TrustedHosts, allowed_hosts=list(allowed_hosts))] if allowed_hosts else []
        ),
    )
    app.state.hub = hub
    return app
