"""The data directory's layout: where each part keeps its files under DATA_DIR."""

from __future__ import annotations

import contextlib
from pathlib import Path

from cohost.app.settings import Settings


def private_dir(folder: Path) -> Path:
    """The folder, made if need be, and the owner's alone (0700): for journal text and state."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):  # a folder someone else owns stays as it is
        folder.chmod(0o700)
    return folder


def journal_dir(settings: Settings) -> Path:
    """Where the journal lives: DATA_DIR/journal, the owner's alone (0700) once it exists.

    Its file names are the entries' titles: an older cohost left the folder 0755.
    """
    folder = settings.data_dir / "journal"
    if folder.is_dir():
        private_dir(folder)
    return folder


def wav_dir_of(settings: Settings) -> Path:
    """Where the voice writes its WAV files."""
    return settings.speech.wav_dir or settings.data_dir / "speech"
