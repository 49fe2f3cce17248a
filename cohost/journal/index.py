"""The journal's vector index: entries to chunks to vectors, kept in step with the files.

The files are the truth; the index is derived and can always be rebuilt from them. Secret entries
are never chunked, embedded or stored. Everything here blocks except `Indexer.run` and
`IndexedJournal.search`, which push the blocking work to threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from cohost.core.errors import JournalFormatError
from cohost.core.events import Hit, Tier
from cohost.core.ports import Chunk, Embedder, IndexedEntry, VectorStore
from cohost.journal.chunk import CHUNKER_VERSION, ChunkSpec, split_text
from cohost.journal.store import Entry
from cohost.journal.wikitext import plain_text

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total)

_HAS_LETTER = re.compile(r"[^\W\d_]")
# Chunks asked of the store per entry wanted, growing by this factor until k entries are found:
# one long entry can fill a search with its chunks (issue #20: the same entry four times).
CHUNKS_PER_ENTRY = 4


class EntrySource(Protocol):
    """What the index reads from the journal (JournalStore fits)."""

    def entries(self) -> Iterable[Entry]:
        """Every readable entry."""
        ...

    def get(self, entry_id: str) -> Entry:
        """One entry; KeyError when it is gone."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexReport:
    """How the index compares with the journal files."""

    entries: int  # entries that belong in the index (not secret, some words: indexed_text)
    chunks: int  # chunks the index holds
    missing: tuple[str, ...]  # entry ids not in the index
    stale: tuple[str, ...]  # changed since they were indexed
    orphans: tuple[str, ...]  # in the index, but gone from the journal or now secret

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.orphans)


def indexed_text(entry: Entry) -> str:
    """The words indexed for an entry: what a reader of it sees, else its title and tags.

    A tiddler whose text is only markup (`<<list-links "[tag[Salad]]">>`, a `{{||template}}`)
    renders as a list or a card made of other tiddlers and fields; what it is about is its title
    and tags, and a search for "salad" should find it, as TiddlyWiki's own search does. Left
    out, `check` called it missing after every `reindex`. An entry with no words anywhere (only
    markup, titled by its time, no tags) has nothing to index: reindex and check both pass it over.
    """
    if words := plain_text(entry.text):
        return words
    tags = [tag for tag in entry.tags if _HAS_LETTER.search(tag)]
    if tags:
        return f"Tagged: {', '.join(tags)}."  # embedding_text puts a worded title before it
    return entry.title if _HAS_LETTER.search(entry.title) else ""


def embedding_text(chunk: Chunk) -> str:
    """What is embedded for a chunk: its text, after the title when the title is words."""
    # Untitled entries are titled by their time; digits add noise to a sentence embedding.
    if _HAS_LETTER.search(chunk.title):
        return f"{chunk.title}. {chunk.text}"
    return chunk.text


class JournalIndex:
    """Chunks, embeds and stores entries; compares the index with the files and repairs it."""

    def __init__(
        self,
        store: EntrySource,
        embedder: Embedder,
        vectors: VectorStore,
        *,
        spec: ChunkSpec | None = None,
        batch_size: int = 64,
        model_id: str | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.vectors = vectors
        self.spec = spec or ChunkSpec()
        self._batch_size = batch_size
        # Part of every digest, so a different model (or chunking) marks every entry stale.
        name = model_id or str(getattr(embedder, "name", type(embedder).__name__))
        self._fingerprint = json.dumps(
            [name, embedder.dimension, self.spec.min_words, self.spec.max_words,
             self.spec.overlap_words, CHUNKER_VERSION]
        )  # fmt: skip

    def open(self) -> bool:
        """Open or create the vector collection; True when it starts empty."""
        return self.vectors.ensure(self.embedder.dimension)

    def digest(self, entry: Entry) -> str:
        """A fingerprint of what indexing this entry stores."""
        data = json.dumps(
            [self._fingerprint, entry.title, entry.text, sorted(entry.tags), str(entry.tier)]
        )
        return hashlib.sha256(data.encode()).hexdigest()[:24]

    def chunks_of(self, entry: Entry) -> list[Chunk]:
        """The entry's chunks with their payload; none at all for a secret entry."""
        if entry.tier is Tier.SECRET:
            return []
        digest = self.digest(entry)
        return [
            Chunk(
                entry_id=entry.id,
                index=i,
                text=text,
                title=entry.title,
                created=entry.created.timestamp(),
                modified=entry.modified.timestamp(),
                digest=digest,
                tags=entry.tags,
                tier=entry.tier,
            )
            # the words a reader of the tiddler sees: markup would drown them in the embedding
            for i, text in enumerate(split_text(indexed_text(entry), self.spec))
        ]

    def index_entry(self, entry: Entry) -> int:
        """(Re)index one entry; a secret one is removed instead. Returns its chunk count."""
        chunks = self.chunks_of(entry)
        vectors = self.embedder.embed([embedding_text(c) for c in chunks]) if chunks else []
        # Embedding first keeps the gap between delete and upsert short.
        self.vectors.delete_entries([entry.id])
        if chunks:
            self.vectors.upsert(chunks, vectors)
        return len(chunks)

    def index_id(self, entry_id: str) -> int:
        """(Re)index the entry with this id, or remove it from the index when it is gone."""
        try:
            entry = self.store.get(entry_id)
        except (KeyError, JournalFormatError) as exc:
            log.info("journal entry %s is gone or unreadable (%s): unindexing it", entry_id, exc)
            self.vectors.delete_entries([entry_id])
            return 0
        return self.index_entry(entry)

    def reindex(self, progress: Progress | None = None) -> int:
        """Rebuild the index from the files, from scratch; returns the number of chunks."""
        self.open()
        self.vectors.reset()
        chunks = [c for e in self.store.entries() for c in self.chunks_of(e)]
        self._embed_and_store(chunks, progress)
        return len(chunks)

    def check(self) -> IndexReport:
        """Entries missing from the index, stale in it, and index entries with no file."""
        indexed = self.vectors.indexed()
        wanted: dict[str, Entry] = {}
        secret: set[str] = set()
        for entry in self.store.entries():
            if entry.tier is Tier.SECRET:
                secret.add(entry.id)
            elif indexed_text(entry):  # the same rule as chunks_of, or check and reindex disagree
                wanted[entry.id] = entry
        missing = sorted(i for i in wanted if i not in indexed)
        stale = sorted(
            i for i, e in wanted.items() if i in indexed and _is_stale(e, indexed[i], self)
        )
        orphans = sorted(i for i in indexed if i not in wanted or i in secret)
        return IndexReport(
            entries=len(wanted),
            chunks=sum(ix.chunks for ix in indexed.values()),
            missing=tuple(missing),
            stale=tuple(stale),
            orphans=tuple(orphans),
        )

    def fix(self, report: IndexReport, progress: Progress | None = None) -> int:
        """Index what the report found missing or stale, drop its orphans; returns chunks added."""
        if report.orphans:
            self.vectors.delete_entries(report.orphans)
        todo = [*report.missing, *report.stale]
        if report.stale:
            self.vectors.delete_entries(report.stale)
        chunks: list[Chunk] = []
        for entry_id in todo:
            try:
                chunks += self.chunks_of(self.store.get(entry_id))
            except (KeyError, JournalFormatError):
                continue  # gone since the check; nothing to index
        self._embed_and_store(chunks, progress)
        return len(chunks)

    def sync(self, progress: Progress | None = None) -> IndexReport:
        """Open the index, check it against the files and repair it; returns what was found."""
        self.open()
        report = self.check()
        if not report.ok:
            log.info(
                "journal index: %d missing, %d stale, %d orphaned; repairing",
                len(report.missing),
                len(report.stale),
                len(report.orphans),
            )
            self.fix(report, progress)
        return report

    def _embed_and_store(self, chunks: Sequence[Chunk], progress: Progress | None) -> None:
        total = len(chunks)
        if progress is not None:
            progress(0, total)
        for start in range(0, total, self._batch_size):
            batch = chunks[start : start + self._batch_size]
            self.vectors.upsert(batch, self.embedder.embed([embedding_text(c) for c in batch]))
            if progress is not None:
                progress(start + len(batch), total)


def _is_stale(entry: Entry, indexed: IndexedEntry, index: JournalIndex) -> bool:
    # A hand-edited file may keep its `modified` stamp: the digest catches that too.
    return entry.modified.timestamp() > indexed.modified + 1e-3 or (
        index.digest(entry) != indexed.digest
    )


class Indexer:
    """Indexes new and changed entries off every turn's path, and rescans now and then."""

    def __init__(
        self, index: JournalIndex, *, maxsize: int = 256, rescan_s: float | None = 60.0
    ) -> None:
        self._index = index
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self._pending: set[str] = set()
        self._rescan_s = rescan_s
        self.dropped = 0
        self.indexed = 0
        self.failures = 0
        self.warm = asyncio.Event()  # the embedding model is loaded (or failed to load)

    def submit(self, entry_id: str) -> bool:
        """Ask for an entry to be (re)indexed soon; False when the queue was full."""
        if entry_id in self._pending:
            return True
        try:
            self._queue.put_nowait(entry_id)
        except asyncio.QueueFull:
            # Drop the newest: the files are the truth, and the next rescan finds this entry.
            self.dropped += 1
            return False
        self._pending.add(entry_id)
        return True

    async def join(self) -> None:
        """Wait until every submitted entry has been handled."""
        await self._queue.join()

    async def run(self) -> None:
        """Warm the model, sync the index with the files, then index what is submitted."""
        try:
            # Loading a model takes seconds: better here than in the first turn's recall.
            await off_loop(self._index.embedder.embed, ["warm-up"])
        except Exception:
            self.failures += 1
            log.exception("could not load the embedding model")
        finally:
            self.warm.set()
        await self._sync()
        while True:
            try:
                async with asyncio.timeout(self._rescan_s):
                    entry_id = await self._queue.get()
            except TimeoutError:
                # The journal page runs in its own process and files can be edited by hand.
                await self._sync()
                continue
            self._pending.discard(entry_id)
            try:
                self.indexed += await off_loop(self._index.index_id, entry_id)
            except Exception:
                self.failures += 1
                log.exception("could not index journal entry %s; the next rescan retries", entry_id)
            finally:
                self._queue.task_done()

    async def _sync(self) -> None:
        try:
            await off_loop(self._index.sync)
        except Exception:
            self.failures += 1
            log.exception("could not sync the journal index with the files")


_T = TypeVar("_T")


async def off_loop(fn: Callable[..., _T], *args: object) -> _T:
    """Run blocking index work (a model load, an embedding, a reindex) on a daemon thread.

    Unlike `asyncio.to_thread`, the process does not wait for it at exit: SIGTERM while the
    model loads or a big journal reindexes must not hold the daemon up for minutes. What the
    thread was writing is only the index, which is rebuilt from the files whenever it is
    stale or broken; journal files themselves are never written here.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def deliver(result: _T | None, error: BaseException | None) -> None:
        if future.done():
            return  # the awaiting task was cancelled
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            outcome: tuple[_T | None, BaseException | None] = (fn(*args), None)
        except BaseException as exc:  # handed to the awaiting task, whatever it is
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(deliver, *outcome)

    name = f"index-{getattr(fn, '__name__', 'work')}"
    threading.Thread(target=work, name=name, daemon=True).start()
    return await future


class IndexedJournal:
    """The Journal port over an embedder and a vector store; secret hits never come back.

    With the journal's files (`source`), each hit is checked against its file before it is
    returned: the index follows an edit only at its next sync, and an entry retagged `secret`
    or deleted by hand must not be recalled meanwhile, nor a `public` one made private be
    quoted. A hit whose file is gone or unreadable is dropped; one whose tier changed takes
    the file's.
    """

    def __init__(
        self, embedder: Embedder, vectors: VectorStore, *, source: EntrySource | None = None
    ) -> None:
        self._embedder = embedder
        self._vectors = vectors
        self._source = source

    async def search(self, query: str, *, k: int) -> list[Hit]:
        """The k best entries by cosine similarity, each as its best chunk, best first."""
        if not query.strip() or k <= 0:
            return []
        # One trip to a worker thread for both steps: each hop costs on a busy machine.
        return await off_loop(self._embed_and_search, query, k)

    def _embed_and_search(self, query: str, k: int) -> list[Hit]:
        vector = self._embedder.embed([query])[0]
        asked = k * CHUNKS_PER_ENTRY
        while True:
            found = self._vectors.search(vector, k=asked)
            # an entry's chunks share its file and tier: one file read per entry
            best = best_per_entry(found)
            if self._source is not None:
                best = _as_files_say(best, self._source)
            # The store's filter excludes secret chunks already; this is the second lock.
            best = [hit for hit in best if hit.tier is not Tier.SECRET]
            # Fewer chunks than asked for: that was all of them.
            if len(best) >= k or len(found) < asked:
                return best[:k]
            asked *= CHUNKS_PER_ENTRY


def best_per_entry(hits: Iterable[Hit]) -> list[Hit]:
    """Each entry's first hit (its best chunk, when the hits come best first), in order."""
    best: dict[str, Hit] = {}
    for hit in hits:
        best.setdefault(hit.entry_id, hit)
    return list(best.values())


def with_current_tiers(hits: Sequence[Hit], source: EntrySource) -> list[Hit]:
    """The hits with each file's tier now, for a check made later than the recall (a held
    reply's approval): one turned secret stays, as secret, so any run of it blocks."""
    tiers = _file_tiers(hits, source)
    return [_with_tier(hit, tiers[hit.entry_id] or hit.tier) for hit in hits]


def _as_files_say(hits: list[Hit], source: EntrySource) -> list[Hit]:
    """The hits with each file's tier now; those whose file is gone or secret dropped."""
    tiers = _file_tiers(hits, source)
    return [
        _with_tier(hit, tier)
        for hit in hits
        if (tier := tiers[hit.entry_id]) is not None and tier is not Tier.SECRET
    ]


def _file_tiers(hits: Sequence[Hit], source: EntrySource) -> dict[str, Tier | None]:
    """Each hit's entry's tier as its file says now; None when it is gone or unreadable."""
    tiers: dict[str, Tier | None] = {}
    for hit in hits:
        if hit.entry_id not in tiers:
            try:
                tiers[hit.entry_id] = source.get(hit.entry_id).tier
            except (KeyError, JournalFormatError):
                tiers[hit.entry_id] = None
    return tiers


def _with_tier(hit: Hit, tier: Tier) -> Hit:
    return hit if tier is hit.tier else replace(hit, tier=tier)
