"""The twin's desk: the streamer talks with the twin in private, and teaches it by choosing.

A desk turn is a whole turn (`cohost.pipeline.turn.Turn`: recall, simulation, fusion, guard),
built from the settings as the daemon builds its turns (`cohost.app.build`), but nothing goes
to Twitch or to the stream's sound card: the reply goes to a recording sink, and the voice
writes each piece the turn would say into a WAV file under `DATA_DIR/desk/audio/` that the
desk page plays. What a turn recalled and simulated reaches the desk as the bus events the
dashboard reads (`turn/hits`, `turn/simulated`): the public entries' titles, never a private
one's, and simulated lines as the guard would let them out.

Teaching: for a prompt (the streamer's own message, a viewer's line from a chat log, a seed
conversation's opening), the desk makes 2-4 candidate replies, each a whole turn held for
approval (so nothing is said), each told to avoid the others; from the configured twin, and
where configured one from the base model and one from the embedded twin. The streamer's
choice goes to `cohost.dataset.desk.DeskStore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cohost.adapters.speech import WavSpeaker
from cohost.app.build import Models, build_guard, build_models, speaker_from_settings, turn_setup
from cohost.app.paths import journal_dir, private_dir
from cohost.app.settings import Settings, login_of
from cohost.chatlog import detect_format, open_log
from cohost.control.approvals import ChoiceResult
from cohost.control.controller import CommandResult
from cohost.core.bus_events import (
    TurnEnded,
    TurnRecalled,
    TurnReplied,
    TurnSimulated,
    TurnStarted,
)
from cohost.core.clock import RealClock
from cohost.core.errors import ChatLogError, InputError, SpeakerUnavailable
from cohost.core.events import ChatMessage, Decision, Role, TurnTrace
from cohost.core.ports import Clock, Journal
from cohost.dataset.desk import Candidate, Choice, DeskCounts, DeskStore, Source
from cohost.dataset.seed import Opening, read_openings
from cohost.embedded.bus import LocalBus
from cohost.embedded.markov import MarkovSimulator
from cohost.pipeline.deliver import RecordingSink
from cohost.pipeline.guard import Guard
from cohost.pipeline.privacy import trace_public_reason
from cohost.pipeline.turn import Turn, TurnOptions, TurnParts
from cohost.session import TurnSetup
from cohost.text.render import clean_name, clean_text

if TYPE_CHECKING:
    from cohost.web.app import Metrics

log = logging.getLogger(__name__)

AUDIO_PREFIX = "desk-"
AUDIO_NAME = re.compile(r"desk-[0-9a-f]{12}-[0-9]{1,9}\.wav")  # what the desk's voice writes
MAX_MESSAGE_CHARS = 500  # Twitch's limit: a desk message is one chat line
# What a desk event stream carries besides the bus's own topics.
PIECE = "desk/piece"
REPLY = "desk/reply"
# Bus topics a desk turn passes on (the dashboard's filter decides what of each is shown).
SHOWN_TOPICS = tuple(
    kind.TOPIC for kind in (TurnStarted, TurnRecalled, TurnSimulated, TurnReplied, TurnEnded)
)

DeskEvent = tuple[str, dict[str, object]]


def desk_dir(settings: Settings) -> Path:
    """Where the desk keeps its files: DATA_DIR/desk, the owner's alone (0700)."""
    return private_dir(settings.data_dir / "desk")


def desk_store(settings: Settings) -> DeskStore:
    """The desk's choices, pairs and examples under DATA_DIR/desk.

    Prompts are rendered as the twin model sees chat live: the twin's bot account speaks as
    the twin, the streamer is a chatter like any other (as `cohost dataset dpo` renders them).
    """
    own = login_of(settings.twin.bot_login)
    return DeskStore(desk_dir(settings), settings.twin.name, twin_logins=(own,) if own else ())


@dataclass(frozen=True, slots=True, kw_only=True)
class DeskPrompt:
    """Something to teach on: a chat window ending on the line the twin answers."""

    window: tuple[ChatMessage, ...]
    source: Source
    where: str = ""  # the file and line it came from, for people


class DeskVoice:
    """The desk's Speaker: each piece the turn says becomes a WAV file and a desk event.

    Never the sound card: the desk is private, its page plays the files. With the voice set to
    captions only (or espeak-ng missing), pieces come without audio. The engine is made at the
    first piece said: a daemon whose desk is never used loads no second voice.
    """

    def __init__(
        self, engine: Callable[[], WavSpeaker | None] | None, folder: Path, *, keep: int
    ) -> None:
        self._make = engine
        self._engine: WavSpeaker | None = None
        self.folder = folder
        self.keep = keep
        self._numbers = itertools.count(1)
        self.queue: asyncio.Queue[DeskEvent] | None = None  # the turn being said, if any
        self.failed = 0

    @property
    def engine(self) -> WavSpeaker | None:
        """The voice that writes the files (None: captions only)."""
        if self._make is not None:
            self._engine, self._make = self._make(), None
        return self._engine

    async def aclose(self) -> None:
        """Close the voice, if one was made: its HTTP connections, its scratch folder."""
        engine, self._engine, self._make = self._engine, None, None
        if engine is not None:
            await engine.__aexit__(None, None, None)

    async def say(self, sentence: str, *, turn_id: str) -> None:
        audio = ""
        seconds = 0.0
        if self.engine is not None:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = self.folder / f"{AUDIO_PREFIX}{turn_id}-{next(self._numbers)}.wav"
            try:
                info = await self.engine.synthesize(sentence, path)
                audio, seconds = path.name, info.seconds
            except SpeakerUnavailable as exc:
                self.failed += 1  # the piece still shows; it is only not heard
                log.warning("the desk's voice failed: %s", exc)
        if self.queue is not None:
            piece = {"turn_id": turn_id, "text": sentence, "audio": audio, "seconds": seconds}
            self.queue.put_nowait((PIECE, piece))

    async def stop(self) -> None:
        """Nothing plays here: the page stops its own audio."""

    def prune(self) -> None:
        """Keep the newest `keep` WAV files of the desk."""
        if not self.folder.is_dir():
            return
        files = sorted(self.folder.glob(f"{AUDIO_PREFIX}*.wav"), key=lambda p: p.stat().st_mtime_ns)
        for old in files[: max(0, len(files) - self.keep)]:
            old.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Source:
    """One model that makes candidates, and the parts its turns run on."""

    model: str  # twin, base, embedded
    setup: TurnSetup


class Desk:
    """Private turns and teaching candidates over the configured twin; one turn at a time."""

    def __init__(
        self,
        settings: Settings,
        models: Models,
        *,
        journal: Journal | None = None,
        journal_folder: Path | None = None,
        clock: Clock | None = None,
        speak: bool = True,
        extra: Sequence[tuple[str, Models]] = (),
        topic: Callable[[], str] | None = None,
    ) -> None:
        """models: the configured twin; extra: (name, models) that make one candidate each;
        topic: the stream's topic as it is now (`!twin topic`), which recall looks for too
        (default: COHOST_PICKER__TOPIC_WORDS)."""
        self.settings = settings
        words = " ".join(settings.picker.topic_words)
        self.topic: Callable[[], str] = topic or (lambda: words)
        self.models = models
        self.clock = clock or RealClock()
        self.guard: Guard = build_guard(settings, journal_folder)
        self.journal_folder = journal_folder or journal_dir(settings)  # never a prompt source
        self.setup = turn_setup(settings, models, journal=journal)
        self.sources = [_Source(model="twin", setup=self.setup)] + [
            _Source(model=name, setup=turn_setup(settings, m, journal=journal)) for name, m in extra
        ]
        self._extra = list(extra)
        self.folder = desk_dir(settings)
        self.audio = self.folder / "audio"
        self.store = desk_store(settings)
        clock = self.clock
        engine = (lambda: _voice_engine(settings, clock, self.audio)) if speak else None
        self.voice = DeskVoice(engine, self.audio, keep=settings.desk.keep_audio)
        self.window: deque[ChatMessage] = deque(maxlen=self.setup.window_size)
        self.said: deque[str] = deque(maxlen=8)  # the twin's desk replies: never said again
        self.streamer = login_of(settings.twin.streamer or settings.twitch.channel) or "streamer"
        self.twin = clean_name(settings.twin.name)
        self._one_turn = asyncio.Lock()
        self._teaching = asyncio.Lock()  # one teach_next at a time: a prompt and its candidates
        self.last: TurnTrace | None = None
        self._lesson = _Lesson()

    async def aclose(self) -> None:
        """Close the model servers' connections and the voice."""
        await self.voice.aclose()
        await self.models.aclose()
        for _, models in self._extra:
            await models.aclose()

    # ---- talking -----------------------------------------------------------------------------

    def message(self, text: str, *, login: str | None = None) -> ChatMessage:
        """A desk line: the streamer's own (as the broadcaster), or a viewer's (`login`)."""
        text = " ".join(text.split())
        if not clean_text(text):
            raise InputError("nothing to say: the message is empty")
        if len(text) > MAX_MESSAGE_CHARS:
            raise InputError(f"a message is at most {MAX_MESSAGE_CHARS} characters, as in chat")
        who = login_of(login or "") or self.streamer
        if who == self.twin.lower():
            raise InputError(f"{who} is the twin's own name: speak as yourself or a viewer")
        roles = frozenset({Role.BROADCASTER}) if who == self.streamer else frozenset()
        return ChatMessage(
            id=f"desk-{time.monotonic_ns()}",
            channel=self.streamer,
            login=who,
            display_name=login or who,
            text=text,
            ts=self.clock.now(),
            roles=roles,
        )

    def _decision(self, message: ChatMessage) -> Decision:
        return Decision(
            message=message,
            picked=True,
            score=1e6,
            parts=(("desk", 1e6),),
            reason="said at the twin's desk",
            category="ask",
        )

    async def talk(self, text: str, *, login: str | None = None) -> AsyncGenerator[DeskEvent, None]:
        """One private turn answering `text`: its bus events and pieces as they come, then
        `desk/reply` with the outcome and the reply (as the guard let it out)."""
        message = self.message(text, login=login)
        async with self._one_turn:
            self.window.append(message)
            await asyncio.to_thread(self.voice.prune)
            queue: asyncio.Queue[DeskEvent] = asyncio.Queue()
            bus = LocalBus()
            bus.subscribe(lambda topic, payload: queue.put_nowait((topic, payload)))
            self.voice.queue = queue
            turn = self._turn(self.setup, message, bus=bus, speak=True)
            # Not a TaskGroup: this generator yields while the turn runs, and a group's scope
            # cannot span a yield. The turn is awaited here, or cancelled and awaited in
            # `finally` when the reader goes away (a closed page): it never outlives the call.
            task = asyncio.create_task(turn.run(), name="desk-turn")
            getting: asyncio.Future[DeskEvent] | None = None
            try:
                while True:
                    getting = asyncio.ensure_future(queue.get())
                    await asyncio.wait({getting, task}, return_when=asyncio.FIRST_COMPLETED)
                    if not getting.done():
                        break
                    topic, payload = getting.result()
                    if topic in SHOWN_TOPICS or topic == PIECE:
                        yield topic, payload
                while not queue.empty():
                    topic, payload = queue.get_nowait()
                    if topic in SHOWN_TOPICS or topic == PIECE:
                        yield topic, payload
                trace = await task
            finally:
                self.voice.queue = None
                for pending in (getting, task):
                    if pending is not None and not pending.done():
                        pending.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await pending
            self.last = trace
            if trace.outcome == "answered" and trace.reply:
                self.said.append(trace.reply)
                self.window.append(self._twin_line(trace.reply))
            yield (
                REPLY,
                {
                    "turn_id": trace.turn_id,
                    "outcome": trace.outcome,
                    "reason": trace_public_reason(trace),
                    "reply": trace.reply if trace.outcome == "answered" else "",
                },
            )

    def _twin_line(self, reply: str) -> ChatMessage:
        return ChatMessage(
            id=f"desk-twin-{time.monotonic_ns()}",
            channel=self.streamer,
            login=self.twin.lower(),
            display_name=self.twin,
            text=reply,
            ts=self.clock.now(),
        )

    def _turn(
        self,
        setup: TurnSetup,
        message: ChatMessage,
        *,
        bus: LocalBus | None,
        speak: bool,
        window: Sequence[ChatMessage] | None = None,
        avoid: Sequence[str] = (),
    ) -> Turn:
        options: TurnOptions = dataclasses.replace(
            setup.options,
            voice=speak,
            chat=True,
            hold=not speak,  # a candidate is held: made whole and guarded, never said
            candidates=1,
            avoid=(*self.said, *avoid),
        )
        parts = TurnParts(
            simulator=setup.simulator,
            rewriter=setup.rewriter,
            guard=self.guard,
            clock=self.clock,
            journal=setup.journal,
            speaker=self.voice if speak else None,
            sink=RecordingSink(),  # nothing goes to Twitch
            bus=bus,
            query_for=_query_for(setup, self.topic),
        )
        return Turn(parts, options, self._decision(message), window or self.window)

    def forget(self) -> None:
        """Start the conversation afresh."""
        self.window.clear()
        self.said.clear()

    # ---- teaching ----------------------------------------------------------------------------

    def typed_prompt(self, text: str, *, login: str | None = None) -> DeskPrompt:
        """The streamer's message (or a viewer's) after the desk's conversation so far, which
        it joins: the next turn sees it, and the answer picked or written for it."""
        message = self.message(text, login=login)
        prompt = DeskPrompt(window=(*self.window, message), source="typed")
        self.window.append(message)
        return prompt

    def _answered(self, prompt: DeskPrompt, text: str) -> None:
        """The reply chosen for the typed prompt just shown joins the conversation."""
        if prompt.source == "typed" and self.window and self.window[-1] is prompt.window[-1]:
            self.window.append(self._twin_line(text))

    async def candidates(self, prompt: DeskPrompt, n: int | None = None) -> list[Candidate]:
        """2-4 different guarded replies to the prompt's last line, each from a whole turn.

        One from each extra model (the base model, the embedded twin) that has one to give,
        the rest from the configured twin; a turn that is silent, blocked or repeats a
        candidate gives none, and is tried again a few times.
        """
        want = max(1, min(n or self.settings.desk.candidates, 4))
        message = prompt.window[-1]
        window = prompt.window
        found: list[Candidate] = []
        order = [s for s in self.sources if s.model != "twin"][: want - 1]
        order += [self.sources[0]] * (want - len(order))
        async with self._one_turn:
            for source in order:
                for _ in range(3):
                    text = await self._candidate(source.setup, message, window, found)
                    if text:
                        found.append(Candidate(text=text, model=source.model))
                        break
            # a model with less to say than asked: the twin fills in
            tries = 0
            while len(found) < want and tries < want * 2:
                tries += 1
                text = await self._candidate(self.setup, message, window, found)
                if text:
                    found.append(Candidate(text=text, model="twin"))
        return found

    async def _candidate(
        self,
        setup: TurnSetup,
        message: ChatMessage,
        window: Sequence[ChatMessage],
        found: Sequence[Candidate],
    ) -> str:
        turn = self._turn(
            setup,
            message,
            bus=None,
            speak=False,
            window=window,
            avoid=[c.text for c in found],
        )
        trace = await turn.run()
        if trace.outcome != "held" or not trace.reply:
            return ""
        seen = {" ".join(c.text.split()).casefold() for c in found}
        return "" if " ".join(trace.reply.split()).casefold() in seen else trace.reply

    def pick(self, prompt: DeskPrompt, candidates: Sequence[Candidate], index: int) -> Choice:
        """Candidate `index` (from 0) is the best one."""
        choice = self.store.pick(prompt.window, candidates, index, source=prompt.source)
        self._answered(prompt, candidates[index].text)
        return choice

    def all_bad(self, prompt: DeskPrompt, candidates: Sequence[Candidate]) -> Choice:
        """None of them would do."""
        return self.store.all_bad(prompt.window, candidates, source=prompt.source)

    def write(self, prompt: DeskPrompt, candidates: Sequence[Candidate], answer: str) -> Choice:
        """What the streamer would really say."""
        choice = self.store.write(prompt.window, candidates, answer, source=prompt.source)
        self._answered(prompt, " ".join(answer.split()))
        return choice

    def undo(self) -> str | None:
        """Take back the last choice; its kind, or None when there was none."""
        record = self.store.undo()
        return record.kind if record is not None else None

    def counts(self) -> DeskCounts:
        """What the desk holds."""
        return self.store.counts()

    # ---- the desk page's lessons (cohost.web.desk_page.DeskView) ----------------------------

    def about(self) -> dict[str, object]:
        """Who the twin is and what runs it (no server address), for the page's header."""
        return {
            "twin": self.twin,
            "streamer": self.streamer,
            "models": self.models.label,
            "candidates": self.settings.desk.candidates,
            "source": self._lesson.where,
        }

    def teach_from(self, *, log: Path | None = None, seed: Path | None = None) -> str:
        """Where the next prompts come from: a chat log, a seed file, or (neither) typed."""
        if log is not None and not log.is_file():
            raise InputError("no such chat log", path=log)
        if seed is not None and not seed.is_file():
            raise InputError("no such seed file", path=seed)
        for given in (log, seed):
            # the page names a path: never the journal (a private entry's title is its first
            # line), and never a file's first line in an error (it may hold a secret)
            if given is not None and given.resolve().is_relative_to(self.journal_folder.resolve()):
                raise InputError(
                    "that is in the journal's folder, not chat to teach on", path=given
                )
        if log is not None:
            try:
                detect_format(log)
            except ChatLogError:
                raise InputError(
                    "cannot tell the chat log format (see `cohost dataset build --help`)", path=log
                ) from None
            self._lesson = _Lesson(prompts=log_prompts(log, self.settings), where=str(log))
        elif seed is not None:
            self._lesson = _Lesson(prompts=seed_prompts(seed), where=str(seed))
        else:
            self._lesson = _Lesson()
        return self._lesson.where

    async def teach_next(
        self, *, text: str | None = None, login: str | None = None
    ) -> dict[str, object]:
        """The next prompt and its candidates: `text` typed, or the next from the log or seed."""
        async with self._teaching:  # two at once would read one generator in two threads,
            return await self._teach_next(text=text, login=login)  # and mix up the candidates

    async def _teach_next(self, *, text: str | None, login: str | None) -> dict[str, object]:
        lesson = self._lesson
        if text is not None and text.strip():
            prompt = self.typed_prompt(text, login=login)
        elif lesson.prompts is not None:
            prompts = lesson.prompts
            found = await asyncio.to_thread(lambda: next(prompts, None))
            if found is None:
                lesson.prompts = None
                lesson.current, lesson.shown = None, []
                return {"done": True, "counts": self.counts().as_dict()}
            prompt = found
        else:
            raise InputError("type a message to teach on, or give a chat log or a seed file")
        lesson.current, lesson.shown = None, []  # nothing to choose on while they are made
        shown = await self.candidates(prompt)
        # the prompt and its candidates together: a choice never pairs one with the other's
        lesson.current, lesson.shown = prompt, shown
        lesson.given += 1
        return {
            "done": False,
            "number": lesson.given,
            "where": prompt.where,
            "source": prompt.source,
            "lines": [{"login": m.login, "text": m.text} for m in prompt.window[-6:]],
            "candidates": [{"text": c.text, "model": c.model} for c in lesson.shown],
            "counts": self.counts().as_dict(),
        }

    def teach_choose(
        self, action: str, *, index: int | None = None, text: str | None = None
    ) -> dict[str, object]:
        """The streamer's choice on the prompt shown: pick (index from 0), bad, or write."""
        lesson = self._lesson
        prompt = lesson.current
        if prompt is None:
            raise InputError("no prompt is shown: ask for the next one first")
        if action == "pick":
            if index is None:
                raise InputError("pick needs the candidate's number")
            choice = self.pick(prompt, lesson.shown, index)
        elif action == "bad":
            if not lesson.shown:
                raise InputError("there are no candidates to mark bad")
            choice = self.all_bad(prompt, lesson.shown)
        elif action == "write":
            choice = self.write(prompt, lesson.shown, text or "")
        else:
            raise InputError(f"not a choice: {action!r} (pick, bad or write)")
        lesson.current, lesson.shown = None, []
        return {
            "kind": choice.record.kind,
            "pairs": len(choice.pairs),
            "example": choice.example is not None,
            "counts": self.counts().as_dict(),
        }

    def teach_undo(self) -> dict[str, object]:
        """Take back the last choice."""
        return {"undone": self.undo(), "counts": self.counts().as_dict()}

    def audio_file(self, name: str) -> Path | None:
        """A piece's WAV file by its name, if the desk wrote it and still keeps it."""
        if not AUDIO_NAME.fullmatch(name):
            return None
        path = self.audio / name
        return path if path.is_file() else None


@dataclass(slots=True, kw_only=True)
class _Lesson:
    """Where the page's prompts come from, and the one being taught."""

    prompts: Iterator[DeskPrompt] | None = None
    where: str = "typed"
    current: DeskPrompt | None = None
    shown: list[Candidate] = field(default_factory=list)
    given: int = 0


def _query_for(
    setup: TurnSetup, topic: Callable[[], str]
) -> Callable[[ChatMessage, Sequence[ChatMessage]], str] | None:
    recall_query = setup.recall_query
    if recall_query is None:
        return None

    def query_for(message: ChatMessage, window: Sequence[ChatMessage]) -> str:
        assert recall_query is not None
        return recall_query(message, window, topic())  # the stream's topic as it is now

    return query_for


def _voice_engine(settings: Settings, clock: Clock, folder: Path) -> WavSpeaker | None:
    """The configured voice, writing files into the desk's folder; None for captions only."""
    speech = settings.speech.model_copy(update={"output": "wav", "wav_dir": folder, "keep_wavs": 0})
    speaker = speaker_from_settings(settings.model_copy(update={"speech": speech}), clock)
    if not isinstance(speaker, WavSpeaker):
        return None
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return speaker


# ---- where prompts come from -----------------------------------------------------------------


def log_prompts(
    path: Path,
    settings: Settings,
    *,
    window: int | None = None,
    log_format: str | None = None,
) -> Iterator[DeskPrompt]:
    """A chat log's viewer lines, each with the lines before it: prompts from a real stream.

    Left out as prompts: the streamer's lines, commands, and lines with fewer than two words
    (an emote, a greeting with nothing to answer); the bots' lines are left out altogether,
    but for the twin's own account's (COHOST_TWIN__BOT_LOGIN), whose lines are the twin's.
    """
    size = window or settings.dataset.window
    streamer = login_of(settings.twin.streamer or settings.twitch.channel)
    named = (*settings.picker.known_bots, *settings.picker.extra_bots, *settings.dataset.extra_bots)
    own = login_of(settings.twin.bot_login)  # the twin's own lines: kept, as the twin's
    bots = {login_of(b) for b in named if b} - {own}
    recent: deque[ChatMessage] = deque(maxlen=size)
    for number, event in enumerate(open_log(path, format=log_format), 1):
        if not isinstance(event, ChatMessage):
            continue
        text = clean_text(event.text)
        if not text:
            continue
        if event.login in bots:
            continue  # a bot's line is no chat to answer, nor a line the twin model trains on
        viewer = event.login not in (streamer, own)
        worth = viewer and not text.startswith(("!", "/")) and len(text.split()) >= 2
        recent.append(event)
        if worth:
            yield DeskPrompt(window=tuple(recent), source="log", where=f"{path}#{number}")


def seed_prompts(path: Path, *, viewer: str = "viewer") -> Iterator[DeskPrompt]:
    """A seed file's conversation openings (`cohost dataset seed`), each a viewer's line."""
    for item in read_openings(path, viewer=viewer):
        if isinstance(item, Opening):
            yield DeskPrompt(
                window=(item.message,), source="seed", where=f"{path}:{item.source_line}"
            )


# ---- building a desk from settings -----------------------------------------------------------


@contextlib.asynccontextmanager
async def open_desk(
    settings: Settings,
    *,
    journal_folder: Path | None = None,
    streamer_lines: Sequence[str] | None = None,
    speak: bool = True,
) -> AsyncIterator[Desk]:
    """A desk over the configured twin and a journal folder of its own index.

    The twin learns what the daemon's learns (the streamer's lines in COHOST_TWIN__CHAT_LOGS,
    unless `streamer_lines` are given, and their writings). The journal (default
    DATA_DIR/journal) is indexed into DATA_DIR/desk/index, never the daemon's live index,
    which a running daemon holds open.
    """
    from cohost.app.daemon import streamer_log_lines  # noqa: PLC0415
    from cohost.app.recall_wiring import folder_journal  # noqa: PLC0415

    if streamer_lines is None:
        streamer_lines = await asyncio.to_thread(streamer_log_lines, settings)
    folder = journal_folder or journal_dir(settings)
    models = build_models(settings, streamer_lines=streamer_lines)
    for note in models.notes:
        log.warning("%s", note)
    extra = extra_models(settings, models, streamer_lines)
    with contextlib.ExitStack() as stack:
        journal: Journal | None = None
        if folder.is_dir() and any(folder.glob("*.tid")):
            index_dir = private_dir(desk_dir(settings) / "index")
            journal, _ = await asyncio.to_thread(
                stack.enter_context, folder_journal(settings, folder, index_dir)
            )
        desk = Desk(
            settings,
            models,
            journal=journal,
            journal_folder=folder,
            speak=speak,
            extra=extra,
        )
        try:
            yield desk
        finally:
            await desk.aclose()


def extra_models(
    settings: Settings, models: Models, streamer_lines: Sequence[str]
) -> list[tuple[str, Models]]:
    """The base model and the embedded twin, where the settings ask for them."""
    extra: list[tuple[str, Models]] = []
    desk, sim = settings.desk, settings.simulator
    if desk.base_model and not models.embedded:
        based = sim.model_copy(update={"model": desk.base_model, "adapter": None})
        extra.append(
            (
                "base",
                build_models(
                    settings.model_copy(update={"simulator": based}), streamer_lines=streamer_lines
                ),
            )
        )
    if desk.embedded_candidate and not models.embedded:
        markov = sim.model_copy(update={"kind": "markov", "url": ""})
        embedded = build_models(
            settings.model_copy(update={"simulator": markov}), streamer_lines=streamer_lines
        )
        if isinstance(embedded.simulator, MarkovSimulator) and embedded.simulator.trained:
            extra.append(("embedded", embedded))
        else:
            log.info("no embedded candidate: %s", "; ".join(embedded.notes))
    return extra


class DeskHome:
    """The web app's view when only the desk runs (`cohost chat --web`): no stream, no session.

    The dashboard then shows an idle twin; commands and held replies belong to `cohost run`.
    """

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.bus = LocalBus()
        self.started = time.time()

    def health(self) -> dict[str, object]:
        """What /healthz says: the desk's twin, and that no stream runs here."""
        return {
            "ok": True,
            "uptime_s": round(time.time() - self.started, 1),
            "state": {},
            "events": 0,
            "picks": 0,
            "turns": {},
            "commands": 0,
            "errors": 0,
            "busy": False,
            "held": 0,
            "models": self.desk.models.label,
            "embedded": self.desk.models.embedded,
            "links": {},
            "degraded": False,
            "desk": True,
        }

    def metrics(self) -> Metrics:
        """No stream, no figures."""
        from cohost.web.app import Metrics  # noqa: PLC0415

        return Metrics(uptime_s=time.time() - self.started)

    def subscribe(self, handler: Callable[[str, dict[str, object]], None]) -> Callable[[], None]:
        """Nothing is published here: the desk streams its turns itself."""
        return self.bus.subscribe(handler)

    def recent_turns(self) -> list[dict[str, object]]:
        """No stream's turns."""
        return []

    async def command(self, text: str) -> CommandResult | None:
        """`!twin` commands steer a running daemon, not the desk."""
        return None

    async def choose(self, turn_id: str, choice: int, text: str | None = None) -> ChoiceResult:
        """Nothing is held here."""
        return ChoiceResult(ok=False, reason="nothing is held at the desk: teach on /desk")

    async def reject(self, turn_id: str) -> ChoiceResult:
        """Nothing is held here."""
        return ChoiceResult(ok=False, reason="nothing is held at the desk")


class DeskSlot:
    """The daemon's desk page before and after the twin's models are built.

    The web app starts first (its port is checked before anything runs); the daemon attaches
    the desk once the models it shares with the stream are there. Until then the page is told
    the twin is starting.
    """

    def __init__(self) -> None:
        self.desk: Desk | None = None

    def attach(self, desk: Desk) -> None:
        """The desk to serve from now on."""
        self.desk = desk

    async def detach(self) -> None:
        """No desk any more (the daemon stops): its voice closes; the models are the stream's."""
        desk, self.desk = self.desk, None
        if desk is not None:
            await desk.voice.aclose()

    def _desk(self) -> Desk:
        if self.desk is None:
            raise InputError("the twin is still starting: try again in a moment")
        return self.desk

    def message(self, text: str, *, login: str | None = None) -> ChatMessage:
        """See `Desk.message`."""
        return self._desk().message(text, login=login)

    async def talk(self, text: str, *, login: str | None = None) -> AsyncGenerator[DeskEvent, None]:
        """See `Desk.talk`."""
        async for event in self._desk().talk(text, login=login):
            yield event

    def about(self) -> dict[str, object]:
        """See `Desk.about`."""
        return self._desk().about()

    def teach_from(self, *, log: Path | None = None, seed: Path | None = None) -> str:
        """See `Desk.teach_from`."""
        return self._desk().teach_from(log=log, seed=seed)

    async def teach_next(
        self, *, text: str | None = None, login: str | None = None
    ) -> dict[str, object]:
        """See `Desk.teach_next`."""
        return await self._desk().teach_next(text=text, login=login)

    def teach_choose(
        self, action: str, *, index: int | None = None, text: str | None = None
    ) -> dict[str, object]:
        """See `Desk.teach_choose`."""
        return self._desk().teach_choose(action, index=index, text=text)

    def teach_undo(self) -> dict[str, object]:
        """See `Desk.teach_undo`."""
        return self._desk().teach_undo()

    def counts(self) -> DeskCounts:
        """See `Desk.counts`."""
        return self._desk().counts()

    def audio_file(self, name: str) -> Path | None:
        """See `Desk.audio_file`; nothing before the desk is there."""
        return self.desk.audio_file(name) if self.desk is not None else None
