"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip that says why."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (it ships beside the repository in CI only)")
    return SHARED_DATA


@pytest.fixture
def twitchio_urls_restored() -> Iterator[None]:
    """twitchio's Helix, OAuth and EventSub URLs as they were, after a test pointed them away."""
    from twitchio.eventsub import websockets  # noqa: PLC0415 (only tests that talk to Twitch)
    from twitchio.http import Route  # noqa: PLC0415

    saved = (Route.BASE, Route.ID_BASE, websockets.WSS)
    yield
    Route.BASE, Route.ID_BASE, websockets.WSS = saved
