"""The write-only journal page, in process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from cohost.journal.store import Entry, JournalStore
from cohost.web.journal_page import AUTH_COOKIE, CSRF_COOKIE, create_journal_app

TOKEN = "correct horse battery staple"


@pytest.fixture
def store(tmp_path: Path) -> JournalStore:
    return JournalStore(tmp_path / "journal")


@pytest.fixture
def added() -> list[Entry]:
    return []


@pytest.fixture
def client(store: JournalStore, added: list[Entry]) -> TestClient:
    app = create_journal_app(store, SecretStr(TOKEN), on_added=added.append)
    return TestClient(app, follow_redirects=False)


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def _sign_in(client: TestClient) -> str:
    page = client.get("/")
    response = client.get("/", params={"token": TOKEN})
    assert response.status_code == 303
    return _csrf(page.text)


def test_the_page_is_one_box_and_asks_for_the_token(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.text
    assert page.count("<textarea") == 1
    assert 'name="tags"' in page
    assert 'name="token"' in page and 'type="password"' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<form method="post" action="/"' in page
    assert "<script" not in page  # works without JavaScript, because there is none
    assert response.cookies.get(CSRF_COOKIE) == _csrf(page)
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    css = client.get("/journal.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


def test_the_token_in_the_address_becomes_a_strict_httponly_cookie(client: TestClient) -> None:
    response = client.get("/", params={"token": TOKEN})
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(f"{AUTH_COOKIE}=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert TOKEN not in cookie and TOKEN.replace(" ", "%20") not in cookie
    page = client.get("/").text
    assert 'name="token"' not in page  # asked once, then remembered


def test_a_wrong_token_in_the_address_is_refused(client: TestClient) -> None:
    response = client.get("/", params={"token": "guess"})
    assert response.status_code == 401
    assert AUTH_COOKIE not in response.cookies
    assert "not right" in response.text


def test_saving_an_entry(client: TestClient, store: JournalStore, added: list[Entry]) -> None:
    csrf = _sign_in(client)
    response = client.post(
        "/",
        data={
            "text": "Tonight chat\r\nwas lovely.",
            "tags": "public, late [[big raid]]",
            "csrf": csrf,
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/?saved=1"
    [entry] = store.entries()
    assert entry.text == "Tonight chat\nwas lovely."
    assert entry.tags == ("public", "late", "big raid")
    assert added == [entry]
    confirmation = client.get(response.headers["location"])
    assert "Saved." in confirmation.text
    assert re.search(r"<textarea[^>]*></textarea>", confirmation.text)  # an empty box again
    assert "lovely" not in confirmation.text


def test_the_token_can_come_with_the_first_post(client: TestClient, store: JournalStore) -> None:
    csrf = _csrf(client.get("/").text)
    response = client.post("/", data={"text": "first", "token": TOKEN, "csrf": csrf})
    assert response.status_code == 303
    assert AUTH_COOKIE in response.cookies
    response = client.post("/", data={"text": "second", "csrf": csrf})
    assert response.status_code == 303
    assert sorted(e.text for e in store.entries()) == ["first", "second"]


def test_no_token_no_write(client: TestClient, store: JournalStore, added: list[Entry]) -> None:
    csrf = _csrf(client.get("/").text)
    response = client.post("/", data={"text": "draft <b>kept</b>", "csrf": csrf})
    assert response.status_code == 401
    assert "draft &lt;b&gt;kept&lt;/b&gt;" in response.text  # the draft is not lost
    response = client.post("/", data={"text": "x", "csrf": csrf, "token": "wrong"})
    assert response.status_code == 401
    client.cookies.set(AUTH_COOKIE, "forged")
    response = client.post("/", data={"text": "x", "csrf": csrf})
    assert response.status_code == 401
    assert list(store.entries()) == []
    assert added == []
    assert not store.directory.exists() or not any(store.directory.iterdir())


def test_bad_csrf_no_write(client: TestClient, store: JournalStore) -> None:
    csrf = _sign_in(client)
    assert client.post("/", data={"text": "x", "csrf": "forged"}).status_code == 403
    assert client.post("/", data={"text": "x"}).status_code == 403
    client.cookies.delete(CSRF_COOKIE)
    response = client.post("/", data={"text": "x", "csrf": csrf})
    assert response.status_code == 403
    assert list(store.entries()) == []
    # The refusal hands out a fresh form value, and with it the next try works.
    retry = client.post("/", data={"text": "x", "csrf": _csrf(response.text)})
    assert retry.status_code == 303


def test_empty_and_oversized_entries(client: TestClient, store: JournalStore) -> None:
    csrf = _sign_in(client)
    assert client.post("/", data={"text": "  \r\n ", "csrf": csrf}).status_code == 400
    assert client.post("/", data={"text": "x" * 300_000, "csrf": csrf}).status_code == 413
    assert list(store.entries()) == []


def test_earlier_entries_are_never_shown(client: TestClient, store: JournalStore) -> None:
    store.add("an old secret about the move", tags=["secret"], title="old one")
    csrf = _sign_in(client)
    client.post("/", data={"text": "a fresh thought about pizza", "csrf": csrf})
    for path in ("/", "/?saved=1", "/journal.css"):
        body = client.get(path).text
        for words in ("old secret", "old one", "fresh thought", "pizza"):
            assert words not in body
    for path in ("/entries", "/old one", "/journal/old%20one.tid", "/static/old%20one.tid"):
        assert client.get(path).status_code == 404


def test_a_failing_listener_does_not_lose_the_entry(store: JournalStore) -> None:
    def explode(entry: Entry) -> None:
        raise RuntimeError("index is down")

    client = TestClient(
        create_journal_app(store, SecretStr(TOKEN), explode), follow_redirects=False
    )
    csrf = _sign_in(client)
    assert client.post("/", data={"text": "kept", "csrf": csrf}).status_code == 303
    assert [e.text for e in store.entries()] == ["kept"]


def test_an_empty_token_is_refused(store: JournalStore) -> None:
    with pytest.raises(ValueError, match="token"):
        create_journal_app(store, SecretStr(""))


@pytest.mark.parametrize(
    ("base", "host", "status"),
    [
        ("http://127.0.0.1:8765", "127.0.0.1:8765", 200),
        ("http://127.0.0.1:8765", "localhost:8765", 200),
        ("http://127.0.0.1:8765", "evil.example:8765", 400),  # a name rebound onto loopback
        ("http://[::1]:8765", "[::1]:8765", 200),
        ("http://[::1]:8765", "evil.example", 400),
        ("http://127.0.0.2:8765", "127.0.0.2:8765", 200),  # bound there, named by its address
        ("http://192.168.1.5:8765", "192.168.1.5:8765", 200),  # bound beyond loopback: any name
    ],
)
def test_on_loopback_the_page_answers_only_loopback_names(
    store: JournalStore, base: str, host: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(create_journal_app(store, SecretStr(TOKEN)), base_url=base)
    response = client.get("/", headers={"Host": host})
    assert response.status_code == status
    refused = [r.getMessage() for r in caplog.records if "refused a request" in r.getMessage()]
    assert bool(refused) == (status == 400)


def test_the_page_takes_the_dashboards_allowlist(store: JournalStore) -> None:
    app = create_journal_app(store, SecretStr(TOKEN), allowed_hosts=["journal.example"])
    client = TestClient(app, base_url="http://127.0.0.1:8765", follow_redirects=False)
    assert client.get("/", headers={"Host": "journal.example"}).status_code == 200
    assert client.get("/", headers={"Host": "127.0.0.1:8765"}).status_code == 400
    before = store.directory.exists()
    posted = client.post("/", headers={"Host": "evil.example"}, data={"text": "x", "token": TOKEN})
    assert posted.status_code == 400
    assert store.directory.exists() == before  # nothing written


def test_a_mistyped_tier_tag_is_saved_private_with_a_warning(
    client: TestClient, store: JournalStore, caplog: pytest.LogCaptureFixture
) -> None:
    csrf = _sign_in(client)
    response = client.post("/", data={"text": "the clinic on Elm", "tags": "pubic", "csrf": csrf})
    assert response.status_code == 200
    assert "Saved as private" in response.text
    assert "did you mean &#x27;public&#x27;?" in response.text
    [entry] = store.entries()
    assert entry.tags == ("pubic",)
    assert str(entry.tier) == "private"
    [said] = [r.getMessage() for r in caplog.records if "no privacy tier" in r.getMessage()]
    assert entry.id in said and "'pubic'" in said
    assert "Elm" not in said
    assert "Elm" not in response.text  # the box is empty again: the entry is saved
