"""Twitch OAuth over HTTP: the device code flow, refresh and validate (id.twitch.tv).

The device code flow suits a daemon on a headless machine: it prints a short code and a URL,
the account owner approves it in any browser, and this side polls for the token. It works for
public clients (no client secret); a confidential client sends its secret as well.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import aiohttp
from pydantic import BaseModel, SecretStr, ValidationError

from cohost.core.errors import Permanent, Transient

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class TwitchAuthUnavailable(Transient):
    """Twitch's OAuth server could not be reached or failed."""


class TokenRefused(Permanent):
    """Twitch refused a token, a refresh token or a device code: authorise again."""


class DeviceCode(BaseModel):
    """Twitch's answer to POST /oauth2/device."""

    device_code: SecretStr
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int = 5


class TokenGrant(BaseModel):
    """Twitch's answer to POST /oauth2/token (device code or refresh grant)."""

    access_token: SecretStr
    refresh_token: SecretStr
    expires_in: int = 0
    scope: list[str] = []


class Validation(BaseModel):
    """Twitch's answer to GET /oauth2/validate."""

    client_id: str
    login: str | None = None
    user_id: str | None = None
    scopes: list[str] | None = None
    expires_in: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Reply:
    status: int
    body: dict[str, Any]

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")).lower()


class TwitchOAuth:
    """The OAuth endpoints of id.twitch.tv (or a fake at `id_base`); an async context manager."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: SecretStr | None = None,
        id_base: str = "https://id.twitch.tv/",
        timeout_s: float = 10.0,
    ) -> None:
        if not client_id:
            raise Permanent(
                "COHOST_TWITCH__CLIENT_ID is not set (register an app at dev.twitch.tv)"
            )
        self.client_id = client_id
        self.client_secret = client_secret
        self.id_base = id_base if id_base.endswith("/") else id_base + "/"
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self, method: str, path: str, *, form: dict[str, str] | None = None, token: str = ""
    ) -> _Reply:
        if self._session is None:
            raise RuntimeError("TwitchOAuth is used outside `async with`")
        headers = {"Authorization": f"OAuth {token}"} if token else {}
        try:
            async with (
                asyncio.timeout(self.timeout_s),
                self._session.request(
                    method, self.id_base + path, data=form, headers=headers
                ) as resp,
            ):
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = {}
                if not isinstance(body, dict):
                    body = {}
                if resp.status >= 500:
                    raise TwitchAuthUnavailable(f"Twitch OAuth {path}: HTTP {resp.status}")
                return _Reply(status=resp.status, body=body)
        except TimeoutError:
            raise TwitchAuthUnavailable(
                f"Twitch OAuth {path}: no answer in {self.timeout_s} s"
            ) from None
        except aiohttp.ClientError as exc:
            # The exception's text carries the URL, never a token: tokens go in the body.
            raise TwitchAuthUnavailable(f"Twitch OAuth {path}: {type(exc).__name__}") from exc

    def _client_form(self) -> dict[str, str]:
        form = {"client_id": self.client_id}
        if self.client_secret is not None:
            form["client_secret"] = self.client_secret.get_secret_value()
        return form

    async def start_device_flow(self, scopes: Sequence[str]) -> DeviceCode:
        """Ask for a device code: the user approves `user_code` at `verification_uri`."""
        reply = await self._call(
            "POST", "oauth2/device", form={"client_id": self.client_id, "scopes": " ".join(scopes)}
        )
        if reply.status != 200:
            raise TokenRefused(
                f"Twitch refused the device flow: HTTP {reply.status} {reply.message}"
            )
        return _parse(DeviceCode, reply.body, "device code")

    async def poll_device_flow(
        self,
        device: DeviceCode,
        scopes: Sequence[str],
        *,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> TokenGrant:
        """Poll until the user approves (the grant), denies or lets it expire (TokenRefused)."""
        form = {
            "client_id": self.client_id,
            "scopes": " ".join(scopes),
            "device_code": device.device_code.get_secret_value(),
            "grant_type": DEVICE_GRANT,
        }
        waited = 0.0
        while True:
            reply = await self._call("POST", "oauth2/token", form=form)
            if reply.status == 200:
                return _parse(TokenGrant, reply.body, "token")
            if reply.status == 400 and reply.message in ("authorization_pending", "slow_down"):
                if waited > device.expires_in:
                    raise TokenRefused("the device code expired before it was approved")
                await sleep(device.interval)
                waited += max(device.interval, 1)
                continue
            raise TokenRefused(f"Twitch refused the device code: {reply.message or reply.status}")

    async def refresh(self, refresh_token: SecretStr) -> TokenGrant:
        """A new token pair from a refresh token; TokenRefused when it was revoked."""
        form = {
            **self._client_form(),
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.get_secret_value(),
        }
        reply = await self._call("POST", "oauth2/token", form=form)
        if reply.status != 200:
            raise TokenRefused(
                f"Twitch refused the refresh token (HTTP {reply.status}): run `cohost auth` again"
            )
        return _parse(TokenGrant, reply.body, "token")

    async def validate(self, access_token: SecretStr) -> Validation:
        """Who the token belongs to, its scopes and seconds left; TokenRefused when invalid."""
        reply = await self._call("GET", "oauth2/validate", token=access_token.get_secret_value())
        if reply.status == 401:
            raise TokenRefused("Twitch says the token is invalid or revoked")
        if reply.status != 200:
            raise TwitchAuthUnavailable(f"Twitch OAuth validate: HTTP {reply.status}")
        return _parse(Validation, reply.body, "validation")


def _parse(model: type[M], body: dict[str, Any], what: str) -> M:
    try:
        return model.model_validate(body)
    except ValidationError:
        # Never echo the body: it may hold a token.
        raise TwitchAuthUnavailable(f"Twitch sent a malformed {what} reply") from None
