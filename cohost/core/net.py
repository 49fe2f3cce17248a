"""Where an address points: this machine (loopback) or somewhere else."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


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
