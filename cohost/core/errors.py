"""The error hierarchy; each error is policy for whoever catches it.

CohostError
├── Transient          log it, end or degrade this turn, count it; the daemon goes on
│   ├── SimulatorUnavailable
│   ├── RewriterUnavailable
│   ├── ReplyCut       the reply stopped at its token or time cap: the last words may be half
│   ├── SpeakerUnavailable
│   ├── BusUnavailable
│   └── JournalUnavailable
├── Permanent          bad credentials or setup: exit non-zero with a clear message
│   └── SettingsError
└── InputError         bad outside input: names the file, line or field
    ├── ChatLogError
    └── JournalFormatError
"""

from __future__ import annotations

from pathlib import Path


class CohostError(Exception):
    """Root of every error cohost raises on purpose."""


class Transient(CohostError):
    """Worth retrying later; ends or degrades one turn, never the daemon."""


class Permanent(CohostError):
    """Cannot heal by waiting: exit with a clear message and let systemd decide."""


class SimulatorUnavailable(Transient):
    """The twin model server refused, failed or stalled."""


class RewriterUnavailable(Transient):
    """The rewriter model server refused, failed or stalled."""


class ReplyCut(Transient):
    """The rewriter's reply ended at its token or time cap, not where the model ended it.

    Raised after the last piece: what came is usable, and its unfinished last sentence is not.
    """


class SpeakerUnavailable(Transient):
    """The TTS engine failed."""


class BusUnavailable(Transient):
    """The event bus (MQTT broker) is gone."""


class JournalUnavailable(Transient):
    """The journal's vector index cannot be reached or opened (a server down, a locked folder)."""


class SettingsError(Permanent):
    """Invalid settings; the message names the field and the (masked) value."""


class InputError(CohostError):
    """Bad outside input, located precisely."""

    def __init__(self, reason: str, *, path: Path | str | None = None, line: int | None = None):
        self.reason = reason
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(self.located())

    def located(self) -> str:
        """`file:line: reason`, with whatever location is known."""
        if self.path is None:
            return self.reason
        if self.line is None:
            return f"{self.path}: {self.reason}"
        return f"{self.path}:{self.line}: {self.reason}"


class ChatLogError(InputError):
    """A chat log line that no reader can make sense of."""


class JournalFormatError(InputError):
    """A malformed .tid file or TiddlyWiki export."""
