"""The Host allowlist every cohost web app answers behind: no DNS rebinding onto loopback."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from cohost.core.net import is_loopback

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def host_name(header: str) -> str:
    """The host a Host header names, without its port ("[::1]:8760": "[::1]")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class TrustedHosts:
    """Starlette's `TrustedHostMiddleware` (400 for a host not allowed), saying once per name
    which names it refused.

    The log line (ending in `advice`) is how a streamer whose own reverse proxy passes its
    public name learns to add that name to the settings.
    """

    REPORTED_MAX = 16  # names are the requester's to choose: only so many are logged
    _PASSED = "cohost.host_allowed"  # set in the scope of a request the check let through

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Sequence[str],
        advice: str = "add a name of yours to COHOST_WEB__ALLOWED_HOSTS",
    ) -> None:
        self._app = app
        self._allowed = ", ".join(sorted({h.lower() for h in allowed_hosts}))
        self._advice = advice
        self._check = TrustedHostMiddleware(
            self._passed, allowed_hosts=allowed_hosts, www_redirect=False
        )
        self._reported: set[str] = set()

    async def _passed(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[self._PASSED] = True
        await self._app(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._check(scope, receive, send)
        if scope["type"] not in ("http", "websocket") or scope.get(self._PASSED):
            return
        name = host_name(Headers(scope=scope).get("host", ""))
        if name not in self._reported and len(self._reported) < self.REPORTED_MAX:
            self._reported.add(name)
            log.warning(
                "refused a request for host %r: the web app answers only %s (%s)",
                name,
                self._allowed,
                self._advice,
            )


class LoopbackHosts:
    """`TrustedHosts` for an app that does not know the address it is bound to: a request that
    reached this machine on a loopback address must name a loopback host (or that address), so
    a page cannot rebind a name of its own onto 127.0.0.1; one that came over the network
    passes, as the daemon's web app answers any name when bound beyond loopback."""

    def __init__(self, app: ASGIApp, advice: str) -> None:
        self._app = app
        self._trusted = TrustedHosts(app, LOOPBACK_HOSTS, advice)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server") if scope["type"] in ("http", "websocket") else None
        local = str(server[0]) if server else ""
        if not is_loopback(local):
            await self._app(scope, receive, send)
            return
        bound = f"[{local}]" if ":" in local else local
        if host_name(Headers(scope=scope).get("host", "")) == bound.lower():
            await self._app(scope, receive, send)  # 127.0.0.2 by its own address
            return
        await self._trusted(scope, receive, send)
