"""The web app in-process: every endpoint, who may use it, and what may leave the daemon."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from cohost.control.approvals import ChoiceResult
from cohost.control.controller import CommandResult
from cohost.core.events import (
    ChatMessage,
    Decision,
    Flaw,
    GuardVerdict,
    Hit,
    Quality,
    SimLine,
    StageTime,
    Tier,
    TurnTrace,
)
from cohost.core.serialise import trace_dict
from cohost.core.state import TwinState
from cohost.embedded.bus import LocalBus
from cohost.web.app import (
    AUTH_COOKIE,
    CLIENT_QUEUE,
    CSRF_COOKIE,
    Metrics,
    MetricsRecorder,
    StreamHub,
    create_web_app,
    render_metrics,
)

TOKEN = "web-test-token"
PRIVATE = "my sister's surgery is on friday"  # a private journal text that must never show


def sample_trace(turn_id: str = "t1", *, offset: float = 100.0) -> TurnTrace:
    """A finished turn with a private hit, a simulation, a guard verdict and stage times."""
    message = ChatMessage(
        id=f"m-{turn_id}",
        channel="streamer",
        login="viewer42",
        display_name="Viewer42",
        text="@twin what are you playing tonight?",
        ts=1_700_000_000.0,
    )
    decision = Decision(
        message=message,
        picked=True,
        score=4.5,
        parts=(("address", 3.0), ("question", 1.5)),
        reason="asked the twin a question by name",
        category="picked",
    )
    return TurnTrace(
        turn_id=turn_id,
        decision=decision,
        started=1_700_000_001.0,
        hits=[Hit(entry_id="e1", title="Friday plans", text=PRIVATE, score=0.8, tier=Tier.PRIVATE)],
        sim_lines=[
            SimLine(speaker="viewer42", text="what are you playing", is_twin=False),
            SimLine(speaker="twin", text="Hollow Knight again, obviously", is_twin=True),
        ],
        prompt=f"# system\n...\n# user\n## Notes\n- [private, never quote] Friday plans: {PRIVATE}",
        reply="Hollow Knight again, obviously.",
        guard=[GuardVerdict(rule="leak", action="changed", detail=f"removed '{PRIVATE}'")],
        stages=[
            StageTime(name="recall", start=offset, end=offset + 0.04),
            StageTime(name="simulate", start=offset + 0.04, end=offset + 0.34),
            StageTime(name="fuse", start=offset + 0.2, end=offset + 1.4),
        ],
        outcome="answered",
    )


class FakeView:
    """The daemon as the web app sees it: a LocalBus, a TwinState and a few commands."""

    def __init__(self) -> None:
        self.bus = LocalBus()
        self.state = TwinState(topic="hollow knight")
        self.commands: list[str] = []
        self.choices: list[tuple[str, int | None]] = []
        self.edits: list[str] = []  # edited replies approved from the dashboard
        self.turns: list[dict[str, object]] = []
        self.recorder = MetricsRecorder()
        self._handlers: list[Callable[[str, dict[str, object]], None]] = []
        self.bus.subscribe(self._dispatch)

    def _dispatch(self, topic: str, payload: dict[str, object]) -> None:
        for handler in list(self._handlers):
            handler(topic, payload)

    def subscribe(self, handler: Callable[[str, dict[str, object]], None]) -> Callable[[], None]:
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler)

    def health(self) -> dict[str, object]:
        state = dataclasses.asdict(self.state) | {"ignored": sorted(self.state.ignored)}
        return {
            "ok": True,
            "state": state,
            "busy": False,
            "picks": 1,
            "turns": {},
            "errors": 0,
            "hold_expiry_s": 120.0,
        }

    def metrics(self) -> Metrics:
        return self.recorder.metrics(
            uptime_s=12.5, events=7, picks=2, turns={"answered": 1, "cancelled": 1}, bus_drops=3
        )

    def recent_turns(self) -> list[dict[str, object]]:
        return list(self.turns)

    async def command(self, text: str) -> CommandResult | None:
        self.commands.append(text)
        if not text.startswith("!twin "):
            return None
        verb = text.removeprefix("!twin ")
        flips = {
            "pause": ("paused", True),
            "resume": ("paused", False),
            "voice on": ("voice", True),
            "voice off": ("voice", False),
            "chat on": ("chat", True),
            "chat off": ("chat", False),
            "hold on": ("hold", True),
            "hold off": ("hold", False),
        }
        if verb in flips:
            name, value = flips[verb]
            setattr(self.state, name, value)
            return CommandResult(accepted=True, command=verb.split()[0], reply=None, reason="ok")
        if verb in ("skip", "good", "bad"):
            return CommandResult(accepted=True, command=verb, reply=None, reason="ok")
        return CommandResult(accepted=False, command=verb, reply=None, reason="unknown command")

    async def choose(self, turn_id: str, choice: int, text: str | None = None) -> ChoiceResult:
        self.choices.append((turn_id, choice))
        if text is not None:
            self.edits.append(text)
        if turn_id != "t1":
            return ChoiceResult(ok=False, reason="no such turn to choose from (too old?)")
        return ChoiceResult(ok=True, outcome="answered")

    async def reject(self, turn_id: str) -> ChoiceResult:
        self.choices.append((turn_id, None))
        return ChoiceResult(ok=turn_id == "t1", outcome="silent")


@pytest.fixture
def view() -> FakeView:
    return FakeView()


@pytest.fixture
def app(view: FakeView) -> Starlette:
    return create_web_app(view, token=SecretStr(TOKEN))


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def logged_in(c: httpx.AsyncClient) -> str:
    """Give the token once, as a browser does; returns the page's CSRF value."""
    r = await c.get("/dashboard", params={"token": TOKEN})
    assert r.status_code == 303
    r = await c.get("/dashboard")
    assert r.status_code == 200
    csrf = c.cookies[CSRF_COOKIE]
    assert f'<meta name="csrf" content="{csrf}">' in r.text
    return csrf


async def subscribed(hub: StreamHub, request: asyncio.Task[httpx.Response]) -> None:
    """Wait until the request's stream is open (or it was answered without one)."""
    for _ in range(1000):
        if hub.clients or request.done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the stream never opened")


async def read_stream(
    app: Starlette,
    view: FakeView,
    path: str,
    events: list[tuple[str, dict[str, object]]],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Open an SSE stream, publish events on the bus, end the streams, return what was sent."""
    hub = app.state.hub
    async with client(app) as c:
        request = asyncio.create_task(c.get(path, headers=headers))
        await subscribed(hub, request)
        if request.done():
            return await request
        for topic, payload in events:
            view.bus.publish(topic, payload)
        await asyncio.sleep(0)  # the hub fans out on the loop's next turn
        hub.close()
        return await request


def sse_events(body: str) -> list[tuple[str, str]]:
    out = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            out.append((fields["event"], fields["data"]))
    return out


CAPTION = {"turn_id": "t1", "text": "Hollow Knight again.", "start": 50.0, "end": 52.5}
# what every `chat` and `pick` event carries (cohost.core.bus_events.MessageSeen)
SEEN: dict[str, object] = {"picked": True, "score": 1.0, "parts": {}, "reason": "", "category": ""}
TURN_EVENTS: list[tuple[str, dict[str, object]]] = [
    ("chat", {**SEEN, "message_id": "m0", "login": "lurker", "text": "hi", "picked": False}),
    (
        "pick",
        {**SEEN, "message_id": "m1", "login": "viewer42", "text": "@twin hi", "parts": {"a": 1}},
    ),
    ("turn/start", {"turn_id": "t1", "message_id": "m1"}),
    (
        "turn/hits",
        {
            "turn_id": "t1",
            # an event that claims a private title and carries text: neither is shown
            "hits": [
                {
                    "entry_id": "fri",
                    "title": "Friday",
                    "tier": "private",
                    "score": 0.5,
                    "text": PRIVATE,
                }
            ],
        },
    ),
    ("caption", CAPTION),
    ("turn/end", {"turn_id": "t1", "outcome": "answered", "reason": ""}),
    ("nobody/knows", {"secret": PRIVATE}),
]


# ---- health and metrics ------------------------------------------------------------------


async def test_healthz_answers_the_daemons_summary(app: Starlette, view: FakeView) -> None:
    async with client(app) as c:
        r = await c.get("/healthz")
    assert r.status_code == 200
    assert r.json() == view.health()


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A tiny Prometheus text parser: each sample line is `name{labels} value`."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert line.startswith(("# HELP ", "# TYPE ")) or not line
            continue
        match = line_re.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        parsed = dict(label_re.findall(labels or ""))
        assert label_re.sub("", labels or "") == "", f"bad labels in {line!r}"
        samples.setdefault(name, []).append((parsed, float(value)))
    return samples


def check_histogram(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> None:
    """Buckets grow with le, end in +Inf, and +Inf equals _count."""
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for labels, value in samples[f"{name}_bucket"]:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        groups.setdefault(rest, []).append((float(labels["le"]), value))
    counts = {tuple(sorted(lab.items())): v for lab, v in samples[f"{name}_count"]}
    assert counts.keys() == groups.keys()
    for key, buckets in groups.items():
        bounds = [b for b, _ in buckets]
        assert bounds == sorted(bounds) and math.isinf(bounds[-1])
        values = [v for _, v in buckets]
        assert values == sorted(values), f"{name}{key} buckets are not cumulative"
        assert values[-1] == counts[key]


async def test_metrics_are_prometheus_text_with_histograms(app: Starlette, view: FakeView) -> None:
    view.recorder.observe(sample_trace("t1"))
    view.recorder.observe(sample_trace("t2", offset=200.0))
    async with client(app) as c:
        r = await c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse_metrics(r.text)
    assert samples["cohost_chat_events_total"] == [({}, 7.0)]
    assert samples["cohost_bus_dropped_total"] == [({}, 3.0)]
    assert {lab["outcome"]: v for lab, v in samples["cohost_turns_total"]} == {
        "answered": 1.0,
        "cancelled": 1.0,
    }
    check_histogram(samples, "cohost_stage_seconds")
    check_histogram(samples, "cohost_turn_seconds")
    stages = {lab["stage"]: v for lab, v in samples["cohost_stage_seconds_count"]}
    assert stages == {"recall": 2.0, "simulate": 2.0, "fuse": 2.0}
    simulate = {
        lab["le"]: v
        for lab, v in samples["cohost_stage_seconds_bucket"]
        if lab["stage"] == "simulate"
    }
    assert simulate["0.25"] == 0 and simulate["0.5"] == 2  # each simulate took 0.3 s
    sums = {lab["stage"]: v for lab, v in samples["cohost_stage_seconds_sum"]}
    assert sums["fuse"] == pytest.approx(2.4)  # 1.2 s twice
    [(_, turn_sum)] = samples["cohost_turn_seconds_sum"]
    assert turn_sum == pytest.approx(2.8)  # each turn spans 1.4 s from recall to fuse's end


async def test_metrics_count_reply_quality_and_flaws(app: Starlette, view: FakeView) -> None:
    for n, (quality, flaws) in enumerate(
        [
            (Quality.CLEAN, []),
            (Quality.REPAIRED, [Flaw.LABEL]),
            (Quality.FALLBACK, [Flaw.PROMPT_ECHO, Flaw.LABEL]),
            (Quality.SILENT, [Flaw.RUNAWAY]),
            (None, []),  # nothing was reviewed
        ]
    ):
        trace = sample_trace(f"q{n}")
        trace.quality, trace.flaws = quality, flaws
        view.recorder.observe(trace)
    async with client(app) as c:
        r = await c.get("/metrics")
    samples = parse_metrics(r.text)
    assert {lab["quality"]: v for lab, v in samples["cohost_reply_quality_total"]} == {
        "clean": 1.0,
        "repaired": 1.0,
        "fallback": 1.0,
        "silent": 1.0,
    }
    assert {lab["flaw"]: v for lab, v in samples["cohost_reply_flaws_total"]} == {
        "prompt_echo": 1.0,
        "label": 2.0,
        "runaway": 1.0,
        "too_long": 0.0,  # there from the start, so a rate over it needs no first event
        "cut": 0.0,
    }


async def test_each_app_has_its_own_metrics(view: FakeView) -> None:
    # no process-wide registry: a second app (a test, a restart in-process) starts clean
    other = FakeView()
    other.recorder.observe(sample_trace("t1"))
    first, second = create_web_app(view, token=None), create_web_app(other, token=None)
    async with client(first) as a, client(second) as b:
        samples_a = parse_metrics((await a.get("/metrics")).text)
        samples_b = parse_metrics((await b.get("/metrics")).text)
    assert "cohost_stage_seconds_count" not in samples_a
    assert {lab["stage"] for lab, _ in samples_b["cohost_stage_seconds_count"]} == {
        "recall",
        "simulate",
        "fuse",
    }
    for samples in (samples_a, samples_b):
        assert samples["cohost_web_streams"] == [({}, 0.0)]
        assert samples["cohost_web_stream_dropped"] == [({}, 0.0)]
        [(_, uptime)] = samples["cohost_web_uptime_seconds"]
        assert uptime >= 0


def test_metrics_escape_label_values() -> None:
    recorder = MetricsRecorder(bounds=(1.0,))
    text = render_metrics(recorder.metrics(turns={'odd "one"\\\n': 2}))
    samples = parse_metrics(text)
    [(labels, value)] = samples["cohost_turns_total"]
    assert labels == {"outcome": 'odd \\"one\\"\\\\\\n'} and value == 2
    check_histogram(samples, "cohost_turn_seconds")


# ---- the overlay -------------------------------------------------------------------------


async def test_overlay_and_its_files_need_no_token(app: Starlette) -> None:
    async with client(app) as c:
        page = await c.get("/overlay")
        css = await c.get("/static/overlay.css")
        js = await c.get("/static/overlay.js")
        missing = await c.get("/static/../app.py")
        unknown = await c.get("/static/nothing.js")
    assert page.status_code == 200 and 'src="/static/overlay.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert css.headers["content-type"].startswith("text/css")
    assert "transparent" in css.text
    assert 'EventSource("/events")' in js.text
    assert missing.status_code == 404 and unknown.status_code == 404


async def test_overlay_stream_carries_captions_and_nothing_private(
    app: Starlette, view: FakeView
) -> None:
    r = await read_stream(app, view, "/events", TURN_EVENTS)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert [topic for topic, _ in events] == ["caption"]
    assert '"text": "Hollow Knight again."' in events[0][1]
    assert '"seconds": 2.5' in events[0][1]
    for leak in (PRIVATE, "Friday", "lurker", "@twin hi"):
        assert leak not in r.text


async def test_overlay_hears_a_skip(app: Starlette, view: FakeView) -> None:
    r = await read_stream(
        app,
        view,
        "/events",
        [
            ("caption", CAPTION),
            ("turn/end", {"turn_id": "t1", "outcome": "cancelled", "reason": "!twin skip"}),
        ],
    )
    assert sse_events(r.text) == [
        ("caption", '{"turn_id": "t1", "text": "Hollow Knight again.", "seconds": 2.5}'),
        ("turn/end", '{"turn_id": "t1"}'),
    ]


async def test_a_caption_published_from_another_thread_arrives(
    app: Starlette, view: FakeView
) -> None:
    hub = app.state.hub
    async with client(app) as c:
        request = asyncio.create_task(c.get("/events"))
        await subscribed(hub, request)
        thread = threading.Thread(target=view.bus.publish, args=("caption", CAPTION))
        thread.start()
        await asyncio.to_thread(thread.join)  # its hand-over to the loop was queued before this
        await asyncio.sleep(0)
        hub.close()
        r = await request
    assert [topic for topic, _ in sse_events(r.text)] == ["caption"]


async def test_a_browser_that_stops_reading_loses_the_oldest(
    app: Starlette, view: FakeView
) -> None:
    hub = app.state.hub
    stream = hub.stream("overlay")
    assert await anext(stream) == "retry: 2000\n\n"  # subscribed by now, and not reading
    for n in range(CLIENT_QUEUE + 5):
        view.bus.publish("caption", {**CAPTION, "text": f"line {n}"})
    await asyncio.sleep(0)
    assert hub.dropped == 5
    first = await anext(stream)
    assert '"line 5"' in first
    await stream.aclose()
    assert hub.clients == 0


# ---- the dashboard: who may read it ------------------------------------------------------


async def test_dashboard_asks_for_the_token_once(app: Starlette) -> None:
    async with client(app) as c:
        first = await c.get("/dashboard")
        wrong = await c.get("/dashboard", params={"token": "nope"})
        right = await c.get("/dashboard", params={"token": TOKEN})
        page = await c.get("/dashboard")
    assert first.status_code == 401 and 'name="token"' in first.text
    assert "Turns" not in first.text
    assert wrong.status_code == 401 and "not right" in wrong.text
    assert right.status_code == 303 and right.headers["location"] == "/dashboard"
    cookie = right.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie
    assert page.status_code == 200 and 'id="turns"' in page.text


async def test_dashboard_login_form_needs_its_csrf_value(app: Starlette) -> None:
    async with client(app) as c:
        form = await c.get("/dashboard")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        stale = await c.post("/dashboard/login", data={"token": TOKEN, "csrf": "other"})
        wrong = await c.post("/dashboard/login", data={"token": "nope", "csrf": csrf[1]})
        assert AUTH_COOKIE not in c.cookies
        good = await c.post("/dashboard/login", data={"token": TOKEN, "csrf": csrf[1]})
        page = await c.get("/dashboard")
    assert stale.status_code == 403
    assert wrong.status_code == 401
    assert good.status_code == 303
    assert page.status_code == 200


@pytest.mark.parametrize("path", ["/dashboard/events", "/api/state", "/api/turns"])
async def test_reading_the_dashboard_data_needs_the_token(app: Starlette, path: str) -> None:
    async with client(app) as c:
        none = await c.get(path)
        wrong = await c.get(path, headers={"Authorization": "Bearer nope"})
        c.cookies.set(AUTH_COOKIE, "0" * 64)
        forged = await c.get(path)
    for r in (none, wrong, forged):
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_without_a_token_configured_only_public_endpoints_answer(view: FakeView) -> None:
    app = create_web_app(view, token=None)
    async with client(app) as c:
        dashboard = await c.get("/dashboard", params={"token": ""})
        state = await c.get("/api/state", headers={"Authorization": "Bearer "})
        command = await c.post("/api/command", json={"command": "pause"})
        public = [await c.get(p) for p in ("/overlay", "/healthz", "/metrics")]
    assert dashboard.status_code == 503 and "COHOST_WEB__TOKEN" in dashboard.text
    assert state.status_code == 503 and command.status_code == 503
    assert [r.status_code for r in public] == [200, 200, 200]
    assert view.commands == []


async def test_dashboard_stream_carries_turns_without_journal_text(
    app: Starlette, view: FakeView
) -> None:
    r = await read_stream(
        app, view, "/dashboard/events", TURN_EVENTS, {"Authorization": f"Bearer {TOKEN}"}
    )
    topics = [topic for topic, _ in sse_events(r.text)]
    assert topics == ["chat", "pick", "turn/start", "turn/hits", "caption", "turn/end"]
    # nor a private entry's title: it can say what the text does
    assert '"title": "(private entry)"' in r.text and '"tier": "private"' in r.text
    assert PRIVATE not in r.text and "Friday" not in r.text


async def test_recent_turns_are_cut_down_for_the_page(app: Starlette, view: FakeView) -> None:
    view.turns.append(trace_dict(sample_trace()))
    async with client(app) as c:
        r = await c.get("/api/turns", headers={"Authorization": f"Bearer {TOKEN}"})
    [turn] = r.json()
    assert turn["message"]["text"] == "@twin what are you playing tonight?"
    assert turn["parts"] == {"address": 3.0, "question": 1.5}
    assert turn["why"] == "asked the twin a question by name"
    assert turn["hits"] == [{"title": "(private entry)", "tier": "private", "score": 0.8}]
    assert "Friday" not in r.text
    assert [s["name"] for s in turn["stages"]] == ["recall", "simulate", "fuse"]
    assert turn["stages"][2]["ms"] == pytest.approx(1200.0)
    assert turn["guard"] == [{"rule": "leak", "action": "changed"}]
    assert PRIVATE not in r.text  # nor the prompt that holds it
    assert "prompt" not in turn


async def test_state_shows_the_switches(app: Starlette, view: FakeView) -> None:
    view.state.voice = False
    async with client(app) as c:
        r = await c.get("/api/state", headers={"Authorization": f"Bearer {TOKEN}"})
    state: dict[str, Any] = r.json()["state"]
    assert state["voice"] is False and state["topic"] == "hollow knight"
    assert {"paused", "chat", "rate_per_minute"} <= state.keys()


# ---- the dashboard: commands -------------------------------------------------------------


async def test_a_command_with_the_bearer_token_runs_as_twin_command(
    app: Starlette, view: FakeView
) -> None:
    async with client(app) as c:
        r = await c.post(
            "/api/command",
            json={"command": "pause"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert r.status_code == 200
    assert view.commands == ["!twin pause"]
    body = r.json()
    assert body["accepted"] is True and body["state"]["paused"] is True


async def test_commands_without_the_token_change_nothing(app: Starlette, view: FakeView) -> None:
    async with client(app) as c:
        none = await c.post("/api/command", json={"command": "pause"})
        wrong = await c.post(
            "/api/command", json={"command": "pause"}, headers={"Authorization": "Bearer x"}
        )
        as_query = await c.post(f"/api/command?token={TOKEN}", json={"command": "pause"})
    assert [none.status_code, wrong.status_code, as_query.status_code] == [401, 401, 401]
    assert view.commands == [] and view.state.paused is False


async def test_cookie_commands_need_the_csrf_header(app: Starlette, view: FakeView) -> None:
    async with client(app) as c:
        csrf = await logged_in(c)
        missing = await c.post("/api/command", json={"command": "pause"})
        stale = await c.post(
            "/api/command", json={"command": "pause"}, headers={"X-CSRF-Token": "stale"}
        )
        assert view.commands == []
        good = await c.post(
            "/api/command", json={"command": "voice off"}, headers={"X-CSRF-Token": csrf}
        )
    assert missing.status_code == 403 and stale.status_code == 403
    assert good.status_code == 200 and view.commands == ["!twin voice off"]
    assert view.state.voice is False


async def test_command_bodies_are_checked(app: Starlette, view: FakeView) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with client(app) as c:
        form = await c.post("/api/command", data={"command": "pause"}, headers=bearer)
        empty = await c.post("/api/command", json={"command": "  "}, headers=bearer)
        wrong_shape = await c.post("/api/command", json=["pause"], headers=bearer)
        too_long = await c.post(
            "/api/command", json={"command": "say " + "a" * 600}, headers=bearer
        )
        prefixed = await c.post("/api/command", json={"command": "!twin  resume"}, headers=bearer)
        refused = await c.post("/api/command", json={"command": "dance"}, headers=bearer)
    assert form.status_code == 415
    assert empty.status_code == 400 and wrong_shape.status_code == 400
    assert too_long.status_code == 400
    assert prefixed.status_code == 200
    assert refused.status_code == 409 and refused.json()["reason"] == "unknown command"
    assert view.commands == ["!twin resume", "!twin dance"]


async def test_the_command_prefix_follows_the_settings(view: FakeView) -> None:
    app = create_web_app(view, token=SecretStr(TOKEN), command_prefix="!bot")
    async with client(app) as c:
        r = await c.post(
            "/api/command", json={"command": "pause"}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert view.commands == ["!bot pause"]
    assert r.status_code == 400  # the fake knows only !twin: a None result


async def test_choosing_and_rejecting_candidates(app: Starlette, view: FakeView) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with client(app) as c:
        chosen = await c.post("/api/turns/t1/choose", json={"choice": 1}, headers=bearer)
        gone = await c.post("/api/turns/t9/choose", json={"choice": 0}, headers=bearer)
        rejected = await c.post("/api/turns/t1/reject", headers=bearer)
        bad = [
            await c.post("/api/turns/t1/choose", json=body, headers=bearer)
            for body in ({"choice": -1}, {"choice": "1"}, {"choice": True}, {}, [1])
        ]
        form = await c.post("/api/turns/t1/choose", data={"choice": "1"}, headers=bearer)
    assert chosen.status_code == 200 and chosen.json() == {
        "ok": True,
        "outcome": "answered",
        "reason": "",
    }
    assert gone.status_code == 409 and gone.json()["reason"].startswith("no such turn")
    assert rejected.status_code == 200 and rejected.json()["outcome"] == "silent"
    assert [r.status_code for r in bad] == [400] * 5 and form.status_code == 415
    assert view.choices == [("t1", 1), ("t9", 0), ("t1", None)]


async def test_choosing_needs_the_token_and_the_csrf_header(app: Starlette, view: FakeView) -> None:
    async with client(app) as c:
        anonymous = [
            await c.post("/api/turns/t1/choose", json={"choice": 0}),
            await c.post("/api/turns/t1/reject"),
        ]
        csrf = await logged_in(c)
        no_header = await c.post("/api/turns/t1/reject")
        good = await c.post(
            "/api/turns/t1/choose", json={"choice": 0}, headers={"X-CSRF-Token": csrf}
        )
    assert [r.status_code for r in anonymous] == [401, 401]
    assert no_header.status_code == 403
    assert good.status_code == 200 and view.choices == [("t1", 0)]


async def test_held_turns_and_their_candidates_reach_the_page(
    app: Starlette, view: FakeView
) -> None:
    trace = sample_trace()
    trace.outcome = "held"
    trace.alternatives = ["Hollow Knight, then maybe Celeste."]
    view.turns = [trace_dict(trace)]
    async with client(app) as c:
        r = await c.get("/api/turns", headers={"Authorization": f"Bearer {TOKEN}"})
    [turn] = r.json()
    assert turn["outcome"] == "held"
    assert turn["reply"] == "Hollow Knight again, obviously."
    assert turn["alternatives"] == ["Hollow Knight, then maybe Celeste."]


async def test_a_blocked_turns_reason_never_names_a_private_entry(
    app: Starlette, view: FakeView
) -> None:
    trace = sample_trace()
    trace.outcome = "blocked"
    trace.reason = "1 run(s), 9 words, verbatim from entry 'Divorce lawyer meeting'"
    trace.guard = [GuardVerdict(rule="privacy", action="blocked", detail=trace.reason)]
    view.turns.append(trace_dict(trace))
    async with client(app) as c:
        r = await c.get("/api/turns", headers={"Authorization": f"Bearer {TOKEN}"})
    [turn] = r.json()
    assert turn["reason"] == "blocked by the guard (privacy)"
    assert "Divorce" not in r.text


async def test_only_the_overlay_may_be_framed(app: Starlette) -> None:
    # a page that frames the dashboard could trick clicks on Approve or Pause
    async with client(app) as c:
        overlay = await c.get("/overlay")
        dashboard = await c.get("/dashboard")
        api = await c.get("/api/state", headers={"Authorization": f"Bearer {TOKEN}"})
    assert "frame-ancestors" not in overlay.headers["content-security-policy"]
    assert "x-frame-options" not in overlay.headers
    for page in (dashboard, api):
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"


async def test_a_host_not_allowed_is_refused(
    view: FakeView, caplog: pytest.LogCaptureFixture
) -> None:
    # DNS rebinding: a page that points its own name at 127.0.0.1 still sends its name
    app = create_web_app(view, token=SecretStr(TOKEN), allowed_hosts=["127.0.0.1", "localhost"])
    async with client(app) as c:
        ok = await c.get("/healthz", headers={"Host": "127.0.0.1:8760"})
        also = await c.get("/overlay", headers={"Host": "localhost:8760"})
        rebound = await c.get("/healthz", headers={"Host": "evil.example:8760"})
        await c.get("/metrics", headers={"Host": "evil.example:8760"})
    assert ok.status_code == 200 and also.status_code == 200
    assert rebound.status_code == 400 and rebound.text == "Invalid host header"
    # said once, so that a streamer's own proxy name is found and added
    [said] = [r.getMessage() for r in caplog.records if "refused a request" in r.getMessage()]
    assert "'evil.example'" in said and "COHOST_WEB__ALLOWED_HOSTS" in said


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("[::1]:8760", 200),
        ("LOCALHOST", 200),  # names are compared without case
        ("www.cohost.example", 200),
        ("cohost.example", 400),  # refused, not redirected to the www name
        ("localhost.evil.example", 400),
        ("[::1", 400),  # not a host name at all
        ("", 400),
    ],
)
async def test_only_the_allowed_names_are_answered(view: FakeView, host: str, status: int) -> None:
    allowed = ["localhost", "[::1]", "www.cohost.example"]
    app = create_web_app(view, token=None, allowed_hosts=allowed)
    async with client(app) as c:
        r = await c.get("/healthz", headers={"Host": host})
    assert r.status_code == status


@pytest.mark.parametrize("path", ["/api/command", "/api/turns/t1/choose"])
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 8000 + b"]" * 8000,  # json.loads would recurse past Python's limit: a 500
        b'{"command": ' + b"[" * 9 + b"]" * 9 + b"}",
    ],
)
async def test_json_nested_too_deep_is_a_400_with_a_reason(
    app: Starlette, view: FakeView, path: str, body: bytes
) -> None:
    async with client(app) as c:
        r = await c.post(
            path,
            content=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
    assert r.status_code == 400
    assert r.json() == {"error": "the JSON is nested deeper than 8 levels"}
    assert view.commands == []


async def test_brackets_inside_strings_are_no_nesting(app: Starlette, view: FakeView) -> None:
    async with client(app) as c:
        r = await c.post(
            "/api/command",
            json={"command": "topic " + "[{" * 100 + '\\"'},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert r.status_code != 400, r.text
