"""Turn traces and decisions as JSON: one object per line, readable without cohost.

A turn is written when it ends. A turn held for approval (outcome "held") is written again once
the streamer approves or rejects it, or it expires: the later line for a `turn_id` stands, and
its `decided` field says what happened. Readers that count turns keep the last line per id.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import IO

from cohost.core.events import TurnTrace
from cohost.core.serialise import json_line, trace_dict

log = logging.getLogger(__name__)


class TraceWriter:
    """Appends traces as JSON lines, flushed per turn so a crash loses at most one.

    A trace holds what the journal gave the turn, private entries included (the fused prompt
    too): the file is the owner's alone (0600), as the journal's `.tid` files are.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with contextlib.suppress(OSError):  # a file someone else owns stays as it is
            os.fchmod(fd, 0o600)  # a file from before (an older cohost, the same day) too
        self._file: IO[str] = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, trace: TurnTrace) -> None:
        self._file.write(json_line(trace_dict(trace)))
        self._file.flush()

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            # a full disk refuses the last buffered trace again; the file is closed all the same
            log.exception("closing the trace file %s failed", self.path)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
