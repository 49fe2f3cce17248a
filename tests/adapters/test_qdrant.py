"""Both Qdrant engines through one VectorStore contract: edge in-process, and qdrant-client."""

from __future__ import annotations

import math
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cohost.adapters.qdrant_edge import EdgeVectorStore
from cohost.adapters.qdrant_server import QdrantVectorStore
from cohost.core.errors import JournalUnavailable
from cohost.core.events import Tier
from cohost.core.ports import Chunk, VectorStore

DIM = 6
Factory = Callable[[Path], VectorStore]

FACTORIES: dict[str, Factory] = {
    "edge": lambda p: EdgeVectorStore(p / "edge"),
    "client-path": lambda p: QdrantVectorStore(path=p / "qdrant", collection="journal"),
    "client-memory": lambda p: QdrantVectorStore(memory=True, collection="journal"),
}
PERSISTENT = ("edge", "client-path")


def unit(*xs: float) -> list[float]:
    v = list(xs) + [0.0] * (DIM - len(xs))
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def chunk(
    entry_id: str, index: int = 0, *, tier: Tier = Tier.PRIVATE, modified: float = 100.0
) -> Chunk:
    return Chunk(
        entry_id=entry_id,
        index=index,
        text=f"{entry_id} chunk {index}",
        title=f"title of {entry_id}",
        created=50.0,
        modified=modified,
        digest=f"d-{entry_id}",
        tags=("stream", "late night"),
        tier=tier,
    )


@pytest.fixture(params=list(FACTORIES))
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, VectorStore]]:
    store = FACTORIES[request.param](tmp_path)
    yield request.param, store
    store.close()


def test_a_new_collection_starts_empty(engine: tuple[str, VectorStore]) -> None:
    _, store = engine
    assert store.ensure(DIM) is True
    assert store.count() == 0
    assert store.indexed() == {}
    assert store.search(unit(1), k=3) == []


def test_upsert_search_and_payload_round_trip(engine: tuple[str, VectorStore]) -> None:
    _, store = engine
    store.ensure(DIM)
    store.upsert(
        [chunk("a", tier=Tier.PUBLIC), chunk("b"), chunk("c", tier=Tier.SECRET)],
        [unit(1, 0.1), unit(0.2, 1), unit(1)],
    )
    hits = store.search(unit(1), k=5)
    # The secret chunk is the nearest, and never comes back.
    assert [h.entry_id for h in hits] == ["a", "b"]
    best = hits[0]
    assert best.tier is Tier.PUBLIC
    assert (best.title, best.text, best.created, best.tags) == (
        "title of a",
        "a chunk 0",
        50.0,
        ("stream", "late night"),
    )
    assert math.isclose(
        best.score, sum(x * y for x, y in zip(unit(1), unit(1, 0.1), strict=True)), rel_tol=1e-4
    )
    assert hits[0].score >= hits[1].score
    assert store.search(unit(1), k=1)[0].entry_id == "a"


def test_upserting_the_same_chunk_replaces_it(engine: tuple[str, VectorStore]) -> None:
    _, store = engine
    store.ensure(DIM)
    store.upsert([chunk("a", 0), chunk("a", 1)], [unit(1), unit(0, 1)])
    store.upsert([chunk("a", 0, modified=200.0)], [unit(0, 0, 1)])
    assert store.count() == 2
    indexed = store.indexed()["a"]
    # Chunks that disagree read as the oldest, with no digest: the entry looks stale.
    assert (indexed.chunks, indexed.modified, indexed.digest) == (2, 100.0, "d-a")


def test_indexed_and_delete_entries(engine: tuple[str, VectorStore]) -> None:
    _, store = engine
    store.ensure(DIM)
    store.upsert(
        [chunk("a", 0), chunk("a", 1), chunk("b"), chunk("c")],
        [unit(1), unit(1, 1), unit(0, 1), unit(0, 0, 1)],
    )
    indexed = store.indexed()
    assert sorted(indexed) == ["a", "b", "c"]
    assert (indexed["a"].chunks, indexed["a"].modified, indexed["a"].digest) == (2, 100.0, "d-a")
    store.delete_entries(["a", "c", "not-there"])
    assert sorted(store.indexed()) == ["b"]
    assert store.count() == 1
    store.delete_entries([])
    store.reset()
    assert store.count() == 0


def test_indexed_pages_through_many_points(engine: tuple[str, VectorStore]) -> None:
    _, store = engine
    store.ensure(DIM)
    n = 1100  # more than one scroll page
    store.upsert([chunk(f"e{i}") for i in range(n)], [unit(1, i / n) for i in range(n)])
    assert len(store.indexed()) == n


@pytest.mark.parametrize("name", PERSISTENT)
def test_reopening_keeps_the_data(name: str, tmp_path: Path) -> None:
    store = FACTORIES[name](tmp_path)
    store.ensure(DIM)
    store.upsert([chunk("a")], [unit(1)])
    store.close()
    again = FACTORIES[name](tmp_path)
    try:
        assert again.ensure(DIM) is False
        assert again.search(unit(1), k=1)[0].entry_id == "a"
    finally:
        again.close()


@pytest.mark.parametrize("name", PERSISTENT)
def test_another_dimension_recreates_the_collection(name: str, tmp_path: Path) -> None:
    store = FACTORIES[name](tmp_path)
    store.ensure(DIM)
    store.upsert([chunk("a")], [unit(1)])
    store.close()
    again = FACTORIES[name](tmp_path)
    try:
        assert again.ensure(DIM + 2) is True
        assert again.count() == 0
        again.upsert([chunk("b")], [[1.0] + [0.0] * (DIM + 1)])
        assert again.search([1.0] + [0.0] * (DIM + 1), k=1)[0].entry_id == "b"
    finally:
        again.close()


def test_mismatched_lengths_are_refused(engine: tuple[str, VectorStore]) -> None:
    _, store = engine
    store.ensure(DIM)
    with pytest.raises(ValueError, match="one vector per chunk"):
        store.upsert([chunk("a")], [])


@pytest.mark.parametrize("name", PERSISTENT)
def test_a_garbage_index_folder_is_moved_aside_and_recreated(name: str, tmp_path: Path) -> None:
    store = FACTORIES[name](tmp_path)
    store.ensure(DIM)
    store.upsert([chunk("a")], [unit(1)])
    store.close()
    folder = tmp_path / ("edge" if name == "edge" else "qdrant")
    for f in folder.rglob("*"):
        if f.is_file():
            f.write_bytes(b"\x00garbage" * 64)
    again = FACTORIES[name](tmp_path)
    try:
        assert again.ensure(DIM) is True
        assert again.count() == 0
        broken = list(tmp_path.glob(f"{folder.name}.broken-*"))
        assert len(broken) == 1
    finally:
        again.close()


def test_an_unreachable_server_is_a_transient_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = QdrantVectorStore(url=f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(JournalUnavailable, match=f"127.0.0.1:{port}"):
        store.ensure(DIM)


def test_using_a_store_before_ensure_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="ensure"):
        QdrantVectorStore(memory=True).count()
    with pytest.raises(ValueError, match="exactly one"):
        QdrantVectorStore()
