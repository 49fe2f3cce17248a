"""The dashboard shows the twin's welcomes back to regulars, in a real headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from cohost.core.bus_events import StreamEventSeen, WelcomeGiven
from cohost.core.serialise import emit
from cohost.web.app import create_web_app
from tests.support.browser import serve
from tests.web.test_app import TOKEN, FakeView
from tests.web.test_browser import WAIT_MS, _browser


@pytest.fixture
def served() -> Iterator[tuple[str, FakeView]]:
    view = FakeView()
    app = create_web_app(view, token=SecretStr(TOKEN))
    with serve(app, before_stop=app.state.hub.close) as url:
        yield url, view


def test_dashboard_shows_welcomes_beside_stream_events_and_keeps_them(
    served: tuple[str, FakeView],
) -> None:
    url, view = served
    with _browser() as (browser, expect):
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{url}/dashboard?token={TOKEN}")
        page.wait_for_url(f"{url}/dashboard")
        page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
        stream = page.locator("#stream-log")

        emit(
            view.bus,
            StreamEventSeen(
                event_id="r1", kind="raid", login="raider", display_name="Raider", amount=12,
                thanked=True,
            ),
        )  # fmt: skip
        emit(
            view.bus,
            WelcomeGiven(mode="template", names=("Ana", "Bea"), text="welcome back, Ana and Bea!"),
        )
        emit(view.bus, WelcomeGiven(mode="reply", names=("Cy",), text="twin, how is gerald?"))
        expect(stream.locator("li")).to_have_count(3, timeout=WAIT_MS)
        newest, template, raid = (stream.locator("li").nth(i).inner_text() for i in range(3))
        assert "welcomed in a reply" in newest and "Cy" in newest
        assert "gerald" not in newest  # the chatter's line is in the chat panel already
        assert "welcomed" in template and "Ana, Bea" in template
        assert "welcome back, Ana and Bea!" in template
        assert "raid" in raid and "12 viewers" in raid
        assert page.locator("li.welcome").count() == 2
        assert page.locator("li.turn").count() == 0  # welcomes are not turns

        # a reload shows them again, from the daemon's history
        page.reload()
        expect(stream.locator("li")).to_have_count(3, timeout=WAIT_MS)
        assert "welcomed in a reply" in stream.locator("li").first.inner_text()
