"""The health endpoint: is the daemon alive, and what has it been doing."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_health_app(health: Callable[[], dict[str, object]]) -> Starlette:
    """GET /healthz answers the daemon's own summary as JSON; it changes nothing."""

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse(health())

    return Starlette(routes=[Route("/healthz", healthz)])
