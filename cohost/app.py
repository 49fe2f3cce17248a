"""Builds the parts of a turn from Settings: embedded defaults, or model servers when configured."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from cohost.config import Settings
from cohost.errors import SettingsError
from cohost.pipeline.fuse import ExtractiveRewriter
from cohost.pipeline.guard import Guard, default_rules
from cohost.pipeline.privacy import privacy_rule_for
from cohost.pipeline.simulate import MarkovSimulator, read_writings
from cohost.ports import Rewriter, Simulator

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Models:
    """The simulator and rewriter, and words a person can read about what they are."""

    simulator: Simulator
    rewriter: Rewriter
    description: str  # with the servers' addresses (no credentials): for logs and reports
    label: str  # without any address: for what anyone may read (/healthz)
    look_ahead_lines: int
    embedded: bool = False  # the twin is the Markov stand-in, not a served LoRA
    notes: tuple[str, ...] = ()
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()

    async def aclose(self) -> None:
        """Close the model servers' connections."""
        for close in self.closers:
            await close()


def uses_server(kind: str, url: str) -> bool:
    """`auto` means: a server when a URL is set, the embedded part otherwise."""
    return kind == "openai" or (kind == "auto" and bool(url))


def build_models(
    settings: Settings, *, streamer_lines: Sequence[str] = (), chat_lines: Sequence[str] = ()
) -> Models:
    """The twin simulator and rewriter that settings ask for.

    The embedded Markov simulator learns from the streamer's own chat lines and their writing
    files; when neither has anything, it learns from `chat_lines` (everyone's) and says so.
    """
    notes: list[str] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    twin = settings.twin
    sim = settings.simulator
    simulator: Simulator
    if uses_server(sim.kind, sim.url):
        if not sim.url:
            raise SettingsError("COHOST_SIMULATOR__KIND=openai needs COHOST_SIMULATOR__URL")
        from cohost.adapters.openai_models import OpenAISimulator  # noqa: PLC0415

        server = OpenAISimulator.from_settings(
            sim, twin_logins=[login for login in (twin.bot_login,) if login]
        )
        closers.append(server.aclose)
        simulator = server
        label = f"{sim.model} ({sim.server_kind})"
        description = f"{sim.model} at {_address(sim.url)} ({sim.server_kind})"
    else:
        simulator, description = _markov(settings, streamer_lines, chat_lines, notes)
        label = description
    rew = settings.rewriter
    rewriter: Rewriter
    if uses_server(rew.kind, rew.url):
        if not rew.url:
            raise SettingsError("COHOST_REWRITER__KIND=openai needs COHOST_REWRITER__URL")
        from cohost.adapters.openai_models import OpenAIRewriter  # noqa: PLC0415

        fuser = OpenAIRewriter.from_settings(rew)
        closers.append(fuser.aclose)
        rewriter = fuser
        description += f"; rewriter: {rew.model} at {_address(rew.url)} ({rew.where})"
        label += f"; rewriter: {rew.model} ({rew.where})"
        look_ahead = sim.look_ahead_lines
    else:
        rewriter = ExtractiveRewriter()
        description += "; rewriter: extractive (embedded)"
        label += "; rewriter: extractive (embedded)"
        # The extractive rewriter chooses among the twin's simulated lines: let it see them all.
        look_ahead = sim.max_lines
    return Models(
        simulator=simulator,
        rewriter=rewriter,
        description=description,
        label=label,
        look_ahead_lines=look_ahead,
        embedded=isinstance(simulator, MarkovSimulator),
        notes=tuple(notes),
        closers=tuple(closers),
    )


FEW_LINES = 20  # below this, the embedded twin has little to say that it has not said


def _markov(
    settings: Settings,
    streamer_lines: Sequence[str],
    chat_lines: Sequence[str],
    notes: list[str],
) -> tuple[MarkovSimulator, str]:
    twin = settings.twin
    markov = MarkovSimulator.from_settings(settings.simulator)
    markov.train(streamer_lines)
    markov.train(read_writings(twin.writings))
    description = (
        f"markov (embedded, order {settings.simulator.markov_order}) on {len(streamer_lines)} "
        f"line(s) by {twin.streamer or 'nobody'} and {len(twin.writings)} writing file(s)"
    )
    if not markov.trained and chat_lines:
        # Lines that name the twin are others talking to it, not it talking.
        names = {n.casefold() for n in (twin.name, *twin.aliases, twin.streamer) if n}
        markov.train(
            line for line in chat_lines if not names & set(re.findall(r"\w+", line.casefold()))
        )
        description = f"markov (embedded) on {len(chat_lines)} chat line(s) by everyone"
        notes.append(
            f"the streamer {twin.streamer or '(not set)'} said nothing here and no writings were "
            "given, so the embedded Markov chain learned from everyone's lines"
        )
    if not markov.trained:
        notes.append(
            "the embedded twin has nothing to learn from: set COHOST_TWIN__WRITINGS or "
            "COHOST_TWIN__CHAT_LOGS (with COHOST_TWIN__STREAMER), or a model server"
        )
    elif streamer_lines and not twin.writings and len(streamer_lines) < FEW_LINES:
        # a chain on a handful of lines can only say them again, and the twin never repeats
        # itself: most turns end silent
        notes.append(
            f"the embedded twin learned from only {len(streamer_lines)} line(s) by "
            f"{twin.streamer}: expect most turns to be silent (it never repeats a reply); "
            "COHOST_TWIN__WRITINGS gives it more to learn from"
        )
    return markov, description


def _address(url: str) -> str:
    """A server's URL as it may be logged: no user, password or query (keys hide there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def build_guard(settings: Settings) -> Guard:
    """The guard over settings: the content rules, then the journal's privacy rule."""
    journal = settings.journal
    privacy = privacy_rule_for(n=journal.privacy_run_words, mode=journal.privacy_mode)
    return Guard(settings.guard, rules=[*default_rules(settings.guard), privacy])
