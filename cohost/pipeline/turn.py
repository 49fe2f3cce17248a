"""One whole turn: recall → simulate → fuse → guard → deliver, one cancellable task, one trace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from cohost.core.bus_events import (
    KEPT_BACK,
    PRIVATE_TITLE,
    BusEvent,
    HitShown,
    SimulatedLine,
    TurnCandidates,
    TurnEnded,
    TurnHeld,
    TurnRecalled,
    TurnReplied,
    TurnSimulated,
    TurnStarted,
)
from cohost.core.errors import ReplyCut, RewriterUnavailable, SimulatorUnavailable, Transient
from cohost.core.events import (
    Cancel,
    ChatMessage,
    Decision,
    Failure,
    Flaw,
    GuardVerdict,
    Hit,
    Quality,
    SimLine,
    StageTime,
    Tier,
    TurnTrace,
)
from cohost.core.ports import (
    Bus,
    ChatSink,
    Clock,
    FusionRequest,
    Journal,
    Rewriter,
    SimRequest,
    Simulator,
    Speaker,
)
from cohost.core.serialise import emit
from cohost.core.state import TwinState
from cohost.pipeline.deliver import post
from cohost.pipeline.guard import Guard, GuardResult, cleaned
from cohost.pipeline.privacy import (
    find_private_runs,
    longest_run,
    speakable,
    trace_public_reason,
)
from cohost.pipeline.quality import PromptMarkers, QualityCheck, SpeechGate, unfinished
from cohost.pipeline.shape import ReplyShaper
from cohost.text.fold import folded_words, same_text_key
from cohost.text.sentences import SentenceBuffer, chunk_for_chat, split_sentences

log = logging.getLogger(__name__)

# What the speaker may lag behind the rewriter, in chunks. The voice is slower than any model,
# and the reply's stream must not wait on it: the chat post would wait for the audio. A reply
# is bounded by the rewriter's token cap, far below this; only past it does the stream wait.
SPEECH_AHEAD = 64
# a simulation whose twin lines were all said already is drawn once more before the turn
# goes silent (the embedded twin, on a small corpus, often repeats itself)
REDRAWS = 1
# The longest piece said (and captioned) at once: about four lines of the overlay's caption.
SPEECH_CHUNK_CHARS = 180


def _retrieve(task: asyncio.Task[list[Hit]]) -> None:
    """Look at a finished task's error, so that asyncio never reports it as unretrieved."""
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnOptions:
    """How turns run; the live switches (voice, chat) come from the daemon's state."""

    twin: str
    mode: Literal["pipelined", "sequential"] = "pipelined"
    max_sim_lines: int = 4
    lookahead_lines: int = 1  # simulated lines after the twin's first before fusion starts
    # Speech may start at a clause (, ; : -) of the reply's first sentence once it has this
    # many words; later chunks are whole sentences, for the voice's prosody. None: sentences only.
    first_chunk_words: int | None = 5
    recall_k: int = 4
    voice: bool = True
    chat: bool = True
    hold: bool = False  # the reply waits for approval: nothing is said or posted by the turn
    candidates: int = 1  # replies to fuse; the others are offered on the dashboard
    avoid: tuple[str, ...] = ()  # the twin's recent replies: never said again
    # The guard's privacy rule: this many words in a row from a private entry are a leak. With a
    # private entry recalled, speech keeps this many words minus one behind the stream.
    privacy_run_words: int = 8
    # What of the rewriter's prompt a reply must never repeat; None: every bundled template's.
    prompt_markers: PromptMarkers | None = None


@dataclass(slots=True, kw_only=True)
class TurnParts:
    """The ports one turn talks to; None means that part is switched off."""

    simulator: Simulator
    rewriter: Rewriter
    guard: Guard
    clock: Clock
    journal: Journal | None = None
    speaker: Speaker | None = None
    sink: ChatSink | None = None
    bus: Bus | None = None
    query_for: Callable[[ChatMessage, Sequence[ChatMessage]], str] | None = None
    # Public facts about the message's author beside the journal's hits (regulars); None: none
    context_for: Callable[[ChatMessage], Sequence[Hit]] | None = None
    # The daemon's live switches: `chat off` and `hold on` typed while a turn runs still apply
    # to its reply, which is posted (or held) only when it is complete.
    state: TwinState | None = None


class _Stages:
    """Records the start and end of each stage on the clock's monotonic time."""

    def __init__(self, clock: Clock, trace: TurnTrace) -> None:
        self._clock = clock
        self._trace = trace

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = self._clock.monotonic()
        try:
            yield
        finally:
            self._trace.stages.append(
                StageTime(name=name, start=start, end=self._clock.monotonic())
            )

    def mark(self, name: str, start: float) -> None:
        self._trace.stages.append(StageTime(name=name, start=start, end=self._clock.monotonic()))


class Turn:
    """Answers one picked message; `run()` always returns a trace, even when cancelled."""

    def __init__(
        self,
        parts: TurnParts,
        options: TurnOptions,
        decision: Decision,
        window: Sequence[ChatMessage],
    ) -> None:
        self.parts = parts
        self.options = options
        self.decision = decision
        self.window = tuple(window)
        self.trace = TurnTrace(
            turn_id=uuid.uuid4().hex[:12],
            decision=decision,
            started=parts.clock.now(),
            window=self.window,
        )
        self._stages = _Stages(parts.clock, self.trace)
        self._silenced = False
        self._said_keys: frozenset[str] = frozenset()  # set when the turn runs
        self._fuse_start: float | None = None  # when the reply's fusion was asked for
        self._leaked = False  # the streamed reply repeats a private entry: the voice stops
        self._raw = ""  # the rewriter's reply as it came, before the shaper and the checks
        self._unavailable = False  # the rewriter failed: the simulated twin line was used
        self._spoke = False  # some of this reply went to the voice while it streamed
        self._check: QualityCheck | None = None  # see `_quality_check`
        self._cut = False  # the reply stopped at its token or time cap (`ReplyCut`)

    @property
    def message(self) -> ChatMessage:
        return self.decision.message

    async def run(self) -> TurnTrace:
        """Run the whole turn; cancellation ends it cleanly, records why, then propagates."""
        trace = self.trace
        self._publish(TurnStarted(turn_id=trace.turn_id, message_id=self.message.id))
        # the recent replies as compared, once per turn: the reply stream checks them per piece
        self._said_keys = frozenset(same_text_key(text) for text in self.options.avoid)
        try:
            await self._run()
        except asyncio.CancelledError:
            if trace.outcome in ("answered", "held"):
                # cut short while making candidates: the reply itself stands
                trace.reason = trace.reason or "cancelled while making candidates"
            else:
                trace.outcome = "cancelled"
                trace.reason = trace.reason or "cancelled before it finished"
            if self.parts.speaker is not None:
                with contextlib.suppress(Exception):
                    await self.parts.speaker.stop()
            raise
        except Transient as exc:
            # raised before the reply stream started (recall, or the simulator in sequential mode)
            trace.outcome = "failed"
            trace.failure = Failure.TRANSIENT
            trace.reason = f"{type(exc).__name__}: {exc}"
            log.warning("turn %s failed: %s", trace.turn_id, trace.reason)
        except Exception as exc:
            # a bug or an untranslated error in one part ends this turn, never the daemon
            trace.outcome = "failed"
            trace.failure = Failure.UNEXPECTED
            trace.reason = f"unexpected {type(exc).__name__}: {exc}"
            log.exception("turn %s failed unexpectedly", trace.turn_id)
        finally:
            self._publish(
                TurnEnded(
                    turn_id=trace.turn_id, outcome=trace.outcome, reason=trace_public_reason(trace)
                )
            )
        return trace

    def cancel_reason(self, reason: str, cause: Cancel = Cancel.OTHER) -> None:
        """Say why the turn is about to be cancelled: the cause, and words for its trace."""
        self.trace.reason = reason
        self.trace.cancelled_by = cause

    async def _run(self) -> None:
        trace = self.trace
        if self.options.mode == "sequential":
            trace.hits = await self._recall()
            with self._stages.stage("simulate"):
                for draw in range(1 + REDRAWS):
                    async with contextlib.aclosing(self._simulate(draw)) as lines:
                        trace.sim_lines = [line async for line in lines]
                    twin = [line.text for line in trace.sim_lines if line.is_twin]
                    if not twin or not all(map(self._is_repeat, twin)):
                        break  # else all the twin's lines were said already: draw again
            if not self._has_twin_line():
                return
            pieces = self._fuse(trace.sim_lines)
        else:
            pieces = self._pipelined()
        speaker = self.parts.speaker if self.options.voice else None
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=SPEECH_AHEAD)
        unexpected: Exception | None = None
        async with asyncio.TaskGroup() as group:
            if speaker is not None:
                group.create_task(self._speak(speaker, queue), name="speak")
            # Errors are handled inside the group's body: a TaskGroup would wrap them.
            try:
                trace.reply = await self._stream_reply(pieces, queue, speaker is not None)
                trace.reply = self._reviewed(trace.reply)
                if self._has_reply():
                    if self._hold_now():
                        if not self.options.hold:
                            self.silence()  # hold came on mid-turn: the voice stops here too
                        await self._hold(trace.reply)
                    else:
                        said = await self._post(trace.reply)
                        # a stand-in for an unusable reply is said whole, unless some of the
                        # reply was said already: the voice then stops where it stopped
                        stand_in = trace.quality is Quality.FALLBACK and not self._spoke
                        if self._holds_speech() or stand_in:
                            for sentence in split_sentences(said):
                                await self._queue_sentence(sentence, queue, speaker is not None)
                        if trace.outcome == "answered" and self.options.candidates > 1:
                            # while the reply is spoken: the others cost the viewer no time
                            trace.alternatives = await self._alternatives(said)
                            self._publish_candidates(TurnCandidates)
            except Transient as exc:
                trace.outcome = "failed"
                trace.failure = Failure.TRANSIENT
                trace.reason = f"{type(exc).__name__}: {exc}"
                log.warning("turn %s failed: %s", trace.turn_id, trace.reason)
            except Exception as exc:
                unexpected = exc  # raised below, where no TaskGroup wraps it
            if speaker is not None:
                await queue.put(None)  # the speaker finishes what is queued, then stops
        if unexpected is not None:
            raise unexpected

    def _hold_now(self) -> bool:
        """Whether the reply waits for approval: held when the turn began, or since."""
        state = self.parts.state
        return self.options.hold or (state is not None and state.hold)

    def _chat_now(self) -> bool:
        """Whether the reply may go to chat: chat on when the turn began, and still."""
        state = self.parts.state
        return self.options.chat and (state is None or state.chat)

    def _holds_speech(self) -> bool:
        """Whether speech waits for the guarded whole reply (see `_stream_reply`).

        A reply held for approval is never spoken by the turn at all.
        """
        return self.options.mode == "sequential" or self.options.hold

    def _has_twin_line(self) -> bool:
        trace = self.trace
        if any(line.is_twin for line in trace.sim_lines):
            return True
        trace.outcome = "silent"
        trace.reason = trace.reason or "the simulator produced no line for the twin"
        return False

    def _has_reply(self) -> bool:
        trace = self.trace
        if not self._has_twin_line():
            return False
        if not trace.reply.strip():
            trace.outcome = "silent"
            twin = [line.text for line in trace.sim_lines if line.is_twin]
            if twin and all(self._is_repeat(text) for text in twin):
                why = "every simulated twin line repeats a recent reply"
            else:
                why = "the rewriter produced nothing"
            trace.reason = trace.reason or why
            return False
        return True

    async def _recall(self) -> list[Hit]:
        journal, context_for = self.parts.journal, self.parts.context_for
        hits = list(context_for(self.message)) if context_for is not None else []
        if journal is None and not hits:
            return []
        with self._stages.stage("recall"):
            if journal is not None:
                query_for = self.parts.query_for
                query = query_for(self.message, self.window) if query_for else self.message.text
                hits += await journal.search(query, k=self.options.recall_k)
        # no text at all; ids and titles of public entries only: a private title can tell a
        # lot, and an entry's id is its file name, made from the title
        shown = tuple(
            HitShown(
                entry_id=h.entry_id if h.tier is Tier.PUBLIC else None,
                title=h.title if h.tier is Tier.PUBLIC else PRIVATE_TITLE,
                tier=str(h.tier),
                score=h.score,
            )
            for h in hits
        )
        self._publish(TurnRecalled(turn_id=self.trace.turn_id, hits=shown))
        return hits

    def _simulate(self, draw: int = 0) -> AsyncGenerator[SimLine, None]:
        request = SimRequest(
            window=self.window,
            twin=self.options.twin,
            max_lines=self.options.max_sim_lines,
            draw=draw,
        )
        return self.parts.simulator.stream(request)

    def _fuse(
        self, sim_lines: Sequence[SimLine], avoid: Sequence[str] = (), said: Sequence[str] = ()
    ) -> AsyncGenerator[str, None]:
        first = self._fuse_start is None  # the reply's own fusion, not a later candidate's
        if first:
            self._fuse_start = self.parts.clock.monotonic()
        request = FusionRequest(
            twin=self.options.twin,
            message=self.message,
            window=self.window,
            hits=self.trace.hits,
            sim_lines=tuple(sim_lines),
            avoid=(*self.options.avoid, *avoid),
            said=(*self.options.avoid, *said),
        )
        if first:
            self.trace.prompt = self.parts.rewriter.prompt(request)
        return self.parts.rewriter.stream(request)

    async def _alternatives(self, reply: str) -> list[str]:
        """Up to `candidates - 1` more guarded replies, each unlike the others and the reply.

        Each fusion is told to avoid what came before (the embedded rewriter then takes the
        next best simulated line; a model samples again). When a fusion has nothing new to
        offer, the conversation is simulated again (another draw) and the next fusion works
        from that, so a twin whose first draw held one usable line still offers a choice.
        A failing rewriter or simulator, or a blocked candidate, just means fewer of them: the
        turn's own reply stands.
        """
        found: list[str] = []
        tried = [reply]  # what the next fusion must avoid: kept, blocked or repeated alike
        wanted = self.options.candidates - 1
        sim_lines: Sequence[SimLine] = self.trace.sim_lines
        draw = 0
        with self._stages.stage("candidates"):
            for _ in range(2 * wanted):  # bounded: a fusion per slot and a redraw per miss
                if len(found) == wanted:
                    break
                try:
                    text = await self._candidate(sim_lines, tried, (reply, *found))
                    if text is not None:
                        found.append(text)
                        continue
                    draw += 1  # nothing new from these lines: the next fusion gets a new draw
                    sim_lines = await self._redraw(draw)
                except Transient as exc:
                    log.info("turn %s: no more candidates: %s", self.trace.turn_id, exc)
                    break
        return found

    async def _candidate(
        self, sim_lines: Sequence[SimLine], tried: list[str], said: Sequence[str]
    ) -> str | None:
        """One more fused reply from `sim_lines`, guarded; None when it is empty, unusable,
        blocked or no different from what was said or offered. What it fused joins `tried`."""
        got: list[str] = []
        cut = False
        try:
            async with contextlib.aclosing(self._fuse(sim_lines, avoid=tried, said=said)) as pieces:
                async for piece in pieces:
                    got.append(piece)
        except ReplyCut:
            cut = True
        shaper = self._shaper()
        text = (shaper.feed("".join(got)) + shaper.flush()).strip()
        self._trace_shaping(shaper)
        if not text:
            return None  # the rewriter has nothing more to offer from these lines
        tried.append(text)
        reviewed = self._quality_check().review(text, cut=cut)
        if not reviewed.usable:
            return None  # as unusable as a reply would be: no candidate
        checked = self.parts.guard.check(reviewed.text, self.trace.hits)
        self.trace.guard.extend(checked.verdicts)
        key = same_text_key(checked.text)
        if checked.blocked or key in self._said_keys or key in map(same_text_key, said):
            return None
        return checked.text

    async def _redraw(self, draw: int) -> list[SimLine]:
        """The conversation simulated again, as draw number `draw` (for a candidate only)."""
        request = SimRequest(
            window=self.window,
            twin=self.options.twin,
            max_lines=self.options.max_sim_lines,
            draw=draw,
        )
        async with contextlib.aclosing(self.parts.simulator.stream(request)) as lines:
            return [line async for line in lines]

    def _guarded(self, reply: str) -> GuardResult | None:
        """The whole reply through the guard; None when it is blocked or a repeat."""
        trace = self.trace
        with self._stages.stage("guard"):
            result = self.parts.guard.check(reply, trace.hits)
        trace.guard.extend(result.verdicts)
        if result.blocked:
            trace.outcome = "blocked"
            trace.reason = "; ".join(v.detail for v in result.verdicts if v.action == "blocked")
            # what the guard stopped goes nowhere: not the dashboard, not feedback, not training
            trace.reply = ""
            return None
        if self._repeats(result.text):
            return None
        trace.reply = result.text
        return result

    async def _hold(self, reply: str) -> None:
        """Guard the reply and its alternatives, and leave them for the streamer to approve."""
        trace = self.trace
        result = self._guarded(reply)
        if result is None:
            return
        trace.outcome = "held"  # a cancel from here on keeps the reply for approval
        if self.options.candidates > 1:
            trace.alternatives = await self._alternatives(result.text)
        self._publish_candidates(TurnHeld)

    def _publish_candidates(self, kind: type[TurnHeld]) -> None:
        """The reply and its alternatives (guarded texts, the same that chat may see)."""
        candidates = (self.trace.reply, *self.trace.alternatives)
        self._publish(kind(turn_id=self.trace.turn_id, candidates=candidates))

    def _repeats(self, text: str) -> bool:
        """Whether the reply is one the twin gave recently; the turn then stays silent."""
        if not self._is_repeat(text):
            return False
        self.trace.outcome = "silent"
        self.trace.reason = "the reply repeats one the twin gave recently"
        self.trace.reply = ""
        return True

    async def _pipelined(self) -> AsyncGenerator[str, None]:
        """Simulate until the twin's first line plus the look-ahead, stop it, then fuse.

        Recall runs while the twin model simulates: the simulation never needs the journal,
        and fusion is the first stage that does.
        """
        recall = asyncio.create_task(self._recall(), name="recall")
        # looked at however the turn ends, even when a second cancel cuts the wait below short
        recall.add_done_callback(_retrieve)
        try:
            await self._simulate_lookahead()
            self.trace.hits = await recall
        finally:
            recall.cancel()  # nothing when it is done
            await asyncio.wait([recall])
        if not any(line.is_twin for line in self.trace.sim_lines):
            return
        async with contextlib.aclosing(self._fuse(self.trace.sim_lines)) as pieces:
            async for piece in pieces:
                yield piece

    async def _simulate_lookahead(self) -> None:
        """The simulated lines up to the twin's first new line and the look-ahead after it."""
        trace = self.trace
        with self._stages.stage("simulate"):
            for draw in range(1 + REDRAWS):
                trace.sim_lines = []  # a redraw's lines replace the draw before
                after_twin = -1
                said_already = False
                try:
                    async with contextlib.aclosing(self._simulate(draw)) as lines:
                        async for line in lines:
                            trace.sim_lines.append(line)
                            if after_twin >= 0:
                                after_twin += 1
                            elif line.is_twin and self._is_repeat(line.text):
                                said_already = True  # no answer: simulate on
                            elif line.is_twin:
                                after_twin = 0
                            if after_twin >= self.options.lookahead_lines:
                                break  # enough to fuse; aclosing stops the simulation now
                except SimulatorUnavailable as exc:
                    if after_twin < 0:
                        raise
                    # the twin's line is already here: fuse with what arrived
                    trace.reason = f"simulation cut short ({exc})"
                if after_twin >= 0 or not said_already:
                    break  # else all the twin's lines were said already: draw again
        # a twin model can say what the journal keeps, or a blocked word: the dashboard and
        # MQTT see a simulated line only as the guard would let it out
        simulated = tuple(
            SimulatedLine(
                speaker=line.speaker,
                text=KEPT_BACK
                if self.parts.guard.check(line.text, trace.hits).blocked
                else line.text,
                is_twin=line.is_twin,
            )
            for line in trace.sim_lines
        )
        self._publish(TurnSimulated(turn_id=trace.turn_id, lines=simulated))

    async def _stream_reply(
        self, pieces: AsyncGenerator[str, None], queue: asyncio.Queue[str | None], speaking: bool
    ) -> str:
        """Stream the reply through the guard to the speaker: a first clause, then sentences.

        Speech waits for the whole, guarded reply in the sequential baseline (as the seed's
        pipeline did). When a private journal entry was recalled, the privacy rule looks for
        runs of words across sentences, which a sentence-by-sentence check cannot see: a chunk
        is then spoken only once the words after it are enough to show any run through it
        (`privacy_run_words` - 1), and the text so far holds no run at all. If it ever does,
        the voice says nothing more of this reply; chat gets it as the guard leaves it.
        """
        buffer = SentenceBuffer(first_chunk_words=self.options.first_chunk_words)
        reply: list[str] = []
        waiting: list[str] = []  # chunks held back: a possible repeat, or the privacy margin
        released = 0  # words of the chunks handed to the speaker
        gate: SpeechGate | None = None  # made with the first chunk: the simulation is done

        async def out(sentences: list[str], *, final: bool = False) -> None:
            nonlocal released, gate
            if self._holds_speech() or self._leaked:
                return  # spoken from the guarded whole reply once it is there, or not at all
            waiting.extend(sentences)
            text = "".join(reply)
            if self._may_repeat(text) if not final else self._is_repeat(text):
                return
            ready = len(waiting)
            # asked per piece, not up front: a pipelined turn's hits arrive with its first piece
            private = [hit for hit in self.trace.hits if hit.tier is not Tier.PUBLIC]
            if private:
                run = self.options.privacy_run_words
                # as the guard will see it: a zero-width character or a template token between
                # two words must not hide the run across them
                if find_private_runs(cleaned(text), private, run):
                    self._leaked = True
                    waiting.clear()
                    log.info("turn %s: the reply repeats a private entry", self.trace.turn_id)
                    return
                if not final:
                    # behind by the longest run any of them needs (Japanese: twice as long)
                    ready = speakable(waiting, text, released, longest_run(private, run))
            gate = gate or SpeechGate(self._quality_check())
            for chunk in waiting[:ready]:
                released += len(folded_words(chunk))
                # never said: a chunk of the prompt or for another speaker, nor any after the
                # reply ran away or past the length cap (see `_reviewed` for the whole reply)
                if said := gate.admit(chunk):
                    await self._queue_sentence(said, queue, speaking)
            del waiting[:ready]

        shaper: ReplyShaper | None = None
        try:
            try:
                async with contextlib.aclosing(pieces) as stream:
                    async for piece in stream:
                        self._raw += piece
                        # made at the first piece: a pipelined turn has simulated by then, and
                        # the simulated speakers are among those the reply must not speak for
                        shaper = shaper or self._shaper()
                        if kept := shaper.feed(piece):
                            reply.append(kept)
                            await out(buffer.feed(kept))
                        if shaper.done:
                            break  # the model writes the chat on: aclosing stops it now
            except ReplyCut:
                self._cut = True  # what came stands; `_reviewed` takes its unfinished end
            if shaper is not None and (tail := shaper.flush()):
                reply.append(tail)
                await out(buffer.feed(tail))
        except RewriterUnavailable as exc:
            if reply or not self.trace.sim_lines:
                raise
            # Stated policy: with the rewriter down, the best simulated twin line goes through
            # the guard instead.
            fallback = next((line.text for line in self.trace.sim_lines if line.is_twin), "")
            self.trace.reason = f"rewriter unavailable ({exc}); used the simulated twin line"
            self._unavailable = True
            reply.append(fallback)
            await out(buffer.feed(fallback))
        finally:
            # from the request to the rewriter (a pipelined stream simulates before it); a turn
            # that never asked for one has no fuse stage
            if self._fuse_start is not None:
                self._stages.mark("fuse", self._fuse_start)
            if shaper is not None:
                self._trace_shaping(shaper)
        rest = buffer.flush()
        if self._cut:
            # the unfinished end is never said: the voice says what chat will show
            rest = [kept] if (kept := unfinished(" ".join(rest)).text) else []
        await out(rest, final=True)
        return "".join(reply).strip()

    def _trace_shaping(self, shaper: ReplyShaper) -> None:
        if shaper.changes:
            detail = "took out " + "; ".join(shaper.changes)
            self.trace.guard.append(GuardVerdict(rule="twin_only", action="changed", detail=detail))

    def _shaper(self) -> ReplyShaper:
        """What keeps a rewriter's reply to the twin's own words (see `cohost.pipeline.shape`)."""
        others = [name for m in self.window for name in (m.login, m.display_name)]
        others += [line.speaker for line in self.trace.sim_lines if not line.is_twin]
        return ReplyShaper((self.options.twin,), others)

    def _quality_check(self) -> QualityCheck:
        """The checks for what real models leak (see `cohost.pipeline.quality`).

        Made once, at the reply's first use: the simulation, whose speakers and twin line it
        reads, is over by then.
        """
        if self._check is None:
            self._check = QualityCheck.for_turn(
                self.options.twin,
                self.trace.sim_lines,
                [name for m in self.window for name in (m.login, m.display_name)],
                markers=self.options.prompt_markers,
            )
        return self._check

    def _reviewed(self, reply: str) -> str:
        """The reply after the quality checks: as it is, repaired, the twin's simulated line
        in its place, or "" (silence); the trace says which, and what was found."""
        trace = self.trace
        if not reply.strip():
            return reply  # nothing came: `_has_reply` says why
        check = self._quality_check()
        review = check.review(reply, cut=self._cut)
        flaws = list(review.flaws)
        details = list(review.details)
        if Flaw.LABEL not in flaws and (raw := check.labels(self._raw)).flaw is not None:
            # the shaper took them off as the reply streamed: repaired all the same
            flaws.insert(0, Flaw.LABEL)
            details.insert(0, f"{Flaw.LABEL}: {raw.detail} (as it streamed)")
        trace.flaws = list(dict.fromkeys(flaws))
        found = "; ".join(details)
        if review.usable:
            if self._unavailable:
                trace.quality = Quality.FALLBACK
            elif flaws:
                trace.quality = Quality.REPAIRED
            else:
                trace.quality = Quality.CLEAN
            if review.flaws:
                trace.guard.append(GuardVerdict(rule="quality", action="changed", detail=found))
            return review.text
        fallback = next(
            (
                line.text
                for line in trace.sim_lines
                if line.is_twin and not self._is_repeat(line.text)
            ),
            "",
        )
        if (
            fallback
            and not self._unavailable  # that was the simulated line already
            and check.review(fallback).clean
            and not self.parts.guard.check(fallback, trace.hits).blocked
        ):
            trace.quality = Quality.FALLBACK
            why = "the rewriter's reply was unusable; said the simulated twin line"
            trace.reason = f"{trace.reason}; {why}" if trace.reason else why
            detail = f"{found}; said the simulated twin line instead"
            trace.guard.append(GuardVerdict(rule="quality", action="changed", detail=detail))
            return fallback
        trace.quality = Quality.SILENT
        names = ", ".join(str(flaw) for flaw in trace.flaws)
        why = f"the reply was unusable ({names}) and the simulated twin line could not stand in"
        trace.reason = f"{trace.reason}; {why}" if trace.reason else why
        trace.guard.append(GuardVerdict(rule="quality", action="blocked", detail=found))
        return ""

    def _may_repeat(self, text: str) -> bool:
        """Whether the reply so far begins one of the twin's recent replies."""
        key = same_text_key(text)
        return any(said.startswith(key) for said in self._said_keys)

    def _is_repeat(self, text: str) -> bool:
        return same_text_key(text) in self._said_keys

    async def _queue_sentence(
        self, sentence: str, queue: asyncio.Queue[str | None], speaking: bool
    ) -> None:
        if not speaking:
            return
        checked = self.parts.guard.check(sentence, self.trace.hits)
        if checked.blocked or not checked.text.strip():
            return
        text = checked.text
        # a run-on sentence is said, and captioned, in parts that one caption can show
        long = len(text) > SPEECH_CHUNK_CHARS
        for part in chunk_for_chat(text, SPEECH_CHUNK_CHARS) if long else [text]:
            await queue.put(part)
            checked.said(part)  # on its way to the voice: the guard reads what follows with it
            self._spoke = True

    def silence(self) -> None:
        """Say nothing more (`voice off`); the reply still goes to chat.

        The sentence already playing is the caller's to cut (`Speaker.stop`).
        """
        self._silenced = True

    async def _speak(self, speaker: Speaker, queue: asyncio.Queue[str | None]) -> None:
        start: float | None = None
        try:
            while (sentence := await queue.get()) is not None:
                if self._silenced:
                    continue  # drained, never said: the reply stream must not wait on it
                if start is None:
                    start = self.parts.clock.monotonic()
                await speaker.say(sentence, turn_id=self.trace.turn_id)
                self.trace.spoken.append(sentence)
        except Transient as exc:
            # a failing voice degrades the turn to chat only
            self.trace.reason = f"speech failed: {exc}"
            log.warning("turn %s: speech failed: %s", self.trace.turn_id, exc)
            # keep emptying the bounded queue: the reply stream must never wait on a dead voice
            while await queue.get() is not None:
                pass
        finally:
            if start is not None:
                self._stages.mark("speak", start)

    async def _post(self, reply: str) -> str:
        """Guard the whole reply and post it; returns what may be said ("" when blocked)."""
        trace = self.trace
        result = self._guarded(reply)
        if result is None:
            return ""
        sink = self.parts.sink if self._chat_now() else None
        if sink is not None:
            with self._stages.stage("post"):
                await post(
                    result, sink, answering=self.message, chat_on=self._chat_now, sent=trace.sent
                )
            if not trace.sent:
                trace.outcome = "unsent"
                trace.reason = "chat refused the reply (a rate limit, a duplicate or Twitch)"
                return result.text  # chat is full, but the voice may still say it
        trace.outcome = "answered"
        self._publish(TurnReplied(turn_id=trace.turn_id, reply=trace.reply))
        return result.text

    def _publish(self, event: BusEvent) -> None:
        emit(self.parts.bus, event)
