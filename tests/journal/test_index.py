"""The journal index: chunking, tiers in the payload, secrets never indexed, check and repair."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cohost.adapters.qdrant_edge import EdgeVectorStore
from cohost.app.journal_wiring import index_dir, journal_for
from cohost.app.paths import journal_dir
from cohost.app.settings import Settings
from cohost.cli.journal import run_journal
from cohost.core.errors import JournalUnavailable
from cohost.core.events import Hit, Tier
from cohost.core.options import JournalSettings
from cohost.core.ports import Chunk, IndexedEntry
from cohost.embedded.hashing_embedder import HashingEmbedder
from cohost.journal.chunk import ChunkSpec, sentences, split_text
from cohost.journal.index import IndexedJournal, Indexer, JournalIndex, embedding_text, off_loop
from cohost.journal.store import JournalStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _sentence(i: int, words: int = 10) -> str:
    return " ".join(f"w{i}x{j}" for j in range(words - 1)) + f" end{i}."


def _words(text: str) -> list[str]:
    return text.split()


# --- chunking ---------------------------------------------------------------------------------


def test_a_short_entry_is_one_chunk() -> None:
    assert split_text("Just one thought.\n\nAnd another.") == ["Just one thought.\n\nAnd another."]


def test_sentences_split_at_end_marks_and_lines() -> None:
    assert sentences('He said "stop!" Then left. Really?\n* a list item') == [
        'He said "stop!"',
        "Then left.",
        "Really?",
        "* a list item",
    ]


def test_small_paragraphs_are_packed_until_min_words() -> None:
    spec = ChunkSpec(min_words=25, max_words=40, overlap_words=0)
    paragraphs = [_sentence(i) for i in range(6)]  # 10 words each
    chunks = split_text("\n\n".join(paragraphs), spec)
    # 30 words reach min_words at a paragraph end: cut there, no overlap across paragraphs.
    assert [len(_words(c)) for c in chunks] == [30, 30]
    assert chunks[0] == "\n\n".join(paragraphs[:3])


def test_a_long_paragraph_is_cut_at_sentences_with_a_short_overlap() -> None:
    spec = ChunkSpec(min_words=20, max_words=35, overlap_words=12)
    text = " ".join(_sentence(i) for i in range(7))  # one paragraph, 70 words
    chunks = split_text(text, spec)
    assert all(len(_words(c)) <= 35 for c in chunks)
    assert all(c.endswith(".") for c in chunks)  # cuts fall between sentences
    for before, after in itertools.pairwise(chunks):
        last_sentence = sentences(before)[-1]
        assert after.startswith(last_sentence)
    # Every sentence is in some chunk, in order.
    seen = [s for c in chunks for s in sentences(c)]
    assert list(dict.fromkeys(seen)) == [_sentence(i) for i in range(7)]


def test_no_overlap_when_the_last_sentence_is_long() -> None:
    spec = ChunkSpec(min_words=20, max_words=30, overlap_words=5)
    chunks = split_text(" ".join(_sentence(i) for i in range(6)), spec)
    assert sum(len(_words(c)) for c in chunks) == 60


def test_a_run_on_sentence_is_cut_into_max_word_pieces() -> None:
    text = " ".join(f"word{i}" for i in range(250))
    chunks = split_text(text, ChunkSpec(min_words=60, max_words=120, overlap_words=0))
    assert [len(_words(c)) for c in chunks] == [120, 120, 10]
    assert " ".join(chunks).split() == text.split()


def test_chunk_spec_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="min_words"):
        ChunkSpec(min_words=50, max_words=40)
    with pytest.raises(ValueError, match="overlap"):
        ChunkSpec(min_words=10, max_words=40, overlap_words=40)


def test_embedding_text_keeps_worded_titles_and_drops_timestamp_titles() -> None:
    def chunk(title: str) -> Chunk:
        return Chunk(
            entry_id="e", index=0, text="Body.", title=title, created=0, modified=0,
            digest="d", tags=(), tier=Tier.PRIVATE,
        )  # fmt: skip

    assert embedding_text(chunk("Speedrun plans")) == "Speedrun plans. Body."
    assert embedding_text(chunk("2026-03-01 12:00:00.000")) == "Body."


# --- the hashing embedder -----------------------------------------------------------------------


def test_hashing_embedder_is_deterministic_unit_length_and_lexical() -> None:
    emb = HashingEmbedder(dimension=128)
    a, b, c, empty = emb.embed(
        ["my cat sleeps on the keyboard", "the cat sleeps on my keyboard", "tax forms due", ""]
    )
    assert emb.embed(["my cat sleeps on the keyboard"])[0] == a
    for v in (a, b, c, empty):
        assert len(v) == 128
        assert abs(sum(x * x for x in v) - 1.0) < 1e-9

    def cos(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert cos(a, b) > 0.5 > cos(a, c)


# --- indexing over a real store and the edge engine ---------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> JournalStore:
    return JournalStore(tmp_path / "journal")


@pytest.fixture
def vectors(tmp_path: Path) -> Iterator[EdgeVectorStore]:
    v = EdgeVectorStore(tmp_path / "index" / "edge")
    yield v
    v.close()


@pytest.fixture
def index(store: JournalStore, vectors: EdgeVectorStore) -> JournalIndex:
    ix = JournalIndex(
        store,
        HashingEmbedder(),
        vectors,
        spec=ChunkSpec(min_words=8, max_words=16, overlap_words=4),
    )
    assert ix.open() is True
    return ix


def _fill(store: JournalStore) -> dict[str, str]:
    texts = {
        "pub": "I finished the speedrun of the lava level in under four minutes today.",
        "priv": "My sister is moving to Lisbon in June and I will miss her a lot.",
        "secret": "The door code for the studio is four four nine one, do not share it.",
        "long": " ".join(_sentence(i, 6) for i in range(8)),
    }
    tags = {"pub": ["public"], "priv": [], "secret": ["secret", "family"], "long": ["private"]}
    ids = {}
    for n, (key, text) in enumerate(texts.items()):
        ids[key] = store.add(text, tags=tags[key], title=f"entry {key}", now=T0 + timedelta(n)).id
    return ids


def test_chunks_carry_tier_and_payload_and_secret_is_never_indexed(
    store: JournalStore, index: JournalIndex, vectors: EdgeVectorStore
) -> None:
    ids = _fill(store)
    for entry in store.entries():
        index.index_entry(entry)
    indexed = vectors.indexed()
    assert set(indexed) == {ids["pub"], ids["priv"], ids["long"]}
    assert indexed[ids["long"]].chunks > 1
    assert index.chunks_of(store.get(ids["secret"])) == []

    query = HashingEmbedder().embed(["sister moving to Lisbon"])[0]
    best = vectors.search(query, k=1)[0]
    assert (best.entry_id, best.tier, best.title) == (ids["priv"], Tier.PRIVATE, "entry priv")
    assert best.created == store.get(ids["priv"]).created.timestamp()
    pub = vectors.search(HashingEmbedder().embed(["speedrun lava level"])[0], k=1)[0]
    assert (pub.entry_id, pub.tier) == (ids["pub"], Tier.PUBLIC)
    every = vectors.search(HashingEmbedder().embed(["door code studio"])[0], k=50)
    assert ids["secret"] not in {h.entry_id for h in every}
    assert all("door code" not in h.text for h in every)


def _snapshot(index: JournalIndex, vectors: EdgeVectorStore) -> tuple[object, ...]:
    queries = ["sister Lisbon", "speedrun lava", "w3x1 end3", "door code"]
    # Every chunk comes back (k is large); ties in score have no defined order.
    found = [
        sorted((-round(h.score, 5), h.entry_id, h.text, h.tier) for h in vectors.search(q, k=50))
        for q in index.embedder.embed(queries)
    ]
    return (vectors.indexed(), vectors.count(), found)


def test_reindex_from_scratch_equals_incremental_indexing(
    store: JournalStore, index: JournalIndex, vectors: EdgeVectorStore
) -> None:
    _fill(store)
    for entry in store.entries():
        index.index_entry(entry)
        index.index_entry(entry)  # indexing twice changes nothing
    incremental = _snapshot(index, vectors)
    seen: list[tuple[int, int]] = []
    chunks = index.reindex(progress=lambda done, total: seen.append((done, total)))
    assert _snapshot(index, vectors) == incremental
    assert chunks == vectors.count()
    assert seen[0] == (0, chunks) and seen[-1] == (chunks, chunks)


def _rewrite(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_check_finds_missing_stale_and_orphaned_entries_and_fix_repairs_them(
    store: JournalStore, index: JournalIndex
) -> None:
    ids = _fill(store)
    assert index.check().missing == tuple(sorted([ids["pub"], ids["priv"], ids["long"]]))
    index.reindex()
    clean = index.check()
    assert clean.ok and clean.entries == 3

    added = store.add("A brand new thought about the tournament.", now=T0 + timedelta(9)).id
    pub = store.get(ids["pub"])
    # Edited by hand without touching `modified`: the digest still sees it.
    _rewrite(pub.path, "four minutes", "three minutes")
    # Edited with a newer stamp.
    priv = store.get(ids["priv"])
    _rewrite(priv.path, "modified: 20260302120000000", "modified: 20260401120000000")
    # Deleted, and made secret after indexing.
    long_path = store.get(ids["long"]).path
    long_path.unlink()
    store.add("Gone soon.", title="x", now=T0)  # an unindexed entry that we then make secret
    secret_later = store.get("x")
    index.index_entry(secret_later)
    _rewrite(secret_later.path, "type:", "tags: secret\ntype:")

    report = index.check()
    assert report.missing == (added,)
    assert report.stale == tuple(sorted([ids["pub"], ids["priv"]]))
    assert report.orphans == tuple(sorted([ids["long"], "x"]))
    assert not report.ok

    index.fix(report)
    after = index.check()
    assert after.ok, after
    hits = index.vectors.search(index.embedder.embed(["three minutes speedrun"])[0], k=1)
    assert "three minutes" in hits[0].text


def test_a_tiddler_of_macros_only_is_indexed_by_its_title_and_tags(
    store: JournalStore, index: JournalIndex
) -> None:
    # issue #20: after `reindex`, `check` called these missing, and `check --fix` could not help
    salads = store.add('<<list-links "[tag[Salad]]">>', tags=["Recipes"], title="Salads", now=T0)
    book = store.add("{{||$:/jab/viewtemplate/book}}", tags=["Book"], title="Devoted", now=T0)
    index.reindex()
    report = index.check()
    assert report.ok, report
    assert report.entries == 2
    [chunk] = index.chunks_of(store.get(salads.id))
    assert chunk.text == "Tagged: Recipes."
    assert embedding_text(chunk) == "Salads. Tagged: Recipes."
    found = index.vectors.search(index.embedder.embed(["salads recipes"])[0], k=1)
    assert found[0].entry_id == salads.id
    assert book.id in index.vectors.indexed()


def test_an_entry_with_no_words_anywhere_is_passed_over_by_reindex_and_check(
    store: JournalStore, index: JournalIndex
) -> None:
    untitled = store.add("<<now>> [img[photo.png]]", now=T0)  # titled by its time, no tags
    plain = store.add("A plain thought.", now=T0 + timedelta(1))
    assert index.chunks_of(store.get(untitled.id)) == []
    assert index.reindex() == 1
    report = index.check()
    assert report.ok and report.entries == 1
    assert set(index.vectors.indexed()) == {plain.id}


def test_a_secret_entry_that_was_indexed_is_removed_when_reindexed(
    store: JournalStore, index: JournalIndex, vectors: EdgeVectorStore
) -> None:
    entry = store.add("Plans for the surprise charity stream in May.", title="plans", now=T0)
    assert index.index_entry(entry) == 1
    _rewrite(entry.path, "type:", "tags: Secret\ntype:")
    assert index.index_id(entry.id) == 0
    assert vectors.count() == 0


def test_index_id_of_a_deleted_entry_unindexes_it(
    store: JournalStore, index: JournalIndex, vectors: EdgeVectorStore
) -> None:
    entry = store.add("Temporary note.", now=T0)
    index.index_entry(entry)
    entry.path.unlink()
    assert index.index_id(entry.id) == 0
    assert vectors.indexed() == {}


def test_a_different_model_marks_every_entry_stale(
    store: JournalStore, index: JournalIndex, vectors: EdgeVectorStore
) -> None:
    _fill(store)
    index.reindex()
    other = JournalIndex(store, HashingEmbedder(), vectors, model_id="another-model")
    assert len(other.check().stale) == 3


def test_a_corrupt_index_is_moved_aside_rebuilt_and_synced(
    store: JournalStore, tmp_path: Path
) -> None:
    ids = _fill(store)
    path = tmp_path / "index" / "edge"
    first = EdgeVectorStore(path)
    JournalIndex(store, HashingEmbedder(), first).reindex()
    first.close()
    (path / "edge_config.json").write_text("garbage", encoding="utf-8")

    second = EdgeVectorStore(path)
    index = JournalIndex(store, HashingEmbedder(), second)
    try:
        report = index.sync()
        assert second.rebuilt_from is not None and second.rebuilt_from.is_dir()
        assert set(report.missing) == {ids["pub"], ids["priv"], ids["long"]}
        assert index.check().ok
    finally:
        second.close()


def test_an_index_open_in_another_process_is_reported_not_destroyed(tmp_path: Path) -> None:
    path = tmp_path / "edge"
    holder = EdgeVectorStore(path)
    holder.ensure(8)
    holder.upsert(
        [
            Chunk(
                entry_id="a", index=0, text="t", title="a", created=0, modified=0,
                digest="d", tags=(), tier=Tier.PRIVATE,
            )
        ],
        [[1.0] + [0.0] * 7],
    )  # fmt: skip
    try:
        with pytest.raises(JournalUnavailable, match="another process"):
            EdgeVectorStore(path).ensure(8)
        assert holder.count() == 1
        assert not list(tmp_path.glob("edge.broken-*"))
    finally:
        holder.close()


# --- the background indexer ---------------------------------------------------------------------


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):  # a deadline for a hang, not a timing assertion
        # The index has no event to wait on: poll it.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_indexer_syncs_then_indexes_submitted_entries(
    store: JournalStore, index: JournalIndex, vectors: EdgeVectorStore
) -> None:
    before = store.add("Written while the daemon was down.", now=T0).id
    indexer = Indexer(index, maxsize=4, rescan_s=None)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(indexer.run(), name="indexer")
        await _until(lambda: before in vectors.indexed())
        new = store.add("Added from chat with !twin note.", now=T0 + timedelta(1)).id
        assert indexer.submit(new)
        await indexer.join()
        assert new in vectors.indexed()
        task.cancel()


async def test_indexer_drops_when_full_and_the_rescan_catches_up(
    store: JournalStore, index: JournalIndex, vectors: EdgeVectorStore
) -> None:
    ids = [store.add(f"Note number {i}.", title=f"n{i}", now=T0).id for i in range(4)]
    indexer = Indexer(index, maxsize=2, rescan_s=0.05)
    # Not running yet: the queue fills, a duplicate is not queued twice, the overflow is counted.
    assert [indexer.submit(i) for i in ids[:2]] == [True, True]
    assert indexer.submit(ids[0]) is True
    assert indexer.submit(ids[2]) is False
    assert indexer.dropped == 1
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(indexer.run())
        await _until(lambda: set(ids) <= set(vectors.indexed()))
        task.cancel()
    assert indexer.failures == 0


# --- the Journal port ---------------------------------------------------------------------------


class _LeakyStore:
    """A vector store whose filter is broken: it returns a secret hit."""

    def __init__(self) -> None:
        self.hits = [
            Hit(entry_id="s", title="s", text="secret words", score=0.9, tier=Tier.SECRET),
            Hit(entry_id="p", title="p", text="private words", score=0.8, tier=Tier.PRIVATE),
        ]

    def ensure(self, dimension: int) -> bool:
        return False

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        raise AssertionError

    def delete_entries(self, entry_ids: Collection[str]) -> None:
        raise AssertionError

    def search(self, vector: Sequence[float], *, k: int) -> list[Hit]:
        return self.hits[:k]

    def indexed(self) -> dict[str, IndexedEntry]:
        return {}

    def count(self) -> int:
        return 2

    def reset(self) -> None:
        raise AssertionError

    def close(self) -> None:
        pass


async def test_the_journal_never_returns_a_secret_hit_even_from_a_leaky_store() -> None:
    journal = IndexedJournal(HashingEmbedder(), _LeakyStore())
    hits = await journal.search("words", k=5)
    assert [h.entry_id for h in hits] == ["p"]
    assert await journal.search("   ", k=5) == []


async def test_the_journal_searches_a_real_index(
    store: JournalStore, index: JournalIndex, vectors: EdgeVectorStore
) -> None:
    ids = _fill(store)
    index.reindex()
    hits = await IndexedJournal(index.embedder, vectors).search("sister Lisbon June", k=2)
    assert hits[0].entry_id == ids["priv"]
    assert hits[0].score >= hits[1].score
    assert not any(re.search("door code", h.text) for h in hits)


async def test_recall_goes_by_the_files_before_the_index_catches_up(
    store: JournalStore, index: JournalIndex, vectors: EdgeVectorStore
) -> None:
    ids = _fill(store)
    index.reindex()
    journal = journal_for(index)  # as the daemon recalls
    query = "Lisbon sister speedrun lava level"

    async def tiers() -> dict[str, Tier]:
        return {hit.entry_id: hit.tier for hit in await journal.search(query, k=4)}

    assert (await tiers())[ids["priv"]] is Tier.PRIVATE
    assert (await tiers())[ids["pub"]] is Tier.PUBLIC
    # edited by hand, with no sync since: the index still holds the old tiers
    _rewrite(store.directory / f"{ids['priv']}.tid", "title: ", "tags: secret\ntitle: ")
    _rewrite(store.directory / f"{ids['pub']}.tid", "tags: public", "tags: diary")
    found = await tiers()
    assert ids["priv"] not in found  # now secret: never recalled
    assert found[ids["pub"]] is Tier.PRIVATE  # no longer public: never quoted
    (store.directory / f"{ids['pub']}.tid").unlink()
    assert ids["pub"] not in await tiers()
    # the index itself has not changed: the files were read at recall
    assert {
        hit.entry_id for hit in await IndexedJournal(index.embedder, vectors).search(query, k=4)
    } >= {ids["priv"], ids["pub"]}


async def test_a_search_returns_each_entry_once_with_its_best_chunk(
    store: JournalStore, index: JournalIndex, vectors: EdgeVectorStore
) -> None:
    # issue #20: one entry came back four times, once per chunk
    route = " ".join(f"The lava level route part {i} needs a jump {i}." for i in range(12))
    long = store.add(route, title="lava route", now=T0)
    other = store.add("The lava level took three tries.", title="tries", now=T0 + timedelta(1))
    store.add("A new desk lamp arrived.", title="lamp", now=T0 + timedelta(2))
    index.reindex()
    assert vectors.indexed()[long.id].chunks > 3
    query = "lava level route jump"
    chunks = vectors.search(index.embedder.embed([query])[0], k=50)
    best = max((h for h in chunks if h.entry_id == long.id), key=lambda h: h.score)

    hits = await journal_for(index).search(query, k=3)
    assert [h.entry_id for h in hits] == [long.id, other.id, hits[2].entry_id]
    assert len({h.entry_id for h in hits}) == 3
    assert (hits[0].text, hits[0].score) == (best.text, best.score)


def test_the_index_folder_is_the_owners_alone(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    (settings.data_dir / "index").mkdir(parents=True, mode=0o755)
    assert index_dir(settings).stat().st_mode & 0o777 == 0o700


# --- the command line ---------------------------------------------------------------------------


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", journal=JournalSettings(embedding_model="hashing"))


def test_cli_reindex_check_and_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path)
    store = JournalStore(journal_dir(settings), settings.journal)
    ids = _fill(store)

    assert run_journal(["check"], settings) == 1
    out = capsys.readouterr().out
    assert "3 missing from the index" in out

    assert run_journal(["reindex"], settings) == 0
    assert "from 3 entries" in capsys.readouterr().out
    assert run_journal(["check"], settings) == 0
    assert "matches" in capsys.readouterr().out

    store.add("Another note about the lava level speedrun route.", now=T0 + timedelta(5))
    assert run_journal(["check"], settings) == 1
    assert run_journal(["check", "--fix"], settings) == 0
    assert "fixed" in capsys.readouterr().out
    assert run_journal(["check"], settings) == 0
    capsys.readouterr()

    assert (
        run_journal(["search", "door code studio", "--raw", "--k", "10", "--json"], settings) == 0
    )
    rows = json.loads(capsys.readouterr().out)["hits"]
    assert rows and ids["secret"] not in {r["entry_id"] for r in rows}
    assert all("door code" not in r["text"] for r in rows)
    assert {"entry_id", "title", "tier", "score", "created", "tags", "text"} <= set(rows[0])

    assert run_journal(["search", "sister Lisbon", "--k", "1"], settings) == 0
    out = capsys.readouterr().out
    assert "private" in out and "entry priv" in out


def test_cli_search_of_an_empty_index_fails_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue #20: it printed `[]` (or "no journal entry is close enough") and exited 0
    settings = _settings(tmp_path)
    assert run_journal(["search", "sister Lisbon"], settings) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "the journal has no entries to search" in captured.err

    _fill(JournalStore(journal_dir(settings), settings.journal))  # as `journal add` leaves them
    assert run_journal(["search", "sister Lisbon", "--raw"], settings) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "cohost: the journal index is empty: 3 journal entries are not indexed yet: "
        "run `cohost journal reindex` (a running daemon indexes them on its own)\n"
    )
    assert run_journal(["search", "sister Lisbon", "--json"], settings) == 1
    captured = capsys.readouterr()
    answer = json.loads(captured.out)
    assert answer["hits"] == [] and answer["not_indexed"] == 3
    assert "the journal index is empty" in answer["error"]
    assert "cohost journal reindex" in captured.err

    assert run_journal(["reindex"], settings) == 0
    capsys.readouterr()
    assert run_journal(["search", "sister Lisbon", "--json"], settings) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["error"] is None and answer["not_indexed"] == 0
    assert answer["hits"][0]["title"] == "entry priv"


def test_cli_search_says_when_some_entries_are_not_indexed_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path)
    store = JournalStore(journal_dir(settings), settings.journal)
    _fill(store)
    assert run_journal(["reindex"], settings) == 0
    store.add("A note about the cat, unindexed.", now=T0 + timedelta(7))
    capsys.readouterr()
    assert run_journal(["search", "zzzz qqqq"], settings) == 0
    captured = capsys.readouterr()
    assert "1 journal entry is not indexed yet: run `cohost journal reindex`" in captured.err
    assert captured.out == "no journal entry is close enough (try --raw)\n"


@pytest.mark.shared_data
def test_cli_check_agrees_with_reindex_over_a_real_wiki(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue #20: book tiddlers that are only a `{{||template}}` were "missing" after reindex
    settings = _settings(tmp_path)
    wiki = shared_data / "tiddlywiki" / "tid" / "jackbaty"
    assert run_journal(["import", str(wiki), "--no-index"], settings) == 0
    assert run_journal(["reindex"], settings) == 0
    assert run_journal(["check"], settings) == 0
    assert "the index matches the journal" in capsys.readouterr().out
    assert run_journal(["search", "Devoted Dean Koontz", "--raw", "--json"], settings) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["title"] == "Devoted by Dean Koontz"
    assert len({h["entry_id"] for h in hits}) == len(hits)


def test_cli_reports_an_index_held_by_another_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path)
    holder = EdgeVectorStore(settings.data_dir / "index" / "edge")
    holder.ensure(HashingEmbedder().dimension)
    try:
        assert run_journal(["reindex"], settings) == 1
        assert "another process" in capsys.readouterr().err
    finally:
        holder.close()


async def test_off_loop_hands_back_results_and_errors() -> None:
    assert await off_loop(sum, [1, 2, 3]) == 6
    with pytest.raises(ZeroDivisionError):
        await off_loop(divmod, 1, 0)


def test_exit_does_not_wait_for_index_work(tmp_path: Path) -> None:
    # SIGTERM while a model loads or a journal reindexes: the process must not wait for it
    script = (
        "import asyncio, time\n"
        "from cohost.journal.index import off_loop\n"
        "async def main():\n"
        "    work = asyncio.ensure_future(off_loop(time.sleep, 600))\n"
        "    await asyncio.sleep(0.1)\n"
        "    work.cancel()\n"
        "asyncio.run(main())\n"
        "print('done')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
