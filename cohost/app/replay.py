"""`cohost replay`: logged chat through the very same pipeline, on a virtual clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from cohost.app.build import Models, build_guard, build_models, turn_setup
from cohost.app.chatters import open_regulars, regulars_of
from cohost.app.paths import private_dir
from cohost.app.recall_wiring import folder_journal
from cohost.app.report import ReplayReport
from cohost.app.settings import Settings, login_of
from cohost.app.traces import TraceWriter
from cohost.chatlog import ChatLog, open_log
from cohost.control.controller import AddedCommand, CommandResult
from cohost.core.clock import VirtualClock
from cohost.core.events import ChatEvent, ChatMessage, Decision, Role, TurnTrace
from cohost.core.files import write_atomic
from cohost.core.ports import Journal
from cohost.core.state import TwinState
from cohost.embedded.bus import LocalBus
from cohost.pipeline.deliver import CaptionSpeaker, RecordingSink
from cohost.pipeline.reactions import Reactions
from cohost.session import Session, SessionOptions


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """Where a replay wrote its files, and its report."""

    traces: Path
    report_json: Path
    report_md: Path
    captions: Path
    report: ReplayReport


# What a replay cannot do as the stream did, refused by name: it holds nothing for approval (the
# log does not say what the streamer approved), and it never writes the journal or the feedback
# store.
_NOT_IN_REPLAY = {
    "hold": "a replay holds nothing for approval",
    "approve": "a replay holds nothing for approval",
    "reject": "a replay holds nothing for approval",
    "note": "a replay never writes the journal",
    "good": "a replay stores no feedback",
    "bad": "a replay stores no feedback",
}


class _LogSource:
    """A chat log as a chat source: the virtual clock moves to each event's time as it is read,
    at real time times `speed` (0: as fast as it goes)."""

    def __init__(self, events: Generator[ChatEvent, None, None], clock: VirtualClock, speed: float):
        self._events = events
        self._clock = clock
        self._speed = speed

    async def events(self) -> AsyncGenerator[ChatEvent, None]:
        last_ts: float | None = None
        with contextlib.closing(self._events) as events:
            for event in events:
                if self._speed > 0 and last_ts is not None and event.ts > last_ts:
                    await asyncio.sleep((event.ts - last_ts) / self._speed)
                last_ts = event.ts
                self._clock.advance_to(event.ts)
                yield event


@dataclass(slots=True)
class _Voices:
    streamer: str
    streamer_lines: list[str]


def _first_pass(log: ChatLog, streamer: str, twin_names: Sequence[str]) -> _Voices:
    """The streamer's own lines (finding the broadcaster when not told), read as a stream."""
    wanted = streamer.casefold()
    found = channel = ""
    lines: dict[str, list[str]] = {}
    # What the streamer says *to* the twin is not how the twin talks.
    to_twin = re.compile(
        r"\b(?:" + "|".join(re.escape(n) for n in twin_names if n) + r")\b", re.IGNORECASE
    )
    for event in log:
        if not isinstance(event, ChatMessage):
            continue
        text = event.text.strip()
        if not text or text[0] in "!/":
            continue
        channel = channel or event.channel.casefold()
        login = event.login.casefold()
        broadcaster = Role.BROADCASTER in event.roles
        if not wanted and not found and broadcaster:
            found = login
        theirs = login == wanted or (not wanted and (broadcaster or login == channel))
        if theirs and not (twin_names and to_twin.search(text)):
            lines.setdefault(login, []).append(text)
    # Whose twin, when nobody said: the broadcaster who spoke, else the channel's owner.
    name = wanted or found or channel
    return _Voices(streamer=name, streamer_lines=lines.get(name, []))


def replay_settings(settings: Settings, twin: str | None) -> Settings:
    """`--twin NAME`: the twin of NAME, who trains it and whose name chat uses for it."""
    if not twin:
        return settings
    aliases = [a for a in settings.twin.aliases if a.casefold() != twin.casefold()]
    new_twin = settings.twin.model_copy(update={"name": twin, "streamer": twin, "aliases": aliases})
    return settings.model_copy(update={"twin": new_twin})


def _events(log: ChatLog, show_progress: bool) -> Generator[ChatEvent, None, None]:
    if not show_progress:
        yield from log
        return
    with tqdm(desc="replay", unit="msg", file=sys.stderr, dynamic_ncols=True) as bar:
        for event in log:
            bar.update(1)
            yield event


async def replay(
    path: Path,
    out_dir: Path,
    settings: Settings,
    *,
    speed: float = 0.0,
    twin: str | None = None,
    log_format: str | None = None,
    strict: bool = False,
    progress: bool | None = None,
    on_decision: Callable[[Decision], None] | None = None,
    on_trace: Callable[[TurnTrace], None] | None = None,
    journal: Path | None = None,
    learn_from_log: bool = True,
    commands: Sequence[AddedCommand] = (),
    csv_columns: Mapping[str, str] | None = None,
) -> ReplayResult:
    """Replay one log into out_dir: traces.jsonl, report.json, report.md, captions.jsonl.

    With `journal` (a folder of .tid files), turns recall from it through an index built from
    those files into out_dir/index. The embedded twin learns from the streamer's lines in the
    log unless `learn_from_log` is false (then only from their writings): a twin that learnt
    from the log can say the streamer's next line before the streamer does. `commands` are
    `!twin` commands beyond the built-ins, as the daemon takes them.
    """
    settings = replay_settings(settings, twin)
    names = [settings.twin.name, *settings.twin.aliases] if settings.twin.streamer else []
    voices = _first_pass(
        open_log(path, format=log_format, strict=strict, csv_columns=csv_columns),
        settings.twin.streamer,
        names,
    )
    if not settings.twin.streamer and voices.streamer:
        settings = replay_settings(settings, voices.streamer)
    models = build_models(settings, streamer_lines=voices.streamer_lines if learn_from_log else ())
    try:
        with ExitStack() as stack:
            recaller = None
            notes = list(models.notes)
            if journal is not None:
                # the index holds the journal's text, private entries' too: the owner's alone
                recaller, index = stack.enter_context(
                    folder_journal(settings, journal, private_dir(out_dir / "index"))
                )
                notes.append(
                    f"journal: {index.vectors.count()} chunk(s) indexed from {journal} "
                    f"({getattr(index.embedder, 'name', type(index.embedder).__name__)})"
                )
            return await _replay(
                path,
                out_dir,
                settings,
                models,
                journal=recaller,
                kept_from=journal,
                notes=notes,
                speed=speed,
                log_format=log_format,
                strict=strict,
                progress=progress,
                on_decision=on_decision,
                on_trace=on_trace,
                commands=commands,
                csv_columns=csv_columns,
            )
    finally:
        await models.aclose()


async def _replay(
    path: Path,
    out_dir: Path,
    settings: Settings,
    models: Models,
    *,
    journal: Journal | None,
    kept_from: Path | None = None,
    notes: list[str],
    speed: float,
    log_format: str | None,
    strict: bool,
    progress: bool | None,
    on_decision: Callable[[Decision], None] | None,
    on_trace: Callable[[TurnTrace], None] | None,
    commands: Sequence[AddedCommand],
    csv_columns: Mapping[str, str] | None = None,
) -> ReplayResult:
    log = open_log(path, format=log_format, strict=strict, csv_columns=csv_columns)
    out_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, before any turn)
    report = ReplayReport(
        source=str(path),
        format=log.format,
        twin=settings.twin.name,
        simulator=models.description,
        notes=notes,
    )
    result = ReplayResult(
        traces=out_dir / "traces.jsonl",
        report_json=out_dir / "report.json",
        report_md=out_dir / "report.md",
        captions=out_dir / "captions.jsonl",
        report=report,
    )
    for stale in (result.traces, result.captions):
        stale.unlink(missing_ok=True)
    clock = VirtualClock()
    bus = LocalBus()
    state = TwinState(topic=" ".join(settings.picker.topic_words))
    with ExitStack() as stack:
        traces = stack.enter_context(TraceWriter(result.traces))
        speaker = CaptionSpeaker(clock, bus=bus, path=result.captions)
        stack.callback(speaker.close)

        def decided(decision: Decision) -> None:
            report.add_decision(decision)
            if on_decision is not None:
                on_decision(decision)

        def finished(trace: TurnTrace) -> None:
            traces.write(trace)
            report.add_trace(trace)
            if on_trace is not None:
                on_trace(trace)

        def commanded(command: CommandResult, message: ChatMessage | None) -> None:
            if message is not None:
                report.add_command(message, command)

        # logged `!twin` commands steer the replay as they steered the stream (no audit file);
        # as live, the bot's own lines never reach the controller, nor here other bots'
        bots = {login_of(b) for b in (settings.twin.bot_login, *settings.picker.known_bots) if b}
        # what the replayed journal keeps is kept from every text (default: DATA_DIR's)
        guard = build_guard(settings, kept_from)
        # regulars (when on) are kept beside the report: replaying past logs in order rebuilds them
        channel = settings.twitch.channel or settings.twin.streamer
        regulars = open_regulars(settings, channel, out_dir, clock, stack)
        session = Session(
            SessionOptions(
                channel=settings.twin.streamer or "replay",
                not_commands=frozenset(bots),
                refused=_NOT_IN_REPLAY,
            ),
            control=settings.control,
            state=state,
            clock=clock,
            guard=guard,
            sink=RecordingSink(),
            speaker=speaker,
            bus=bus,
            commands=commands,
            reactions=Reactions(settings.reactions),
            regulars=regulars_of(settings, regulars, guard, skip=bots),
            on_decision=decided,
            on_trace=finished,
            on_command=commanded,
        )
        session.start(turn_setup(settings, models, journal=journal))  # inline: repeatable
        show = sys.stderr.isatty() if progress is None else progress
        await session.chat_in(_LogSource(_events(log, show and speed == 0), clock, speed))
    report.unreadable_lines = log.stats.skipped
    report.unreadable_reasons = list(log.stats.first_reasons)
    # 0600, as the traces: the reports quote replies, which a journal may have informed
    write_atomic(
        result.report_json, json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    )
    write_atomic(result.report_md, report.to_markdown())
    return result
