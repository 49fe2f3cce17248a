"""The data directory's layout: where each part keeps its files under DATA_DIR."""

from __future__ import annotations

from pathlib import Path

from cohost.app.settings import Settings


def journal_dir(settings: Settings) -> Path:
    """Where the journal lives: DATA_DIR/journal."""
    return settings.data_dir / "journal"


def wav_dir_of(settings: Settings) -> Path:
    """Where the voice writes its WAV files."""
    return settings.speech.wav_dir or settings.data_dir / "speech"
