"""The overlay and the dashboard in a real headless Chromium: what OBS and the streamer see."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import SecretStr

from cohost.core.bus_events import (
    CommandDone,
    HitShown,
    MessagePicked,
    MessageSeen,
    SimulatedLine,
    TurnEnded,
    TurnRecalled,
    TurnReplied,
    TurnSimulated,
    TurnStarted,
)
from cohost.core.serialise import emit, trace_dict
from cohost.web.app import create_web_app
from tests.support.browser import ARTIFACTS, CHROMIUM_ARGS, chromium, screenshot, serve
from tests.web.test_app import CAPTION, PRIVATE, TOKEN, FakeView, sample_trace

SIZES = [(1920, 1080), (1366, 768)]
WAIT_MS = 10_000  # how long a page may take to show what was published (not a timing check)


@pytest.fixture
def served() -> Iterator[tuple[str, FakeView]]:
    view = FakeView()
    view.turns.append(trace_dict(sample_trace("seeded")))
    app = create_web_app(view, token=SecretStr(TOKEN))
    with serve(app, before_stop=app.state.hub.close) as url:
        yield url, view


@contextlib.contextmanager
def _browser() -> Iterator[tuple[Any, Any]]:
    """Headless Chromium through Playwright, and Playwright's `expect`; closed afterwards."""
    executable = chromium()
    from playwright import sync_api  # noqa: PLC0415 (after the check that it is there)

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser, sync_api.expect
        finally:
            browser.close()


def publish_turn(view: FakeView) -> None:
    """A live turn as the daemon publishes it, from the test's thread."""
    bus = view.bus
    emit(
        bus,
        MessagePicked(
            message_id="m-live",
            login="speedyfan",
            text="twin, any tips for the mantis lords?",
            picked=True,
            score=3.2,
            parts={"address": 2.0, "question": 1.2},
            reason="addressed the twin with a question",
            category="picked",
        ),
    )
    emit(bus, TurnStarted(turn_id="live", message_id="m-live"))
    # an event cannot carry a hit's text: its schema has no such field
    hit = HitShown(entry_id="mantis", title="Mantis lords notes", tier="public", score=0.8)
    emit(bus, TurnRecalled(turn_id="live", hits=(hit,)))
    line = SimulatedLine(speaker="twin", text="dash through, never jump", is_twin=True)
    emit(bus, TurnSimulated(turn_id="live", lines=(line,)))
    emit(bus, TurnReplied(turn_id="live", reply="Dash through them, never jump."))
    emit(bus, TurnEnded(turn_id="live", outcome="answered", reason=""))


def test_overlay_shows_a_caption_and_lets_it_fade(served: tuple[str, FakeView]) -> None:
    url, view = served
    with _browser() as (browser, expect):
        for width, height in SIZES:
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.goto(f"{url}/overlay")
            page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == "rgba(0, 0, 0, 0)"  # OBS shows the scene through it
            view.bus.publish(
                "caption",
                {**CAPTION, "text": "Dash through them, never jump. Trust me on this one."},
            )
            page.wait_for_selector("#caption.shown", timeout=WAIT_MS)
            expect(page.locator("#caption")).to_have_css("opacity", "1", timeout=WAIT_MS)
            caption = page.locator("#caption")
            assert caption.inner_text() == "Dash through them, never jump. Trust me on this one."
            box = caption.bounding_box()
            assert box is not None
            assert box["y"] + box["height"] <= height and box["y"] > height / 2  # lower half
            assert box["width"] <= width * 0.8
            page.screenshot(path=ARTIFACTS / f"overlay-{width}x{height}.png")
            context.close()

        # A short caption fades out after its end, without any other event.
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{url}/overlay")
        page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
        view.bus.publish("caption", {"turn_id": "t2", "text": "Hi!", "start": 0, "end": 0.6})
        page.wait_for_selector("#caption.shown", timeout=WAIT_MS)
        page.wait_for_selector("#caption:not(.shown)", state="attached", timeout=WAIT_MS)
        # A skip cuts the caption of the turn it cancels.
        view.bus.publish("caption", {**CAPTION, "start": 0, "end": 25})
        page.wait_for_selector("#caption.shown", timeout=WAIT_MS)
        view.bus.publish("turn/end", {"turn_id": "t1", "outcome": "cancelled", "reason": ""})
        page.wait_for_selector("#caption:not(.shown)", state="attached", timeout=WAIT_MS)


def test_dashboard_shows_turns_and_pauses_the_twin(served: tuple[str, FakeView]) -> None:
    url, view = served
    with _browser() as (browser, expect):
        # First visit: the page asks for the token in its own form.
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        page = context.new_page()
        page.goto(f"{url}/dashboard")
        assert page.locator("#turns").count() == 0
        page.screenshot(path=ARTIFACTS / "dashboard-login-1920x1080.png")
        page.locator("input[name=token]").fill(TOKEN)
        page.get_by_role("button", name="Open").click()
        page.wait_for_url(f"{url}/dashboard")

        # The seeded turn: the message, why it was picked, what was recalled, stage times.
        seeded = page.locator("li.turn[data-turn='seeded']")
        seeded.wait_for(timeout=WAIT_MS)
        text = seeded.inner_text()
        for shown in (
            "@twin what are you playing tonight?",
            "asked the twin a question by name",
            "address +3.00",
            "(private entry)",  # never a private entry's title
            "private",
            "Hollow Knight again, obviously.",
            "simulate",
            "1.20 s",
        ):
            assert shown in text, shown
        assert "Friday plans" not in text
        page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)

        # A live turn over the bus.
        publish_turn(view)
        live = page.locator("li.turn[data-turn='live']")
        live.wait_for(timeout=WAIT_MS)
        expect(live.locator(".reply")).to_have_text(
            "Dash through them, never jump.", timeout=WAIT_MS
        )
        live_text = live.inner_text()
        for shown in ("speedyfan", "mantis lords", "question +1.20", "Mantis lords notes"):
            assert shown in live_text, shown
        assert PRIVATE not in page.content()

        # Pause: the command runs as the broadcaster and the page shows the new state.
        assert page.locator("#pause").inner_text() == "Pause"
        page.locator("#pause").click()
        expect(page.locator("#pause")).to_have_text("Resume", timeout=WAIT_MS)
        assert view.commands == ["!twin pause"]
        assert view.state.paused is True
        assert page.locator(".pill", has_text="paused").count() == 1
        assert "!twin pause: done" in page.locator("#notice").inner_text()
        page.screenshot(path=ARTIFACTS / "dashboard-1920x1080.png")
        context.close()

        # The laptop size, token through the address once.
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        page.goto(f"{url}/dashboard?token={TOKEN}")
        page.wait_for_url(f"{url}/dashboard")
        page.locator("li.turn[data-turn='seeded']").wait_for(timeout=WAIT_MS)
        expect(page.locator("#pause")).to_have_text("Resume", timeout=WAIT_MS)
        page.locator("#voice").click()
        expect(page.locator("#voice")).to_have_text("Voice on", timeout=WAIT_MS)
        assert view.commands == ["!twin pause", "!twin voice off"]
        page.screenshot(path=ARTIFACTS / "dashboard-1366x768.png")
        context.close()


def test_dashboard_holds_replies_for_approval(served: tuple[str, FakeView]) -> None:
    url, view = served
    with _browser() as (browser, expect):
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        page = context.new_page()
        page.goto(f"{url}/dashboard?token={TOKEN}")
        page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)

        # Hold replies: the switch is a command, and the state shows it.
        page.locator("#hold").click()
        expect(page.locator("#hold")).to_have_text("Stop holding", timeout=WAIT_MS)
        assert view.commands == ["!twin hold on"] and view.state.hold is True
        assert page.locator(".pill", has_text="holding replies").count() == 1

        # A held turn with three candidates; none of them went anywhere yet.
        view.bus.publish("turn/start", {"turn_id": "t1", "message_id": "m-held"})
        candidates = ["Dash, never jump.", "Learn their rhythm first.", "Nail upgrades help."]
        view.bus.publish("turn/held", {"turn_id": "t1", "candidates": candidates})
        held = page.locator("li.turn[data-turn='t1']")
        expect(held.locator(".choices-h")).to_have_text(
            re.compile(r"Waiting for your approval \(expires in (2:00|1:[0-5]\d)\)"),
            timeout=WAIT_MS,
        )
        expect(held.locator(".outcome")).to_have_text("held")
        assert held.locator(".candidate").all_inner_texts() == candidates
        assert held.locator(".reject").is_visible()
        screenshot(page, "dashboard-held-1920x1080.png", docs="dashboard-held.png")

        # Approving the second candidate sends that choice to the daemon, once.
        held.locator("li", has_text="Learn their rhythm first.").get_by_role(
            "button", name="Approve"
        ).click()
        expect(page.locator("#notice")).to_contain_text(
            "approved candidate 2: done", timeout=WAIT_MS
        )
        assert view.choices == [("t1", 1)]
        expect(held.locator("button.choose")).to_have_count(0, timeout=WAIT_MS)
        expect(held.locator(".outcome")).to_have_text("answered")
        context.close()


# ---- OBS: Custom CSS, the name tag, position and theme (issue #19) ---------------------------

# What obs-browser runs in the page on load when a browser source has Custom CSS (its
# BrowserClient::OnLoadEnd): a <style> element with the CSS as a text node, appended to <head>.
OBS_INJECTS = """(css) => {
  const obsCSS = document.createElement('style');
  obsCSS.appendChild(document.createTextNode(decodeURIComponent(css)));
  document.querySelector('head').appendChild(obsCSS);
}"""
CUSTOM_CSS = "#caption { color: rgb(255, 200, 0) !important; font-size: 20px !important; }"


def test_obs_custom_css_restyles_the_caption_and_scripts_stay_locked(
    served: tuple[str, FakeView],
) -> None:
    url, view = served
    with _browser() as (browser, _):
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        violations: list[str] = []
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
        )
        page.goto(f"{url}/overlay")
        page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
        page.evaluate(OBS_INJECTS, quote(CUSTOM_CSS))
        view.bus.publish("caption", {**CAPTION, "text": "Dash through them, never jump."})
        page.wait_for_selector("#caption.shown", timeout=WAIT_MS)
        style = page.evaluate(
            "[getComputedStyle(caption).color, getComputedStyle(caption).fontSize]"
        )
        assert style == ["rgb(255, 200, 0)", "20px"]
        assert violations == []
        # the older obs-browser way: a <link> to a data: URL
        page.evaluate(
            """(css) => { const l = document.createElement('link'); l.rel = 'stylesheet';
            l.href = 'data:text/css;base64,' + btoa(css); document.head.appendChild(l); }""",
            "#caption { letter-spacing: 7px !important; }",
        )
        page.wait_for_function("getComputedStyle(caption).letterSpacing === '7px'", timeout=WAIT_MS)
        # an inline script is still refused: only styles were opened up
        page.evaluate(
            """() => { const s = document.createElement('script');
            s.textContent = 'window.pwned = 1'; document.head.appendChild(s); }"""
        )
        assert page.evaluate("window.pwned === undefined")
        # the name tag shows with the caption, so viewers know an AI is talking
        assert page.locator("#tag").inner_text() == "AI CO-HOST"  # its CSS capitalises it
        page.screenshot(path=ARTIFACTS / "overlay-custom-css-1920x1080.png")


def test_overlay_query_parameters_place_and_label_the_caption(
    served: tuple[str, FakeView],
) -> None:
    url, view = served
    with _browser() as (browser, _):
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{url}/overlay?position=top&theme=box&label=Mossbot%20(AI)")
        page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
        view.bus.publish("caption", {**CAPTION, "text": "Hello from the top."})
        page.wait_for_selector("#caption.shown", timeout=WAIT_MS)
        box = page.locator("#caption").bounding_box()
        assert box is not None
        assert box["y"] < 768 / 2  # top half
        assert page.locator("#tag").inner_text() == "MOSSBOT (AI)"
        background = page.evaluate("getComputedStyle(caption).backgroundColor")
        assert background != "rgba(0, 0, 0, 0)"  # the box theme
        untagged = browser.new_page(viewport={"width": 1366, "height": 768})
        untagged.goto(f"{url}/overlay?tag=0")
        untagged.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
        view.bus.publish("caption", {**CAPTION, "text": "No tag here."})
        untagged.wait_for_selector("#caption.shown", timeout=WAIT_MS)
        assert untagged.locator("#tag").is_hidden()


# ---- the dashboard steers: typed commands, edits, history after a reload (issue #19) ---------


def test_dashboard_types_commands_edits_a_held_reply_and_keeps_history(
    served: tuple[str, FakeView],
) -> None:
    url, view = served
    with _browser() as (browser, expect):
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{url}/dashboard?token={TOKEN}")
        page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)

        # say / ask / topic / note: typed, sent through the one command path
        page.locator("#verb").select_option("ask")
        page.locator("#words").fill("what  game is next?")
        page.locator("#send").click()
        expect(page.locator("#notice")).to_contain_text("!twin ask what game is next?")
        assert view.commands[-1] == "!twin ask what game is next?"

        # a skipped message says why in words, never a rule's code name
        emit(
            view.bus,
            MessageSeen(
                message_id="m-gap",
                login="quickfan",
                text="hi again",
                picked=False,
                score=0.4,
                parts={},
                reason="Held back: the twin answered someone 3 s ago.",
                category="gap",
            ),
        )
        line = page.locator("#chat-log li", has_text="hi again")
        expect(line.locator(".cat")).to_have_text("answered someone just now", timeout=WAIT_MS)
        expect(line.locator(".why")).to_have_text("Held back: the twin answered someone 3 s ago.")
        emit(
            view.bus,
            CommandDone(
                command="bad", login="oakmod", source="chat", accepted=True, reason="turn t0",
                reply="noted (bad): the last reply",
            ),
        )  # fmt: skip
        expect(page.locator("#commands")).to_contain_text("noted (bad): the last reply")

        # a held reply, edited before it is approved
        view.bus.publish("turn/start", {"turn_id": "t1", "message_id": "m-held"})
        view.bus.publish("turn/held", {"turn_id": "t1", "candidates": ["Dash, never jump."]})
        held = page.locator("li.turn[data-turn='t1']")
        held.get_by_role("button", name="Edit").click(timeout=WAIT_MS)
        held.locator("textarea.edited").fill("Dash through, and never jump.")
        held.get_by_role("button", name="Approve edited").click()
        expect(page.locator("#notice")).to_contain_text("edited: done", timeout=WAIT_MS)
        assert view.choices == [("t1", 0)] and view.edits == ["Dash through, and never jump."]
        screenshot(page, "dashboard-steer-1920x1080.png")

        # after a reload, chat and commands are still there
        page.reload()
        page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
        expect(page.locator("#chat-log")).to_contain_text("hi again", timeout=WAIT_MS)
        expect(page.locator("#commands")).to_contain_text("noted (bad): the last reply")
