"""The desk's routes in-process: the token, CSRF, what a page may see, bad input."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from cohost.app.build import build_models
from cohost.app.demo import DEMO_STREAMER, DEMO_TWIN, demo_files
from cohost.app.desk import Desk, DeskHome, DeskPrompt, DeskSlot
from cohost.app.recall_wiring import folder_journal
from cohost.app.settings import Settings
from cohost.dataset.desk import Candidate
from cohost.web.app import create_web_app

TOKEN = "desk-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    settings = Settings(
        data_dir=tmp_path / "data",
        twin={
            "name": DEMO_TWIN,
            "streamer": DEMO_STREAMER,
            "writings": [demo_files() / "writing.md"],
        },
        journal={"embedding_model": "hashing", "recall_min_score": 0.05},
        speech={"engine": "captions"},
    )
    journal = demo_files() / "journal"
    with folder_journal(settings, journal, tmp_path / "index") as (recall, _):
        yield Desk(settings, build_models(settings), journal=recall, journal_folder=journal)


def _client(view: object, desk: object) -> httpx.AsyncClient:
    app = create_web_app(view, token=SecretStr(TOKEN), desk=desk)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_talking_streams_json_lines_a_page_may_see(desk: Desk) -> None:
    async with _client(DeskHome(desk), desk) as client:
        body = {"text": "are you tired after long streams?", "as": "tinkerfox"}
        response = await client.post("/desk/api/talk", json=body, headers=AUTH)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        events = [json.loads(line) for line in response.text.splitlines()]
    topics = [e["topic"] for e in events]
    assert topics[0] == "turn/start" and topics[-1] == "desk/reply"
    assert {"turn/hits", "turn/simulated"} <= set(topics)
    end = events[-1]["data"]
    assert end["outcome"] == "answered" and end["reply"]
    pieces = [e["data"] for e in events if e["topic"] == "desk/piece"]
    assert pieces and " ".join(p["text"] for p in pieces).split() == end["reply"].split()
    assert all(p["audio"] == "" for p in pieces)  # captions only: no voice to play
    # recalled entries as the dashboard shows them: never a private title, nor any entry's text
    hits = next(e["data"]["hits"] for e in events if e["topic"] == "turn/hits")
    assert hits and all(set(h) == {"title", "tier", "score"} for h in hits)
    private = [h for h in hits if h["tier"] != "public"]
    assert private and all(h["title"] == "(private entry)" for h in private)
    for kept in ("Feeling tired after long streams", "Six hour streams", "Flat hunting"):
        assert kept not in response.text


async def test_the_desk_needs_the_token_and_csrf(desk: Desk) -> None:
    async with _client(DeskHome(desk), desk) as client:
        assert (await client.get("/desk")).status_code == 401  # the login form
        refused = await client.post("/desk/api/talk", json={"text": "hi"})
        assert refused.status_code == 401
        assert (await client.get("/desk/api/counts")).status_code == 401
        assert (await client.get("/desk/audio/desk-0123456789ab-1.wav")).status_code == 401
        # a cookie alone is not enough to write: the CSRF header must match
        page = await client.get(f"/desk?token={TOKEN}", follow_redirects=True)
        assert (
            page.status_code == 200
            and "media-src 'self'" in page.headers["content-security-policy"]
        )
        stale = await client.post("/desk/api/teach/undo", json={})
        assert stale.status_code == 403
        csrf = client.cookies["cohost_csrf"]
        ok = await client.post("/desk/api/teach/undo", json={}, headers={"x-csrf-token": csrf})
        assert ok.status_code == 200 and ok.json()["undone"] is None
        counts = await client.get("/desk/api/counts")
        assert counts.json()["counts"]["pairs"] == 0 and counts.json()["twin"] == "mossbot"


async def test_bad_input_is_refused_with_a_reason(desk: Desk, tmp_path: Path) -> None:
    async with _client(DeskHome(desk), desk) as client:
        post = client.post
        empty = await post("/desk/api/talk", json={"text": "  "}, headers=AUTH)
        assert empty.status_code == 400 and "empty" in empty.json()["error"]
        long = await post("/desk/api/talk", json={"text": "x" * 501}, headers=AUTH)
        assert long.status_code == 400
        twin = await post("/desk/api/talk", json={"text": "hi", "as": "mossbot"}, headers=AUTH)
        assert twin.status_code == 400 and "twin's own name" in twin.json()["error"]
        nothing = await post(
            "/desk/api/teach/choose", json={"action": "pick", "index": 0}, headers=AUTH
        )
        assert nothing.status_code == 400 and "no prompt is shown" in nothing.json()["error"]
        missing = tmp_path / "gone.txt"
        source = await post("/desk/api/teach/source", json={"log": str(missing)}, headers=AUTH)
        assert source.status_code == 400 and str(missing) in source.json()["error"]
        typed = await post("/desk/api/teach/next", json={}, headers=AUTH)
        assert typed.status_code == 400 and "type a message" in typed.json()["error"]
        shown = await post("/desk/api/teach/next", json={"text": "what game next?"}, headers=AUTH)
        assert shown.status_code == 200 and 2 <= len(shown.json()["candidates"]) <= 4
        wrong = await post(
            "/desk/api/teach/choose", json={"action": "pick", "index": 9}, headers=AUTH
        )
        assert wrong.status_code == 400 and "is not one of the" in wrong.json()["error"]
        kind = await post("/desk/api/teach/choose", json={"action": "maybe"}, headers=AUTH)
        assert kind.status_code == 400
        gone = await client.get("/desk/audio/..%2Fchoices.jsonl", headers=AUTH)
        assert gone.status_code == 404


async def test_the_daemons_desk_says_the_twin_is_starting_until_attached(desk: Desk) -> None:
    slot = DeskSlot()
    async with _client(DeskHome(desk), slot) as client:
        early = await client.post("/desk/api/talk", json={"text": "hi"}, headers=AUTH)
        assert early.status_code == 400 and "still starting" in early.json()["error"]
        assert (await client.get("/desk/api/counts", headers=AUTH)).status_code == 503
        slot.attach(desk)
        later = await client.post("/desk/api/talk", json={"text": "hi mossbot"}, headers=AUTH)
        assert later.status_code == 200
        assert json.loads(later.text.splitlines()[-1])["topic"] == "desk/reply"


async def test_a_prompt_source_never_shows_a_files_lines_or_the_journal(
    desk: Desk, tmp_path: Path
) -> None:
    # the page names a path on this machine: not a chat log must not show its first line (a
    # secret in a settings file), and the journal (a private entry's title) is refused outright
    secret = tmp_path / "settings.env"
    secret.write_text("COHOST_TWITCH__TOKEN=oauth:hunter2\n", encoding="utf-8")
    entry = next(desk.journal_folder.glob("*.tid"))
    async with _client(DeskHome(desk), desk) as client:
        post = client.post
        other = await post("/desk/api/teach/source", json={"log": str(secret)}, headers=AUTH)
        assert other.status_code == 400 and "cannot tell the chat log format" in other.text
        assert "hunter2" not in other.text
        journal = await post("/desk/api/teach/source", json={"seed": str(entry)}, headers=AUTH)
        assert journal.status_code == 400 and "journal" in journal.json()["error"]
        title = entry.read_text(encoding="utf-8").splitlines()[0]
        assert title not in journal.text


async def test_a_login_asked_on_the_desk_goes_back_to_it_and_nowhere_else(desk: Desk) -> None:
    async with _client(DeskHome(desk), desk) as client:
        form = await client.get("/desk")
        assert form.status_code == 401
        assert 'name="next" value="/desk"' in form.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        login = {"token": TOKEN, "csrf": csrf[1]}
        elsewhere = await client.post(
            "/dashboard/login", data={**login, "next": "https://example.com/"}
        )
        back = await client.post("/dashboard/login", data={**login, "next": "/desk"})
        dashboard = await client.get("/dashboard")
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/dashboard"
    assert back.status_code == 303 and back.headers["location"] == "/desk"
    # the dashboard links to the desk this app serves, and the desk back to the dashboard
    assert 'id="desk-link"' in dashboard.text and "__DESK_HIDDEN__" not in dashboard.text
    assert 'href="/desk">' in dashboard.text


async def test_a_dashboard_without_a_desk_hides_the_link_and_logs_in_to_itself(
    desk: Desk,
) -> None:
    async with _client(DeskHome(desk), None) as client:
        form = await client.get("/dashboard")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        login = {"token": TOKEN, "csrf": csrf[1], "next": "/desk"}
        response = await client.post("/dashboard/login", data=login)
        dashboard = await client.get("/dashboard")
    assert response.headers["location"] == "/dashboard"  # no desk here to go back to
    assert 'href="/desk" hidden>' in dashboard.text


async def test_two_prompts_asked_at_once_each_keep_their_own_candidates(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a double-clicked "next": the slower first prompt's candidates must never be shown (and
    # stored as a pair) under the second prompt
    async def made(prompt: DeskPrompt, n: int | None = None) -> list[Candidate]:
        text = prompt.window[-1].text
        await asyncio.sleep(0.05 if "first" in text else 0)
        return [Candidate(text=f"about {text}"), Candidate(text=f"also {text}")]

    monkeypatch.setattr(desk, "candidates", made)
    await asyncio.gather(
        desk.teach_next(text="the first prompt"), desk.teach_next(text="the second prompt")
    )
    desk.teach_choose("pick", index=0)
    record = list(desk.store.records())[-1]
    assert record.window[-1].text == "the second prompt"
    assert [c.text for c in record.candidates] == [
        "about the second prompt",
        "also the second prompt",
    ]
