"""Local faults around the daemon: TTS failing, a full or unwritable disk, a corrupt index."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import os
import subprocess
import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cohost.app.daemon import Daemon
from cohost.app.demo import demo_files
from cohost.app.journal_wiring import index_dir, journal_for, open_index
from cohost.app.paths import journal_dir
from cohost.app.settings import Settings, load_settings
from cohost.app.traces import TraceWriter
from cohost.core.clock import RealClock
from cohost.core.errors import SpeakerUnavailable
from cohost.core.events import ChatEvent, ChatMessage, Role, SimLine
from cohost.core.options import GuardSettings
from cohost.dataset.dpo import PairReport, dpo_pairs, read_feedback
from cohost.embedded.hashing_embedder import HashingEmbedder
from cohost.journal.index import Indexer
from cohost.journal.store import JournalStore
from cohost.pipeline.guard import Guard
from cohost.pipeline.recall import RankedJournal
from cohost.pipeline.turn import Turn, TurnOptions, TurnParts
from tests.fakes import ScriptedRewriter, ScriptedSimulator, message, picked

WAIT_S = 30.0  # a guard against hanging, never a timing assertion
TWIN = "twinbot"
STREAMER = "mossbyte"


def _settings(data_dir: Path) -> Settings:
    return load_settings(
        data_dir=data_dir,
        twin={
            "name": TWIN,
            "streamer": STREAMER,
            "writings": [str(demo_files() / "writing.md")],
        },
        picker={"min_gap_s": 0, "user_cooldown_s": 0, "replies_per_minute": 1000},
        web={"enabled": False},
        journal={"embedding_model": "hashing"},
        # one seed: the stand-in twin draws the same lines every run, so no turn goes silent
        # by chance because its draw happened to repeat a reply chat had just seen
        simulator={"seed": 7},
    )


def chat(text: str, n: int, *, login: str = "viewer42", roles: Sequence[Role] = ()) -> ChatMessage:
    """A message stamped now, so the picker finds it fresh."""
    return ChatMessage(
        id=f"m{n}",
        channel=STREAMER,
        login=login,
        display_name=login,
        text=text,
        ts=RealClock().now(),
        roles=frozenset(roles),
    )


def streamer(text: str, n: int) -> ChatMessage:
    return chat(text, n, login=STREAMER, roles=(Role.BROADCASTER,))


class Feed:
    """A chat source fed by the test; each message waits until the one before was handled."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[ChatEvent | None] = asyncio.Queue()

    async def events(self) -> AsyncGenerator[ChatEvent, None]:
        while (event := await self.queue.get()) is not None:
            yield event


class RecordingSink:
    """Remembers every chat message the daemon posted."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []
        self.changed = asyncio.Event()

    async def send(self, text: str, *, reply_to: str | None = None) -> bool:
        self.sent.append((text, reply_to))
        self.changed.set()
        return True

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while len(self.sent) < count:
                self.changed.clear()
                await self.changed.wait()


class BrokenSpeaker:
    """A TTS engine that fails on every sentence."""

    def __init__(self) -> None:
        self.attempts = 0

    async def say(self, sentence: str, *, turn_id: str) -> None:
        self.attempts += 1
        raise SpeakerUnavailable("espeak-ng wrote no audio (exit 1)")

    async def stop(self) -> None:
        return None


async def _run(daemon: Daemon, events: Sequence[ChatEvent], sink: RecordingSink) -> None:
    """Run the daemon over these events, one at a time, then let it finish and stop."""
    source = daemon.source
    assert isinstance(source, Feed)
    task = asyncio.create_task(daemon.run(until_source_ends=True))
    for event in events:
        expected = len(sink.sent) + 1
        # stamped as it arrives: on a loaded machine the daemon's start and the turns before
        # it can take longer than the picker's freshness limit
        fresh = (
            dataclasses.replace(event, ts=RealClock().now())
            if isinstance(event, ChatMessage)
            else event
        )
        await source.queue.put(fresh)
        await sink.wait_for(expected)
    await source.queue.put(None)
    async with asyncio.timeout(WAIT_S):
        await task


def _daemon(settings: Settings, sink: RecordingSink, **parts: Any) -> Daemon:
    return Daemon(settings, source=Feed(), sink=sink, clock=RealClock(), **parts)


# ---- TTS ------------------------------------------------------------------------------------


async def test_a_failing_voice_still_posts_to_chat(tmp_path: Path) -> None:
    sink = RecordingSink()
    speaker = BrokenSpeaker()
    daemon = _daemon(_settings(tmp_path / "data"), sink, speaker=speaker)
    await _run(daemon, [chat(f"{TWIN} how is gerald the sourdough starter doing?", 1)], sink)
    trace = daemon.session.last_trace
    assert trace is not None
    assert trace.outcome == "answered", trace.reason
    assert "speech failed" in trace.reason
    assert sink.sent[0][1] == "m1" and sink.sent[0][0] == trace.reply
    assert speaker.attempts >= 1 and trace.spoken == []
    assert daemon.session.counters.turns == {"answered": 1}


async def test_a_voice_that_fails_mid_reply_never_holds_up_a_long_reply() -> None:
    # more sentences than the speech queue holds: the turn must not wait on a dead speaker
    # a long simulated line: the reply may be as long (the quality check caps it by the twin's)
    own = "gerald the sourdough starter doubled overnight, and the whole kitchen smells like bread"
    lines = [SimLine(speaker=TWIN, text=own, is_twin=True)]
    reply = " ".join(f"Sentence number {i} is here." for i in range(8))
    sent: list[str] = []

    class Sink:
        async def send(self, text: str, *, reply_to: str | None = None) -> bool:
            sent.append(text)
            return True

    parts = TurnParts(
        simulator=ScriptedSimulator(lines),
        rewriter=ScriptedRewriter(reply),
        guard=Guard(GuardSettings()),
        clock=RealClock(),
        speaker=BrokenSpeaker(),
        sink=Sink(),
    )
    turn = Turn(parts, TurnOptions(twin=TWIN), picked(message("twinbot hi?", id="q")), [])
    async with asyncio.timeout(WAIT_S):
        trace = await turn.run()
    assert trace.outcome == "answered"
    assert "speech failed" in trace.reason
    assert " ".join(sent) == reply


# ---- a full or unwritable disk ------------------------------------------------------------


@contextlib.contextmanager
def _full_tmpfs(folder: Path) -> Iterator[None]:
    """A tiny tmpfs at folder, filled to the last byte; skips where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        fd = os.open(folder / "filler.bin", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with contextlib.suppress(OSError):  # ENOSPC: full, as wanted
                while os.write(fd, b"\0" * 4096):
                    pass
        finally:
            os.close(fd)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("disk", ["full", "unwritable"])
async def test_a_note_that_cannot_be_written_is_refused_and_leaves_nothing(
    tmp_path: Path, disk: str
) -> None:
    settings = _settings(tmp_path / "data")
    folder = journal_dir(settings)
    with contextlib.ExitStack() as stack:
        if disk == "full":
            stack.enter_context(_full_tmpfs(folder))
        else:
            # a file where the folder should be: every write under it fails, even for root
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.write_text("")
        before = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        sink = RecordingSink()
        daemon = _daemon(settings, sink)
        await _run(
            daemon,
            [
                streamer("!twin note gerald got fed rye today", 1),
                chat(f"{TWIN} how is gerald the sourdough starter doing?", 2),
            ],
            sink,
        )
        after = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    assert sink.sent[0] == ("note failed", "m1")
    assert daemon.session.controller.refused == 1
    assert after == before, "no entry and no temporary file were left behind"
    audit = [
        json.loads(line)
        for line in (settings.data_dir / "audit" / "commands.jsonl").read_text().splitlines()
    ]
    assert audit[0]["command"] == "note" and not audit[0]["accepted"]
    # the daemon went on and answered the next message
    assert sink.sent[1][1] == "m2" and daemon.session.counters.turns == {"answered": 1}


class FullDiskTraces(TraceWriter):
    """A trace file whose disk fills up after `room` traces: writes then raise ENOSPC."""

    def __init__(self, path: Path, room: int) -> None:
        super().__init__(path)
        self.room = room

    def write(self, trace: Any) -> None:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        self.room -= 1
        super().write(trace)


async def test_traces_on_a_full_disk_lose_only_the_traces_never_the_turns(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data")
    path = tmp_path / "traces.jsonl"
    sink = RecordingSink()
    with FullDiskTraces(path, room=1) as traces:
        daemon = _daemon(settings, sink, traces=traces)
        questions = ["how is gerald doing?", "what game is this?", "do you like rye bread?"]
        await _run(daemon, [chat(f"{TWIN} {q}", i) for i, q in enumerate(questions)], sink)
    assert [reply_to for _, reply_to in sink.sent] == ["m0", "m1", "m2"]
    assert daemon.session.counters.turns == {"answered": 3}
    assert daemon.session.counters.errors == 2  # the two traces the full disk refused
    written = [json.loads(line) for line in path.read_text().splitlines()]
    assert [t["decision"]["message"]["id"] for t in written] == ["m0"]


async def test_a_trace_writer_on_dev_full_keeps_the_daemon_and_its_shutdown_alive(
    tmp_path: Path,
) -> None:
    # /dev/full refuses every write with a real ENOSPC, at flush and again at close
    sink = RecordingSink()
    with TraceWriter(Path("/dev/full")) as traces:
        daemon = _daemon(_settings(tmp_path / "data"), sink, traces=traces)
        await _run(daemon, [chat(f"{TWIN} how is gerald doing?", 1)], sink)
    assert daemon.session.counters.turns == {"answered": 1}
    assert daemon.session.counters.errors == 1


def _acks_in_chat(settings: Settings) -> Settings:
    """These settings, with `good`'s result said in chat too (by default only the dashboard)."""
    control = settings.control.model_copy(update={"acks_in_chat": True})
    return settings.model_copy(update={"control": control})


async def test_feedback_on_a_full_disk_is_refused_and_counted(tmp_path: Path) -> None:
    settings = _acks_in_chat(_settings(tmp_path / "data"))
    feedback = settings.data_dir / "feedback"
    feedback.mkdir(parents=True)
    (feedback / "feedback.jsonl").symlink_to("/dev/full")  # every write: ENOSPC
    sink = RecordingSink()
    daemon = _daemon(settings, sink)
    await _run(
        daemon,
        [chat(f"{TWIN} how is gerald doing?", 1), streamer("!twin good", 2)],
        sink,
    )
    assert sink.sent[1] == ("good failed", "m2")
    assert daemon.session.controller.refused == 1
    audit = [
        json.loads(line)
        for line in (settings.data_dir / "audit" / "commands.jsonl").read_text().splitlines()
    ]
    assert audit[-1]["command"] == "good" and "No space left" in audit[-1]["reason"]


# ---- the journal's index --------------------------------------------------------------------


async def test_a_corrupt_index_is_rebuilt_at_start_and_recall_works(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data")
    store = JournalStore(journal_dir(settings), settings.journal)
    entry = store.add("Gerald the sourdough starter ate rye flour and doubled.", tags=("public",))
    edge = index_dir(settings) / "edge"
    edge.mkdir(parents=True)
    (edge / "edge_config.json").write_text("garbage")
    (edge / "segments").write_bytes(os.urandom(256))
    sink = RecordingSink()
    with open_index(settings) as index:
        journal = RankedJournal.from_settings(journal_for(index), RealClock(), settings.journal)
        indexer = Indexer(index)
        daemon = _daemon(settings, sink, journal=journal, indexer=indexer)
        task = asyncio.create_task(daemon.run(until_source_ends=True))
        source = daemon.source
        assert isinstance(source, Feed)
        hits: list[str] = []
        # the indexer syncs in the background: ask until the rebuilt index answers
        for n in range(50):
            await source.queue.put(chat(f"{TWIN} how is gerald the starter, question {n}?", n))
            # every question ends a turn; not every turn posts (the twin never repeats itself)
            async with asyncio.timeout(WAIT_S):
                while sum(daemon.session.counters.turns.values()) <= n:  # noqa: ASYNC110 (a counter)
                    await asyncio.sleep(0.01)
            assert daemon.session.last_trace is not None
            hits = [h.entry_id for h in daemon.session.last_trace.hits]
            if hits:
                break
        await source.queue.put(None)
        async with asyncio.timeout(WAIT_S):
            await task
    assert entry.id in hits
    moved = [p for p in index_dir(settings).iterdir() if p.name != "edge"]
    assert moved, "the broken index was moved aside, not deleted"
    assert indexer.failures == 0


class _SlowToLoad(HashingEmbedder):
    """An embedding model whose first use after `cold` loads it, as all-MiniLM takes seconds."""

    cold = False

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self.cold:
            time.sleep(1.5)
            self.cold = False
        return super().embed(texts)


async def test_chat_waits_for_the_embedding_model_so_the_first_turn_recalls(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path / "data")
    settings = settings.model_copy(
        update={"journal": settings.journal.model_copy(update={"recall_timeout_s": 0.3})}
    )
    store = JournalStore(journal_dir(settings), settings.journal)
    entry = store.add("Gerald the sourdough starter ate rye flour and doubled.", tags=("public",))
    sink = RecordingSink()
    embedder = _SlowToLoad()
    with open_index(settings, embedder=embedder) as index:
        index.reindex()  # indexed by an earlier run: only the model is cold
        embedder.cold = True
        journal = RankedJournal.from_settings(journal_for(index), RealClock(), settings.journal)
        daemon = _daemon(settings, sink, journal=journal, indexer=Indexer(index))
        await _run(daemon, [chat(f"{TWIN} how is gerald the sourdough starter?", 1)], sink)
    trace = daemon.session.last_trace
    assert trace is not None
    assert [hit.entry_id for hit in trace.hits] == [entry.id]


async def test_good_rates_the_last_reply_chat_got_even_after_a_turn_that_said_nothing(
    tmp_path: Path,
) -> None:
    settings = _acks_in_chat(_settings(tmp_path / "data"))
    sink = RecordingSink()
    daemon = _daemon(settings, sink)
    source = daemon.source
    assert isinstance(source, Feed)
    task = asyncio.create_task(daemon.run(until_source_ends=True))

    async def turns(count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while sum(daemon.session.counters.turns.values()) < count:  # noqa: ASYNC110 (a counter)
                await asyncio.sleep(0.01)

    await source.queue.put(chat(f"{TWIN} how is gerald doing?", 1))
    await turns(1)
    [(reply, _)] = sink.sent
    await source.queue.put(streamer("!twin hold on", 2))
    await sink.wait_for(2)
    await source.queue.put(chat(f"{TWIN} what game is this?", 3))
    await turns(2)  # a turn whose reply waits for approval: chat has not seen it
    assert daemon.session.last_trace is not None and daemon.session.last_trace.outcome == "held"
    await source.queue.put(streamer("!twin good", 4))
    await sink.wait_for(3)
    await source.queue.put(None)
    async with asyncio.timeout(WAIT_S):
        await task
    assert "no reply" not in sink.sent[2][0], sink.sent[2]
    [record] = [
        json.loads(line)
        for line in (settings.data_dir / "feedback" / "feedback.jsonl").read_text().splitlines()
    ]
    assert record["verdict"] == "good" and record["reply"] == reply


def test_a_bad_from_chat_becomes_a_preference_pair(tmp_path: Path) -> None:
    # a turn with two candidates: `!twin bad` sets the reply said against the one not said
    settings = _settings(tmp_path / "data")
    daemon = _daemon(settings, RecordingSink())
    asked = chat(f"{TWIN} how is gerald the sourdough starter doing?", 1)
    trace = Turn(
        TurnParts(
            simulator=ScriptedSimulator([]),
            rewriter=ScriptedRewriter(""),
            guard=Guard(GuardSettings()),
            clock=RealClock(),
        ),
        TurnOptions(twin=TWIN),
        picked(asked),
        [asked],
    ).trace
    trace.outcome, trace.reply = "answered", "Gerald is thriving, thanks."
    trace.alternatives = ["Gerald is thriving, thanks.", "Gerald doubled overnight!"]
    daemon.session._finished(trace)
    rated = daemon.session.feedback("bad", login="mossbyte")
    assert rated is not None
    assert (rated.turn_id, rated.previous) == (trace.turn_id, None)
    records, unreadable = read_feedback(settings.data_dir / "feedback" / "feedback.jsonl")
    [record] = records
    assert unreadable == 0
    assert record.alternatives == ["Gerald doubled overnight!"]  # never the reply itself
    [pair] = list(dpo_pairs([record], TWIN, report=PairReport()))
    assert pair["rejected"].strip() == "Gerald is thriving, thanks."
    assert pair["chosen"].strip() == "Gerald doubled overnight!"
