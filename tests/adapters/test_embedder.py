"""The real embedding model (all-MiniLM-L6-v2, offline) and recall through it, end to end."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cohost.adapters.embedder import SentenceEmbedder, bundled_model_path, dimension_hint
from cohost.adapters.qdrant_edge import EdgeVectorStore
from cohost.app.journal_wiring import make_embedder
from cohost.app.settings import Settings
from cohost.core.events import Tier
from cohost.core.options import JournalSettings
from cohost.embedded.hashing_embedder import HashingEmbedder
from cohost.journal.index import IndexedJournal, JournalIndex
from cohost.journal.store import JournalStore
from cohost.pipeline.recall import recall

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def minilm() -> SentenceEmbedder:
    """The bundled model, loaded once for the whole session (it takes seconds)."""
    return SentenceEmbedder()


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_the_bundled_model_is_there_and_offline() -> None:
    assert (bundled_model_path() / "config.json").is_file()


def test_the_dimension_is_read_from_the_model_folder(tmp_path: Path) -> None:
    assert dimension_hint(bundled_model_path()) == 384
    (tmp_path / "modules.json").write_text('[{"path": "", "type": "my.models.Custom"}]')
    assert dimension_hint(tmp_path) is None
    assert dimension_hint(tmp_path / "absent") is None


def test_vectors_are_384_dims_and_unit_length(minilm: SentenceEmbedder) -> None:
    assert minilm.dimension == 384
    vectors = minilm.embed(["hello chat", "a much longer sentence about the speedrun tonight"])
    assert [len(v) for v in vectors] == [384, 384]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)
    assert minilm.embed([]) == []


def test_the_nearest_neighbour_is_the_one_that_means_the_same(minilm: SentenceEmbedder) -> None:
    docs = [
        "I adopted a small grey kitten and named her Miso.",
        "The car needs new winter tyres before the trip.",
        "Tax forms are due at the end of next week.",
    ]
    # No word in common with the right answer: only meaning connects them.
    query, *doc_vectors = minilm.embed(["what pet do you have?", *docs])
    scores = [cosine(query, d) for d in doc_vectors]
    assert scores.index(max(scores)) == 0
    assert scores[0] - max(scores[1:]) > 0.1


def test_settings_choose_the_embedder(minilm: SentenceEmbedder) -> None:
    assert isinstance(
        make_embedder(Settings(journal=JournalSettings(embedding_model="hashing"))), HashingEmbedder
    )
    by_path = make_embedder(
        Settings(journal=JournalSettings(embedding_model=str(bundled_model_path())))
    )
    assert isinstance(by_path, SentenceEmbedder)
    assert by_path.embed(["same text"])[0] == pytest.approx(
        minilm.embed(["same text"])[0], abs=1e-5
    )


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[EdgeVectorStore]:
    store = EdgeVectorStore(tmp_path / "edge")
    yield store
    store.close()


async def test_recall_end_to_end_finds_the_entry_by_meaning(
    minilm: SentenceEmbedder, edge: EdgeVectorStore, tmp_path: Path
) -> None:
    store = JournalStore(tmp_path / "journal")
    t0 = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
    kitten = store.add(
        "Adopted a grey kitten today. She is called Miso and already sleeps on my keyboard.",
        tags=["public"],
        now=t0,
    )
    store.add("Booked the flights to Lisbon to see my sister in June.", now=t0 + timedelta(1))
    store.add(
        "The new PIN for the bank card is 4491, keep it to myself.",
        tags=["secret"],
        now=t0 + timedelta(2),
    )
    index = JournalIndex(store, minilm, edge)
    index.reindex()
    journal = IndexedJournal(minilm, edge)

    hits = await recall(
        journal,
        "do you have any pets?",
        k=2,
        min_score=0.2,
        recency_half_life_days=180,
        now=(t0 + timedelta(3)).timestamp(),
    )
    assert hits and hits[0].entry_id == kitten.id and hits[0].tier is Tier.PUBLIC
    family = await recall(
        journal,
        "is your sister coming to visit?",
        k=1,
        min_score=0.2,
        recency_half_life_days=180,
        now=(t0 + timedelta(3)).timestamp(),
    )
    assert [h.tier for h in family] == [Tier.PRIVATE]
    every = await journal.search("what is your bank PIN code?", k=10)
    assert all("4491" not in h.text for h in every)


async def test_an_imported_tiddler_written_in_html_is_found_by_its_words(
    minilm: SentenceEmbedder, edge: EdgeVectorStore, tmp_path: Path, shared_data: Path
) -> None:
    from cohost.journal.io import import_into  # noqa: PLC0415

    store = JournalStore(tmp_path / "journal")
    import_into(store, shared_data / "tiddlywiki" / "tid")
    JournalIndex(store, minilm, edge).reindex()
    hits = await IndexedJournal(minilm, edge).search("do you like the murderbot books?", k=3)
    review = next(h for h in hits if "Murderbot" in h.title)  # the Goodreads review, in HTML
    assert "I still love Murderbot" in review.text
    assert "<a href" not in review.text and "{{" not in review.text
