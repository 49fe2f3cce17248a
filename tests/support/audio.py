"""What the voice tests share: espeak-ng required (on CI, present), and a fake `aplay` on PATH."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def require_espeak() -> None:
    """Skip without espeak-ng, except on CI, where scripts/setup installs it: fail there."""
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("espeak-ng is missing on CI (scripts/setup installs it)")
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")


def fake_aplay(bin_dir: Path, *, card: bool, play_exit: int = 0) -> Path:
    """An `aplay` that lists one card (or none) and logs what it is asked to play; the log."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    played = bin_dir / "played.log"
    listing = 'echo "card 0: Fake [Fake Audio], device 0: Fake PCM [Fake PCM]"' if card else ":"
    script = bin_dir / "aplay"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-l" ]; then {listing}; exit 0; fi\n'
        f'for last; do :; done; echo "$last" >> "{played}"\n'
        f'[ {play_exit} = 0 ] || echo "audio open error: Device or resource busy" >&2\n'
        f"exit {play_exit}\n"
    )
    script.chmod(0o755)
    return played


def on_path(monkeypatch: pytest.MonkeyPatch, bin_dir: Path, *, keep_system: bool = True) -> None:
    """Put `bin_dir` first on PATH (alone, without `keep_system`)."""
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}" if keep_system else str(bin_dir)
    monkeypatch.setenv("PATH", path)
