"""The journal page in a real headless Chromium: what a person on a phone or a desktop sees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from cohost.journal.store import JournalStore
from cohost.web.journal_page import create_journal_app
from tests.support.browser import ARTIFACTS, CHROMIUM_ARGS, chromium, serve

TOKEN = "browser-test-token"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, JournalStore]]:
    store = JournalStore(tmp_path / "journal")
    with serve(create_journal_app(store, SecretStr(TOKEN))) as url:
        yield url, store


def test_writing_an_entry_on_a_phone_and_a_desktop(server: tuple[str, JournalStore]) -> None:
    executable = chromium()
    from playwright import sync_api  # noqa: PLC0415 (after the check that it is there)

    url, store = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            # A phone: the token once through the address, then just write.
            phone = browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            page = phone.new_page()
            page.goto(f"{url}/?token={TOKEN}")
            assert page.url == f"{url}/"
            assert page.locator("input[name=token]").count() == 0
            button = page.get_by_role("button", name="Save").bounding_box()
            box = page.locator("textarea").bounding_box()
            assert button is not None and box is not None
            assert button["height"] >= 44 and button["width"] >= 300  # a thumb finds it
            assert box["width"] >= 340  # the box spans the phone's width
            page.screenshot(path=ARTIFACTS / "journal-phone.png", full_page=True)
            page.locator("textarea").fill(
                "Raid from a friend, chat went wild.\nRemember to thank them."
            )
            page.locator("input[name=tags]").fill("public")
            page.get_by_role("button", name="Save").click()
            page.wait_for_url(f"{url}/?saved=1")
            assert page.get_by_text("Saved.").is_visible()
            assert page.locator("textarea").input_value() == ""
            page.screenshot(path=ARTIFACTS / "journal-phone-saved.png", full_page=True)
            [entry] = store.entries()
            assert entry.text == "Raid from a friend, chat went wild.\nRemember to thank them."
            assert entry.tier.value == "public"
            assert "Raid from a friend" not in page.content()
            phone.close()

            # A desktop, first visit: the token goes in the form's own field.
            desktop = browser.new_context(viewport={"width": 1280, "height": 800})
            page = desktop.new_page()
            page.goto(url)
            page.screenshot(path=ARTIFACTS / "journal-desktop.png")
            page.locator("textarea").fill("Second entry from the desk.")
            page.locator("input[name=token]").fill(TOKEN)
            page.get_by_role("button", name="Save").click()
            page.wait_for_url(f"{url}/?saved=1")
            page.screenshot(path=ARTIFACTS / "journal-desktop-saved.png")
            desktop.close()

            # Without JavaScript it is the same form post.
            plain = browser.new_context(java_script_enabled=False)
            page = plain.new_page()
            page.goto(f"{url}/?token={TOKEN}")
            page.locator("textarea").fill("Written with scripts off.")
            page.get_by_role("button", name="Save").click()
            page.wait_for_url(f"{url}/?saved=1")
            plain.close()
        finally:
            browser.close()
    assert sorted(e.text for e in store.entries()) == [
        "Raid from a friend, chat went wild.\nRemember to thank them.",
        "Second entry from the desk.",
        "Written with scripts off.",
    ]
