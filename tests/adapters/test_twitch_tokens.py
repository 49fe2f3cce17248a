"""Token storage and `cohost auth` against the fake Twitch's OAuth endpoints."""

from __future__ import annotations

import asyncio
import io
import logging
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from cohost.adapters.twitch_auth import TokenRefused, TwitchOAuth
from cohost.adapters.twitch_tokens import AuthError, StoredToken, TokenStore
from cohost.app.settings import Settings
from cohost.cli import main as cli
from cohost.cli.auth import authorize, check_tokens, refresh
from cohost.core.options import TwitchSettings
from tests.support.fake_twitch import BOT_SCOPES, BROADCASTER_SCOPES, FakeTwitch, FakeUser


def token_for(user: FakeUser, account: str = "bot", expires_at: float = 0.0) -> StoredToken:
    return StoredToken(
        account=account,  # type: ignore[arg-type]
        login=user.login,
        user_id=user.user_id,
        access_token=SecretStr(user.token),
        refresh_token=SecretStr(user.refresh),
        scopes=user.scopes,
        expires_at=expires_at,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the store ----------------------------------------------------------------------------


def test_store_round_trip_with_owner_only_files(tmp_path: Path) -> None:
    store = TokenStore.in_data_dir(tmp_path)
    user = FakeUser(login="twinbot", user_id="7", display_name="TwinBot", scopes=BOT_SCOPES,
                    token="tok_abc", refresh="ref_def")  # fmt: skip
    path = store.save(token_for(user, expires_at=1234.5))
    assert path == tmp_path / "tokens" / "bot.json"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["bot.json"]  # no temporary file left
    loaded = store.require("bot")
    assert loaded == token_for(user, expires_at=1234.5)
    assert "tok_abc" not in repr(loaded)
    # Saving again replaces the file atomically and keeps its mode.
    store.save(loaded.renewed(access_token="tok_new", refresh_token="ref_new", expires_in=60,
                              now=1000.0))  # fmt: skip
    again = store.require("bot")
    assert again.access_token.get_secret_value() == "tok_new"
    assert again.expires_at == 1060.0
    assert mode(path) == 0o600


def test_store_missing_and_corrupt(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens")
    assert store.load("broadcaster") is None
    with pytest.raises(AuthError, match="cohost auth --broadcaster"):
        store.require("broadcaster")
    store.folder.mkdir()
    store.path("bot").write_text('{"access_token": "tok_leak", "login": 3}')
    with pytest.raises(AuthError, match="not a token file") as raised:
        store.load("bot")
    assert "tok_leak" not in str(raised.value)


def test_expiry() -> None:
    user = FakeUser(login="b", user_id="1", display_name="b", scopes=())
    assert token_for(user, expires_at=1000.0).expires_within(now=800.0)
    assert not token_for(user, expires_at=10_000.0).expires_within(now=800.0)
    assert not token_for(user, expires_at=0.0).expires_within(now=800.0)


# --- OAuth against the fake ---------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwitch]:
    async with FakeTwitch() as server:
        yield server


def oauth_for(fake: FakeTwitch, *, secret: bool = False) -> TwitchOAuth:
    return TwitchOAuth(
        client_id=fake.client_id,
        client_secret=SecretStr(fake.client_secret) if secret else None,
        id_base=fake.id_base,
    )


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)


async def test_device_flow_stores_the_token(
    fake: FakeTwitch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = fake.add_user("TwinBot")
    fake.device_user = bot
    fake.device_pending_polls = 2
    store = TokenStore.in_data_dir(tmp_path)
    out = io.StringIO()
    async with oauth_for(fake) as oauth:
        token = await authorize(oauth, store, "bot", BOT_SCOPES, out=out, sleep=no_wait)
    assert fake.token_requests.count("urn:ietf:params:oauth:grant-type:device_code") == 3
    assert token.login == "twinbot"
    assert token.user_id == bot.user_id
    assert token.scopes == BOT_SCOPES
    saved = store.require("bot")
    assert saved.access_token.get_secret_value() == bot.token
    assert saved.refresh_token.get_secret_value() == bot.refresh
    assert mode(store.path("bot")) == 0o600
    printed = out.getvalue()
    assert "ABCD-EFGH" in printed
    assert "twinbot" in printed
    for secret in (bot.token, bot.refresh):
        assert secret not in printed
        assert secret not in caplog.text


async def test_device_flow_denied(fake: FakeTwitch, tmp_path: Path) -> None:
    fake.device_user = fake.add_user("TwinBot")
    async with oauth_for(fake) as oauth:
        device = await oauth.start_device_flow(BOT_SCOPES)
        fake._devices.clear()  # the user denied: Twitch forgets the code
        with pytest.raises(TokenRefused):
            await oauth.poll_device_flow(device, BOT_SCOPES, sleep=no_wait)


async def test_refresh_rotates_and_stores(fake: FakeTwitch, tmp_path: Path) -> None:
    bot = fake.add_user("TwinBot", scopes=BOT_SCOPES)
    store = TokenStore.in_data_dir(tmp_path)
    old = token_for(bot)
    async with oauth_for(fake, secret=True) as oauth:
        new = await refresh(oauth, store, old)
        assert new.access_token.get_secret_value() == bot.token
        assert new.access_token != old.access_token
        assert store.require("bot") == new
        with pytest.raises(TokenRefused, match="cohost auth"):
            await oauth.refresh(old.refresh_token)  # the old refresh token was rotated away


def settings_for(fake: FakeTwitch, tmp_path: Path) -> Settings:
    twitch = TwitchSettings(**fake.settings_overrides())
    return Settings(data_dir=tmp_path, twitch=twitch)


async def test_check_valid_expired_and_revoked(fake: FakeTwitch, tmp_path: Path) -> None:
    bot = fake.add_user("TwinBot", scopes=BOT_SCOPES)
    streamer = fake.add_user("Streamer", scopes=BROADCASTER_SCOPES)
    store = TokenStore.in_data_dir(tmp_path)
    settings = settings_for(fake, tmp_path)
    store.save(token_for(bot))
    async with oauth_for(fake) as oauth:
        out = io.StringIO()
        assert await check_tokens(oauth, store, settings, out=out) == 0
        assert "bot: twinbot" in out.getvalue()
        assert "user:read:chat user:write:chat user:bot" in out.getvalue()
        assert "expires in 4h 00m" in out.getvalue()
        assert "broadcaster: no token stored" in out.getvalue()

        # An expired access token is refreshed and the new pair stored.
        store.save(token_for(streamer, "broadcaster"))
        fake.expire_token(streamer)
        out = io.StringIO()
        assert await check_tokens(oauth, store, settings, out=out) == 0
        assert "broadcaster: streamer" in out.getvalue()
        assert store.require("broadcaster").access_token.get_secret_value() == streamer.token

        # A revoked token fails the check.
        secrets = (bot.token, bot.refresh)
        await fake.revoke_token(bot)
        out = io.StringIO()
        assert await check_tokens(oauth, store, settings, out=out) == 1
        assert "bot: the token of twinbot was refused" in out.getvalue()
        assert not any(s in out.getvalue() for s in secrets)


async def test_check_missing_scope_fails(fake: FakeTwitch, tmp_path: Path) -> None:
    bot = fake.add_user("TwinBot", scopes=("user:read:chat",))
    store = TokenStore.in_data_dir(tmp_path)
    store.save(token_for(bot))
    async with oauth_for(fake) as oauth:
        out = io.StringIO()
        assert await check_tokens(oauth, store, settings_for(fake, tmp_path), out=out) == 1
    assert "missing scopes: user:bot user:write:chat" in out.getvalue()


async def test_cli_auth_check(
    fake: FakeTwitch,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bot = fake.add_user("TwinBot", scopes=BOT_SCOPES)
    for name, value in {
        "COHOST_DATA_DIR": str(tmp_path),
        "COHOST_TWITCH__CLIENT_ID": fake.client_id,
        "COHOST_TWITCH__ID_BASE": fake.id_base,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    # The CLI runs its own event loop: give it a thread while the fake serves on this one.
    assert await asyncio.to_thread(cli.main, ["auth", "--check"]) == 1
    assert "bot: no token stored" in capsys.readouterr().out

    fake.device_user = bot
    assert await asyncio.to_thread(cli.main, ["auth"]) == 0
    printed = capsys.readouterr().out
    assert "ABCD-EFGH" in printed
    assert (tmp_path / "tokens" / "bot.json").is_file()
    assert await asyncio.to_thread(cli.main, ["auth", "--check"]) == 0
    printed += capsys.readouterr().out
    assert "bot: twinbot" in printed
    assert bot.token not in printed
    assert bot.refresh not in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens"]  # noqa: ASYNC240 (nothing in the cwd)
