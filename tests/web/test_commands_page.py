"""The read-only `!twin` commands page: the controller's own table, public, and in Chromium."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
from pydantic import SecretStr

from cohost.control.controller import (
    ALIASES,
    DESCRIPTIONS,
    AddedCommand,
    CommandCall,
    Controller,
    TwinActions,
)
from cohost.core.clock import RealClock
from cohost.core.events import Role
from cohost.core.options import CONTROL_COMMANDS, ControlSettings
from cohost.core.state import TwinState
from cohost.web.app import create_web_app
from tests.support.browser import ARTIFACTS, CHROMIUM_ARGS, chromium, serve
from tests.web.test_app import TOKEN, FakeView


async def _shout(call: CommandCall) -> str | None:
    return call.args.upper()


SHOUT = AddedCommand(
    name="shout",
    usage="shout TEXT",
    run=_shout,
    level="vip",
    cooldown_s=12.0,
    takes_text=True,
    description="says it louder <b>now</b>",  # markup in a description is shown as text
)


def _controller(**settings: object) -> Controller:
    control = ControlSettings.model_validate(settings)
    # the page lists commands and runs none: no action is ever called
    actions: TwinActions = object()  # type: ignore[assignment]
    return Controller(control, TwinState(), actions, RealClock(), None, added=[SHOUT])


def _rows(page: str) -> dict[str, str]:
    return {
        m.group(1): m.group(2)
        for m in re.finditer(r'<tr id="cmd-[^"]+" data-command="([^"]+)">(.*?)</tr>', page, re.S)
    }


async def _get(controller: Controller, path: str = "/commands") -> httpx.Response:
    app = create_web_app(
        FakeView(),
        token=SecretStr(TOKEN),
        commands=controller.commands,
        cooldown_bypass=controller.settings.cooldown_bypass,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.get(path)


async def test_the_page_lists_every_command_the_controller_knows() -> None:
    controller = _controller(
        permissions={"status": "everyone"}, cooldowns_s={"say": 9}, user_cooldowns_s={"ask": 150}
    )
    response = await _get(controller)  # no token: the page is public and read-only
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    rows = _rows(response.text)
    assert list(rows) == [*CONTROL_COMMANDS, "shout"]  # in the order help lists them
    for name in CONTROL_COMMANDS:
        assert html.escape(DESCRIPTIONS[name]) in rows[name], name
    for alias, (command, _) in ALIASES.items():
        assert f"<code>!twin {alias}</code>" in rows[command], alias
    # who may use each, and the cooldowns, as the settings make them
    assert 'data-level="everyone">everyone<' in rows["help"]
    assert 'data-level="everyone">everyone<' in rows["status"]  # set above
    assert 'data-level="broadcaster">the streamer<' in rows["note"]
    assert 'data-level="moderator">moderators and up<' in rows["pause"]
    assert 'data-level="vip">VIPs and up<' in rows["shout"]
    assert '<td class="cd">9 s</td>' in rows["say"]
    assert '<td class="cd">5 s</td><td class="cd">2.5 min</td>' in rows["ask"]
    assert '<td class="cd">12 s</td>' in rows["shout"]
    assert "says it louder &lt;b&gt;now&lt;/b&gt;" in rows["shout"]
    assert "moderators and up skip both" in response.text


async def test_help_and_the_page_read_one_table() -> None:
    controller = _controller()
    page = _rows((await _get(controller)).text)
    reply = await controller.handle("!twin help", login="mod", role=Role.MODERATOR, source="chat")
    assert reply is not None and reply.reply is not None
    listed = reply.reply.removeprefix("!twin ").split(" | ")
    # a moderator is offered every command but the streamer's own, each as the page says it
    for info in controller.commands():
        assert (info.usage.removeprefix("!twin ") in listed) == (info.level != "broadcaster")
        assert html.escape(info.usage) in page[info.name]
    described = await controller.handle(
        "!twin help stop", login="mod2", role=Role.MODERATOR, source="chat"
    )
    assert described is not None
    assert described.reply == (
        "!twin pause: " + DESCRIPTIONS["pause"] + " (also !twin stop, !twin off)"
    )


async def test_without_a_controller_there_is_no_page() -> None:
    app = create_web_app(FakeView(), token=SecretStr(TOKEN))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        assert (await client.get("/commands")).status_code == 404


def test_the_commands_page_in_chromium() -> None:
    executable = chromium()
    from playwright import sync_api  # noqa: PLC0415 (after the check that it is there)

    controller = _controller()
    app = create_web_app(FakeView(), token=SecretStr(TOKEN), commands=controller.commands)
    ARTIFACTS.mkdir(exist_ok=True)
    with serve(app, before_stop=app.state.hub.close) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            for width, height, name in ((1366, 768, "desktop"), (390, 844, "phone")):
                page = browser.new_page(viewport={"width": width, "height": height})
                violations: list[str] = []

                def console(m: Any, seen: list[str] = violations) -> None:
                    if "Security" in m.text:
                        seen.append(m.text)

                def response(r: Any, seen: list[str] = violations) -> None:
                    if r.status >= 400 and not r.url.endswith("/favicon.ico"):
                        seen.append(r.url)

                page.on("console", console)
                page.on("response", response)
                page.goto(f"{url}/commands")
                rows = page.locator("#commands tbody tr")
                assert rows.count() == len(controller.commands())
                pause = page.locator("#cmd-pause")
                assert "!twin stop" in pause.inner_text()
                assert pause.locator("td.who").inner_text() == "moderators and up"
                # the page's own stylesheet applied (a CSP that blocked it would show here)
                weight = page.evaluate(
                    "getComputedStyle(document.querySelector('td.who[data-level=everyone]'))"
                    ".fontWeight"
                )
                assert weight == "600"
                width_px = page.evaluate("document.documentElement.scrollWidth")
                assert width_px <= width + 1  # nothing runs off a phone's screen
                assert violations == []
                page.screenshot(path=ARTIFACTS / f"commands-{name}.png", full_page=False)
                page.close()
        finally:
            browser.close()
