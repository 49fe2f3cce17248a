"""Where an address points (this machine or elsewhere); what of it and of a key may be logged."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr


def is_loopback(host: str) -> bool:
    """True for localhost and the loopback ranges (127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_is_local(url: str) -> bool:
    """True when a URL's host is this machine."""
    return is_loopback(urlsplit(url).hostname or "")


def address(url: str) -> str:
    """A server's URL as it may be logged: no user, password or query (keys hide there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def masked(text: str, key: SecretStr | None) -> str:
    """`text` with the key masked, should a server or a library echo it back."""
    secret = key.get_secret_value() if key is not None else ""
    return text.replace(secret, "***") if secret else text
