"""`cohost demo`: a bundled sample stream replayed live on the terminal; no account or GPU.

The embedded twin learns from the streamer's writing (writing.md), a sample kept apart from
the chat it replays: trained on that chat, it would say the streamer's next line before the
streamer does.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

from cohost.app.build import uses_server
from cohost.app.replay import replay
from cohost.app.settings import Settings
from cohost.core.events import Decision, TurnTrace
from cohost.core.net import address

DEMO_TWIN = "mossbot"
DEMO_STREAMER = "mossbyte"


def demo_files() -> Path:
    """The bundled sample data: a chat log, the streamer's writing, journal notes."""
    return Path(str(resources.files("cohost") / "data" / "demo"))


class _Printer:
    """Chat, picks with their reasons, and the twin's replies, as they happen."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def _c(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def decision(self, decision: Decision) -> None:
        message = decision.message
        print(f"{self._c('2', '[chat]')} {self._c('1', message.display_name)}: {message.text}")
        if decision.picked:
            parts = ", ".join(f"{name} {value:+.1f}" for name, value in decision.parts)
            print(f"       {self._c('33', '→ picked')} ({decision.score:.1f}: {parts})")
        elif decision.category not in ("low_score",):
            print(f"       {self._c('2', f'· skipped, {decision.category}: {decision.reason}')}")
        sys.stdout.flush()

    def trace(self, trace: TurnTrace) -> None:
        if trace.hits:
            recalled = ", ".join(f"{h.title} ({h.tier})" for h in trace.hits)
            print(f"       {self._c('35', f'recalled: {recalled}')}")
        if trace.outcome == "answered":
            print(f"{self._c('36;1', f'[{DEMO_TWIN}]')} {trace.reply}")
        else:
            print(f"       {self._c('2', f'· no reply ({trace.outcome}): {trace.reason}')}")
        sys.stdout.flush()


def with_demo_twin(settings: Settings) -> Settings:
    """The settings with the demo's twin (its name, streamer and writing): for trying cohost
    at a terminal with no twin configured."""
    twin = settings.twin.model_copy(
        update={
            "name": DEMO_TWIN,
            "streamer": DEMO_STREAMER,
            "writings": [demo_files() / "writing.md"],
        }
    )
    return settings.model_copy(update={"twin": twin})


def models_banner(settings: Settings) -> str:
    """What runs the twin and the rewriter in this demo, as the settings pick them."""
    sim, rew = settings.simulator, settings.rewriter
    served = uses_server(sim.kind, sim.url), uses_server(rew.kind, rew.url)
    twin = (
        f"model {sim.model!r} at {address(sim.url)} ({sim.server_kind})"
        if served[0]
        else "a Markov chain (embedded) trained on the streamer's writing, not on this chat"
    )
    rewriter = (
        f"model {rew.model!r} at {address(rew.url)}"
        if served[1]
        else "extractive (embedded): the simulated line of the twin that fits best"
    )
    where = "model servers: they must be running" if any(served) else "no GPU, no network"
    return f"  twin: {twin}\n  rewriter: {rewriter}\n  ({where})"


async def run_demo(settings: Settings, *, speed: float = 12.0, out: Path | None = None) -> int:
    """Replay the sample stream at a readable pace; returns the exit status."""
    files = demo_files()
    twin = settings.twin.model_copy(
        update={
            "name": DEMO_TWIN,
            "aliases": ["moss bot"],
            "streamer": DEMO_STREAMER,
            "writings": [files / "writing.md"],
        }
    )
    settings = settings.model_copy(update={"twin": twin})
    out_dir = out or settings.data_dir / "demo"
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    printer = _Printer(color)
    print(
        f"cohost demo: a short stream by {DEMO_STREAMER}, with {DEMO_TWIN} co-hosting.\n"
        f"{models_banner(settings)}\n"
    )
    result = await replay(
        files / "chat.txt",
        out_dir,
        settings,
        speed=speed,
        progress=False,
        on_decision=printer.decision,
        on_trace=printer.trace,
        journal=files / "journal",
        learn_from_log=False,  # the twin must not know the lines it is about to see
    )
    report = result.report
    print(
        f"\n{report.seen} messages, {report.picked} picked, "
        f"{report.outcomes.get('answered', 0)} answered."
    )
    print(f"traces: {result.traces}\nreport: {result.report_md}")
    return 0
