"""The twin's desk in a real headless Chromium: talking (streamed reply, voice) and teaching
with the keyboard, over the real web app, the embedded twin and the real espeak-ng voice."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from cohost.app.build import build_models
from cohost.app.demo import DEMO_STREAMER, DEMO_TWIN, demo_files
from cohost.app.desk import Desk, DeskHome
from cohost.app.recall_wiring import folder_journal
from cohost.app.settings import Settings
from cohost.dataset.desk import read_desk_examples, read_desk_pairs
from cohost.web.app import create_web_app
from tests.support.audio import require_espeak
from tests.support.browser import ARTIFACTS, CHROMIUM_ARGS, chromium, screenshot, serve

TOKEN = "desk-token-for-tests"
WAIT_MS = 20_000  # how long the page may take to show what the desk did (not a timing check)


@pytest.fixture
def desk_url(tmp_path: Path) -> Iterator[tuple[str, Desk]]:
    """The web app with the desk of the demo twin, its journal, and the default voice."""
    require_espeak()  # the desk's voice (on CI it must be there: a failure, not a skip)
    settings = Settings(
        data_dir=tmp_path / "data",
        twin={
            "name": DEMO_TWIN,
            "streamer": DEMO_STREAMER,
            "writings": [demo_files() / "writing.md"],
        },
        # the lexical embedder: recall without loading a model; a floor its scores clear
        journal={"embedding_model": "hashing", "recall_min_score": 0.05},
    )
    models = build_models(settings)
    journal = demo_files() / "journal"
    with folder_journal(settings, journal, tmp_path / "index") as (recall, _):
        desk = Desk(settings, models, journal=recall, journal_folder=journal)
        app = create_web_app(DeskHome(desk), token=SecretStr(TOKEN), desk=desk)
        with serve(app, before_stop=app.state.hub.close) as url:
            yield url, desk


@contextlib.contextmanager
def _page(url: str, *, signed_in: bool = True) -> Iterator[tuple[Any, Any]]:
    """The desk in Chromium, opened with the token in the address (or, not signed in, bare)."""
    executable = chromium()
    from playwright import sync_api  # noqa: PLC0415 (after the check that it is there)

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        # the voice plays as the reply arrives, as a streamer's browser lets a page it trusts
        args = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
        browser = pw.chromium.launch(executable_path=executable, args=args)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            if signed_in:
                page.goto(f"{url}/desk?token={TOKEN}")
                page.wait_for_url(f"{url}/desk")
                page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
            yield page, sync_api.expect
        finally:
            browser.close()


def test_logging_in_on_the_desk_lands_on_it_and_the_dashboard_links_both_ways(
    desk_url: tuple[str, Desk],
) -> None:
    url, _ = desk_url
    with _page(url, signed_in=False) as (page, expect):
        page.goto(f"{url}/desk")  # no cookie yet: the token is asked for
        page.locator("#token").fill(TOKEN)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/desk")  # back where the login was asked, not the dashboard
        page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
        page.locator("#dashboard-link").click()
        page.wait_for_url(f"{url}/dashboard")
        expect(page.locator("#live")).to_have_class(re.compile(r"\bup\b"), timeout=WAIT_MS)
        page.locator("#desk-link").click()
        page.wait_for_url(f"{url}/desk")
        page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)


def test_a_message_typed_on_the_desk_gets_a_streamed_reply_with_audio(
    desk_url: tuple[str, Desk],
) -> None:
    url, desk = desk_url
    with _page(url) as (page, expect):
        page.locator("#message").fill("mossbot, how is the keyboard build going?")
        page.keyboard.press("Enter")
        reply = page.locator("#conversation li.twin[data-outcome='answered']")
        reply.wait_for(timeout=WAIT_MS)
        text = reply.locator(".text").inner_text()
        assert desk.last is not None and text.strip() and text == desk.last.reply
        assert int(reply.get_attribute("data-pieces") or 0) >= 1  # it came in pieces
        # the voice: the piece's WAV fetched from the desk (token cookie) and loaded
        page.wait_for_selector("body[data-audio-pieces]", timeout=WAIT_MS)
        assert float(page.locator("body").get_attribute("data-audio-seconds") or 0) > 0.3
        src = page.evaluate("document.getElementById('voice').currentSrc")
        assert "/desk/audio/desk-" in src
        # what it recalled (public titles only) and simulated
        expect(page.locator("#recalled")).to_contain_text("Keyboard build · public")
        assert page.locator("#simulated li").count() >= 1
        assert "mossbot: " in page.locator("#simulated").inner_text()
        content = page.content()
        for kept in ("Feeling tired after long streams", "Six hour streams", "Flat hunting"):
            assert kept not in content
        # as a viewer
        page.locator("#as").fill("tinkerfox")
        page.locator("#message").fill("are you tired after long streams?")
        page.keyboard.press("Enter")
        expect(page.locator("#conversation li.twin[data-outcome]")).to_have_count(
            2, timeout=WAIT_MS
        )
        assert page.locator("#conversation li b", has_text="tinkerfox").count() == 1
        page.screenshot(path=ARTIFACTS / "desk-talk-1366x800.png")
    # the audio played was the desk's own WAV, written by the configured voice
    assert list(desk.audio.glob("desk-*.wav"))


def test_choices_made_with_the_keyboard_land_as_pairs_and_examples(
    desk_url: tuple[str, Desk],
) -> None:
    url, desk = desk_url
    pairs_file = desk.store.pairs
    with _page(url) as (page, expect):
        page.locator("#prompt").fill("what game is next?")
        page.keyboard.press("Enter")
        page.wait_for_selector("#candidates li.candidate", timeout=WAIT_MS)
        shown = page.locator("#candidates li.candidate .text").all_inner_texts()
        assert 2 <= len(shown) <= 4
        assert page.locator("#progress").inner_text().startswith("Prompt 1")
        page.keyboard.press("2")  # the second candidate is the best
        expect(page.locator("body")).to_have_attribute(
            "data-pairs", str(len(shown) - 1), timeout=WAIT_MS
        )
        pairs, _ = read_desk_pairs(pairs_file)
        assert {p["chosen"] for p in pairs} == {f" {shown[1]}\n"}
        assert sorted(p["rejected"] for p in pairs) == sorted(
            f" {t}\n" for i, t in enumerate(shown) if i != 1
        )
        assert all(p["prompt"].endswith("mossbyte: what game is next?\nmossbot:") for p in pairs)
        assert page.locator("#count-pairs").inner_text() == f"{len(shown) - 1} pairs"

        # a written answer: w, type, Enter
        page.locator("#prompt").fill("how is gerald doing?")
        page.keyboard.press("Enter")
        expect(page.locator("#progress")).to_contain_text("Prompt 2", timeout=WAIT_MS)
        page.keyboard.press("w")
        expect(page.locator("#answer")).to_be_focused()
        page.keyboard.type("gerald doubled this morning, best rise all month")
        page.keyboard.press("Enter")
        expect(page.locator("body")).to_have_attribute("data-examples", "1", timeout=WAIT_MS)
        examples, _ = read_desk_examples(desk.store.examples)
        assert [e.splitlines()[-1] for e in examples] == [
            "mossbot: gerald doubled this morning, best rise all month"
        ]
        assert "mossbyte: how is gerald doing?" in examples[0]

        # prompts from a real chat log; b marks them all bad and the next one comes
        page.locator("#source-kind").select_option("log")
        page.locator("#source-path").fill(str(demo_files() / "chat.txt"))
        page.locator("#source-use").click()
        expect(page.locator("#progress")).to_contain_text("Prompt 1 · ", timeout=WAIT_MS)
        assert page.locator("#progress").inner_text().endswith("chat.txt#2")
        assert page.locator("#prompt-lines li").last.inner_text() == "leafwhistle: hiii moss"
        page.locator("body").click(position={"x": 5, "y": 5})  # keys go to the page, not a field
        page.keyboard.press("b")
        expect(page.locator("#progress")).to_contain_text("Prompt 2 · ", timeout=WAIT_MS)
        expect(page.locator("#count-choices")).to_contain_text("1 all bad", timeout=WAIT_MS)
        page.screenshot(path=ARTIFACTS / "desk-teach-1366x800.png")

        # u takes the last choice back; the written answer stays
        page.keyboard.press("u")
        expect(page.locator("#count-choices")).to_contain_text("0 all bad", timeout=WAIT_MS)
        assert desk.counts().examples == 1
        # the picture the docs show: a conversation and a lesson side by side
        page.locator("#message").fill("mossbot, how is the keyboard build going?")
        page.keyboard.press("Enter")
        page.locator("#conversation li.twin[data-outcome]").wait_for(timeout=WAIT_MS)
        screenshot(page, "desk-1366x800.png", docs="desk.png")
    lines = [json.loads(line) for line in desk.store.choices.read_text().splitlines()]
    assert [r["kind"] for r in lines] == ["picked", "written"]
