"""The dashboard shows raids, subs and cheers and their thank-yous, in a real headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from cohost.core.bus_events import StreamEventSeen, ThanksGiven
from cohost.core.serialise import emit
from cohost.web.app import create_web_app
from tests.support.browser import ARTIFACTS, serve
from tests.web.test_app import TOKEN, FakeView
from tests.web.test_browser import WAIT_MS, _browser

RAIDER = "\u202eRaider"  # a bidi override in a name reorders only that name


@pytest.fixture
def served() -> Iterator[tuple[str, FakeView]]:
    view = FakeView()
    app = create_web_app(view, token=SecretStr(TOKEN))
    with serve(app, before_stop=app.state.hub.close) as url:
        yield url, view


def test_dashboard_shows_stream_events_and_thanks_and_keeps_them(
    served: tuple[str, FakeView],
) -> None:
    url, view = served
    with _browser() as (browser, expect):
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{url}/dashboard?token={TOKEN}")
        page.wait_for_url(f"{url}/dashboard")
        page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
        stream = page.locator("#stream-log")
        assert page.locator("#no-stream").is_visible()

        emit(
            view.bus,
            StreamEventSeen(
                event_id="r1", kind="raid", login="raider", display_name=RAIDER, amount=500,
                thanked=True,
            ),
        )  # fmt: skip
        emit(
            view.bus,
            StreamEventSeen(
                event_id="c1", kind="cheer", login="tiny", display_name="tiny", amount=5,
                thanked=False,
            ),
        )  # fmt: skip
        emit(
            view.bus,
            ThanksGiven(
                kind="raid", mode="template", names=(RAIDER,), count=1, amount=500, events=1,
                text="Thank you for the raid, Raider!",
            ),
        )  # fmt: skip
        expect(stream.locator("li")).to_have_count(3, timeout=WAIT_MS)
        assert not page.locator("#no-stream").is_visible()
        newest, cheer, raid = (stream.locator("li").nth(i).inner_text() for i in range(3))
        assert "Thank you for the raid, Raider!" in newest and RAIDER in newest
        assert "cheer" in cheer and "5 bits" in cheer and "not thanked" in cheer
        assert "raid" in raid and "500 viewers" in raid and RAIDER in raid
        # stream events are not turns: the turn list stays empty
        assert page.locator("li.turn").count() == 0
        page.screenshot(path=ARTIFACTS / "dashboard-stream-1366x768.png")

        # a reload shows them again, from the daemon's history
        page.reload()
        expect(stream.locator("li")).to_have_count(3, timeout=WAIT_MS)
        assert "Thank you for the raid" in stream.locator("li").first.inner_text()
