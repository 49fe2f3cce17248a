"""Real headless Chromium for the pages people look at, and an ASGI app served on loopback."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import ASGIApp

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The docs' pictures (docs/obs.md, docs/first-evening.md), made by the browser tests. A run
# writes one only when it is missing, or with COHOST_DOCS_IMG=1 to refresh them all: the
# committed pictures never change under a plain test run (the dashboard shows clock times).
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
# As root in a sandbox with no network: no sandboxing, no GPU, nothing that phones home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshot(page: Any, name: str, *, docs: str | None = None) -> Path:
    """The page as `test-artifacts/NAME`; with `docs`, also as `docs/img/DOCS` (see DOCS_IMG)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=path)
    if docs is not None:
        target = DOCS_IMG / docs
        if os.environ.get("COHOST_DOCS_IMG") == "1" or not target.exists():
            DOCS_IMG.mkdir(exist_ok=True)
            target.write_bytes(path.read_bytes())
    return path


def chromium() -> str:
    """Debian's chromium; a skip where it is missing, a failure where CI must run this."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    reason = ""
    if path is None:
        reason = "chromium is not installed (apt-get install chromium, or scripts/setup --dev)"
    elif importlib.util.find_spec("playwright") is None:
        reason = "playwright is not installed (pip install -e '.[dev]')"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    assert path is not None
    return path


@contextmanager
def serve(app: ASGIApp, *, before_stop: Callable[[], None] | None = None) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread; yields its base URL.

    before_stop runs on the server's loop first (e.g. to end open event streams, which would
    otherwise hold uvicorn's shutdown).
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        if before_stop is not None and server.servers:
            server.servers[0].get_loop().call_soon_threadsafe(before_stop)
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
