"""`cohost run --console`: what the twin makes of each line, as the demo shows it, and quiet logs.

Chat and the twin's replies go to the console's output; every line typed gets a note under it
(picked and why, or skipped and why), every turn its outcome, silent ones included. Log lines
below WARNING go to a file instead of the terminal, so they never break into the chat view.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from cohost.core.events import Decision, TurnTrace

_INDENT = "       "


class ConsoleNotes:
    """Notes under the console's chat lines: picks, skips and turns, in words."""

    def __init__(self, twin: str, *, stream: TextIO | None = None) -> None:
        self.twin = twin
        self.stream = stream or sys.stdout

    def _say(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def ready(self, models: str, *, log_file: Path | None = None, web: str = "") -> None:
        """The twin is listening: what runs it, how to type, where the pages and the log are."""
        self._say(f"cohost: ready, {self.twin} is listening ({models}).")
        if web:
            self._say(f"Dashboard: {web}/dashboard  Overlay for OBS: {web}/overlay")
        self._say(
            "Type chat as `name: text` (`~name:` broadcaster, `@name:` moderator, plain text: "
            "a viewer); `~name: !twin help` lists the commands; Ctrl-D ends."
        )
        if log_file is not None:
            self._say(f"Log lines go to {log_file}.")

    def decision(self, decision: Decision) -> None:
        """Whether the line was picked, and why."""
        if decision.picked:
            parts = ", ".join(f"{name} {value:+.1f}" for name, value in decision.parts)
            self._say(f"{_INDENT}→ picked ({decision.score:.1f}: {parts})")
        else:
            self._say(f"{_INDENT}· skipped: {decision.reason}")

    def trace(self, trace: TurnTrace) -> None:
        """How a turn ended; a reply that went out is already printed as chat."""
        if trace.hits:
            recalled = ", ".join(f"{h.title} ({h.tier})" for h in trace.hits)
            self._say(f"{_INDENT}recalled: {recalled}")
        if trace.outcome != "answered":
            self._say(f"{_INDENT}· no reply ({trace.outcome}): {trace.reason}")


@contextlib.contextmanager
def quiet_terminal_logs(log_file: Path) -> Iterator[None]:
    """While it lasts, the terminal shows warnings and errors only; every log line at the
    configured level goes to `log_file`. The handlers are as they were afterwards."""
    root = logging.getLogger()
    terminal = [
        h
        for h in root.handlers
        if isinstance(h, logging.StreamHandler)
        and getattr(h, "stream", None) in (sys.stderr, sys.stdout)
    ]
    levels = [h.level for h in terminal]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(log_file, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for handler in terminal:
        handler.setLevel(max(handler.level, logging.WARNING))
    root.addHandler(to_file)
    try:
        yield
    finally:
        root.removeHandler(to_file)
        to_file.close()
        for handler, level in zip(terminal, levels, strict=True):
            handler.setLevel(level)
