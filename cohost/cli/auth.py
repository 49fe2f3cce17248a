"""`cohost auth`: get, refresh and check the bot's and the broadcaster's Twitch tokens."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from cohost.adapters.twitch_tokens import (
    REFRESH_MARGIN_S,
    Account,
    AuthError,
    StoredToken,
    TokenStore,
)
from cohost.app.settings import Settings
from cohost.core.errors import Permanent

if TYPE_CHECKING:
    from cohost.adapters.twitch_auth import TwitchOAuth


def register(subparsers: Any) -> None:
    """Add `cohost auth` to the CLI."""
    auth = subparsers.add_parser(
        "auth",
        help="authorise the bot (or the broadcaster) on Twitch and store the tokens",
        description="Runs Twitch's device code flow: open the URL it prints, enter the code, "
        "approve. Tokens are stored under DATA_DIR/tokens (owner-only files).",
    )
    auth.add_argument(
        "--check",
        action="store_true",
        help="validate the stored tokens (refreshing expired ones); print login, scopes, expiry",
    )
    auth.add_argument(
        "--broadcaster",
        action="store_true",
        help="authorise the broadcaster's account (grants channel:bot) instead of the bot's",
    )
    auth.set_defaults(handler=_handler)


def _handler(args: argparse.Namespace, settings: Settings) -> int:
    from cohost.adapters.twitch_auth import TwitchOAuth  # noqa: PLC0415 (keeps --help fast)

    twitch = settings.twitch
    store = TokenStore.in_data_dir(settings.data_dir)

    async def main() -> int:
        async with TwitchOAuth(
            client_id=twitch.client_id,
            client_secret=twitch.client_secret,
            id_base=twitch.id_base,
            timeout_s=twitch.request_timeout_s,
        ) as oauth:
            if args.check:
                return await check_tokens(oauth, store, settings)
            account: Account = "broadcaster" if args.broadcaster else "bot"
            scopes = twitch.broadcaster_scopes if args.broadcaster else twitch.bot_scopes
            await authorize(oauth, store, account, scopes)
            return 0

    return asyncio.run(main())


async def authorize(
    oauth: TwitchOAuth,
    store: TokenStore,
    account: Account,
    scopes: Sequence[str],
    *,
    out: TextIO | None = None,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> StoredToken:
    """Run the device code flow for one account and store its token."""
    device = await oauth.start_device_flow(scopes)
    _say(
        out,
        f"Log in to Twitch as the {account} account, open {device.verification_uri}\n"
        f"and enter the code {device.user_code} (valid for {device.expires_in // 60} minutes).",
    )
    grant = await oauth.poll_device_flow(device, scopes, sleep=sleep)
    validation = await oauth.validate(grant.access_token)
    if not validation.login or not validation.user_id:
        raise AuthError("Twitch returned an app token where a user token was expected")
    token = StoredToken(
        account=account,
        login=validation.login,
        user_id=validation.user_id,
        access_token=grant.access_token,
        refresh_token=grant.refresh_token,
        scopes=tuple(validation.scopes or grant.scope),
        expires_at=_expiry(validation.expires_in),
    )
    path = store.save(token)
    _say(out, f"Stored the {account} token of {token.login} (user id {token.user_id}) in {path}.")
    missing = sorted(set(scopes) - set(token.scopes))
    if missing:
        _say(out, f"Warning: the token lacks the scopes {' '.join(missing)}.")
    return token


async def refresh(oauth: TwitchOAuth, store: TokenStore, token: StoredToken) -> StoredToken:
    """A refreshed token, stored; AuthError when Twitch refuses the refresh token."""
    grant = await oauth.refresh(token.refresh_token)
    renewed = token.renewed(
        access_token=grant.access_token.get_secret_value(),
        refresh_token=grant.refresh_token.get_secret_value(),
        expires_in=float(grant.expires_in),
        now=time.time(),
    )
    store.save(renewed)
    return renewed


async def check_tokens(
    oauth: TwitchOAuth, store: TokenStore, settings: Settings, *, out: TextIO | None = None
) -> int:
    """Validate every stored token, refreshing the expired ones; 0 when the bot can run."""
    from cohost.adapters.twitch_auth import TokenRefused  # noqa: PLC0415

    required = {
        "bot": settings.twitch.bot_scopes,
        "broadcaster": settings.twitch.broadcaster_scopes,
    }
    ok = True
    for account in ("bot", "broadcaster"):
        token = store.load(account)
        if token is None:
            if account == "bot":
                ok = False
                _say(out, "bot: no token stored; run `cohost auth`")
            else:
                _say(out, "broadcaster: no token stored (optional when the bot is a moderator)")
            continue
        try:
            try:
                validation = await oauth.validate(token.access_token)
                if validation.expires_in and validation.expires_in <= REFRESH_MARGIN_S:
                    raise TokenRefused("about to expire")
            except TokenRefused:
                token = await refresh(oauth, store, token)
                validation = await oauth.validate(token.access_token)
        except Permanent:
            ok = False
            hint = " --broadcaster" if account == "broadcaster" else ""
            _say(out, f"{account}: the token of {token.login} was refused; run `cohost auth{hint}`")
            continue
        scopes = validation.scopes or []
        missing = sorted(set(required[account]) - set(scopes))
        status = "ok" if not missing else f"missing scopes: {' '.join(missing)}"
        ok = ok and not missing
        _say(
            out,
            f"{account}: {validation.login} (user id {validation.user_id}), "
            f"scopes {' '.join(scopes) or '-'}, expires in {_duration(validation.expires_in)}: "
            f"{status}",
        )
        if validation.expires_in:
            store.save(token.renewed(
                access_token=token.access_token.get_secret_value(),
                refresh_token=token.refresh_token.get_secret_value(),
                expires_in=float(validation.expires_in),
                now=time.time(),
            ))  # fmt: skip
    return 0 if ok else 1


def _expiry(expires_in: int) -> float:
    return time.time() + expires_in if expires_in > 0 else 0.0


def _duration(seconds: int) -> str:
    if seconds <= 0:
        return "never"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m"


def _say(out: TextIO | None, text: str) -> None:
    print(text, file=out, flush=True)
