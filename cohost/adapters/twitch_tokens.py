"""Twitch tokens at rest: one owner-only file per account under DATA_DIR/tokens, written atomically.

Tokens never go to the working directory, to a log line or to the terminal: in memory they are
`SecretStr`, on disk they are JSON files with mode 0600 in a 0700 folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, SecretStr, ValidationError

from cohost.core.errors import Permanent
from cohost.core.files import write_atomic

Account = Literal["bot", "broadcaster"]
ACCOUNTS: tuple[Account, ...] = ("bot", "broadcaster")
# Refresh a little before Twitch would refuse the token.
REFRESH_MARGIN_S = 300.0


class AuthError(Permanent):
    """A token is missing, revoked or refused: run `cohost auth` again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredToken:
    """One account's user access token, its refresh token and what Twitch said about it."""

    account: Account
    login: str
    user_id: str
    access_token: SecretStr
    refresh_token: SecretStr
    scopes: tuple[str, ...]
    expires_at: float  # seconds since the epoch; 0 when Twitch gave no expiry

    def expires_within(self, now: float, seconds: float = REFRESH_MARGIN_S) -> bool:
        """Whether the token is (nearly) expired at `now`."""
        return self.expires_at > 0 and self.expires_at - now <= seconds

    def renewed(
        self, *, access_token: str, refresh_token: str, expires_in: float, now: float
    ) -> StoredToken:
        """The same account with a refreshed token pair."""
        return replace(
            self,
            access_token=SecretStr(access_token),
            refresh_token=SecretStr(refresh_token),
            expires_at=now + expires_in if expires_in > 0 else 0.0,
        )


class _TokenFile(BaseModel):
    """The JSON inside a token file."""

    login: str
    user_id: str
    access_token: SecretStr
    refresh_token: SecretStr
    scopes: list[str]
    expires_at: float = 0.0


class TokenStore:
    """Reads and writes the token files under one folder (DATA_DIR/tokens)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> TokenStore:
        """The store of a data directory."""
        return cls(data_dir / "tokens")

    def path(self, account: Account) -> Path:
        """Where this account's token lives."""
        return self.folder / f"{account}.json"

    def load(self, account: Account) -> StoredToken | None:
        """This account's token, or None when `cohost auth` has not stored one."""
        path = self.path(account)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = _TokenFile.model_validate_json(raw)
        except ValidationError:
            # The message would quote the file's content, which holds the token.
            raise AuthError(f"{path} is not a token file; run `cohost auth` again") from None
        return StoredToken(
            account=account,
            login=data.login,
            user_id=data.user_id,
            access_token=data.access_token,
            refresh_token=data.refresh_token,
            scopes=tuple(data.scopes),
            expires_at=data.expires_at,
        )

    def require(self, account: Account) -> StoredToken:
        """This account's token, or AuthError saying how to get one."""
        token = self.load(account)
        if token is None:
            hint = " --broadcaster" if account == "broadcaster" else ""
            raise AuthError(f"no {account} token in {self.folder}: run `cohost auth{hint}`")
        return token

    def save(self, token: StoredToken) -> Path:
        """Write the token atomically with mode 0600; returns its path."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder.chmod(0o700)
        payload = {
            "login": token.login,
            "user_id": token.user_id,
            "access_token": token.access_token.get_secret_value(),
            "refresh_token": token.refresh_token.get_secret_value(),
            "scopes": list(token.scopes),
            "expires_at": token.expires_at,
        }
        path = self.path(token.account)
        write_atomic(path, json.dumps(payload))  # 0600 from the start: never readable by others
        return path

    def delete(self, account: Account) -> bool:
        """Forget this account's token; False when there was none."""
        try:
            self.path(account).unlink()
        except FileNotFoundError:
            return False
        return True
