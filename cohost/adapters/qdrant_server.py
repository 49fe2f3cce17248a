"""The VectorStore port on qdrant-client: a Qdrant server or cluster by URL, or its local mode.

Local mode (`path=` or `location=":memory:"`) is qdrant-client's own brute-force store; it is
slow past some thousands of points (see FACTS.md) and serves tests, small setups and the bench.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from cohost.adapters.qdrant_edge import (
    add_indexed,
    chunk_payload,
    move_aside,
    payload_hit,
    point_id,
)
from cohost.core.errors import JournalUnavailable
from cohost.core.events import Hit, Tier
from cohost.core.ports import Chunk, IndexedEntry

log = logging.getLogger(__name__)

_NOT_SECRET = models.Filter(
    must_not=[models.FieldCondition(key="tier", match=models.MatchValue(value=Tier.SECRET.value))]
)
_SCROLL_PAGE = 1024
# What a damaged local-mode folder raises when it is opened.
_BROKEN_LOCAL = (sqlite3.DatabaseError, ValueError, KeyError, EOFError, pickle.UnpicklingError)


class QdrantVectorStore:
    """Chunks in one Qdrant collection, through qdrant-client."""

    def __init__(
        self,
        *,
        url: str | None = None,
        path: Path | None = None,
        memory: bool = False,
        api_key: str | None = None,
        collection: str = "journal",
        timeout_s: int = 5,
    ) -> None:
        if sum((url is not None, path is not None, memory)) != 1:
            raise ValueError("give exactly one of url, path, memory")
        self.url = url
        self.path = path
        self._memory = memory
        self._api_key = api_key
        self._timeout_s = timeout_s
        self.collection = collection
        self._client: QdrantClient | None = None
        self._lock = threading.Lock()  # local mode is SQLite and numpy: one call at a time
        self.rebuilt_from: Path | None = None

    @property
    def remote(self) -> bool:
        return self.url is not None

    def ensure(self, dimension: int) -> bool:
        """Connect and create the collection; one with another dimension is recreated."""
        with self._lock:
            if self._client is not None:
                return False
            self._client = self._connect()
            with self._translate("open the collection"):
                return self._ensure_collection(self._client, dimension)

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Store chunks with their vectors."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        if not chunks:
            return
        points = [
            models.PointStruct(
                id=point_id(c.entry_id, c.index), vector=list(v), payload=chunk_payload(c)
            )
            for c, v in zip(chunks, vectors, strict=True)
        ]
        with self._lock, self._translate("store chunks"):
            self._open().upsert(self.collection, points, wait=True)

    def delete_entries(self, entry_ids: Collection[str]) -> None:
        """Remove every chunk of these entries."""
        if not entry_ids:
            return
        condition = models.FieldCondition(
            key="entry_id", match=models.MatchAny(any=sorted(entry_ids))
        )
        selector = models.FilterSelector(filter=models.Filter(must=[condition]))
        with self._lock, self._translate("delete chunks"):
            self._open().delete(self.collection, points_selector=selector, wait=True)

    def search(self, vector: Sequence[float], *, k: int) -> list[Hit]:
        """The k nearest non-secret chunks."""
        with self._lock, self._translate("search"):
            response = self._open().query_points(
                self.collection,
                query=list(vector),
                query_filter=_NOT_SECRET,
                limit=k,
                with_payload=True,
                # A server searches exactly (recall 1.0); local mode is always exact and warns.
                search_params=models.SearchParams(exact=True) if self.remote else None,
            )
        return [payload_hit(p.payload or {}, p.score) for p in response.points]

    def indexed(self) -> dict[str, IndexedEntry]:
        """Each indexed entry's stamp, digest and chunk count."""
        found: dict[str, IndexedEntry] = {}
        offset: Any = None
        with self._lock, self._translate("list the index"):
            client = self._open()
            while True:
                records, offset = client.scroll(
                    self.collection,
                    limit=_SCROLL_PAGE,
                    offset=offset,
                    with_payload=["entry_id", "modified", "digest"],
                )
                for record in records:
                    if record.payload:
                        add_indexed(found, record.payload)
                if offset is None:
                    return found

    def count(self) -> int:
        """Chunks stored."""
        with self._lock, self._translate("count"):
            return self._open().count(self.collection, exact=True).count

    def reset(self) -> None:
        """Drop every chunk."""
        selector = models.FilterSelector(filter=models.Filter())
        with self._lock, self._translate("reset the index"):
            self._open().delete(self.collection, points_selector=selector, wait=True)

    def close(self) -> None:
        """Close the client (local mode writes its store)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _connect(self) -> QdrantClient:
        if self.url is not None:
            # No version check: it is a request at construction that only warns.
            return QdrantClient(
                url=self.url,
                api_key=self._api_key,
                timeout=self._timeout_s,
                check_compatibility=False,
            )
        if self._memory:
            return QdrantClient(location=":memory:")
        assert self.path is not None
        try:
            return QdrantClient(path=str(self.path))
        except RuntimeError as exc:  # qdrant-client's lock: another process has the folder
            raise JournalUnavailable(f"the journal index at {self.path}: {exc}") from exc
        except _BROKEN_LOCAL as exc:
            self.rebuilt_from = move_aside(self.path)
            log.warning(
                "journal index at %s could not be opened (%s); moved it to %s and starting "
                "a new one (it is rebuilt from the journal files)",
                self.path,
                exc,
                self.rebuilt_from,
            )
            return QdrantClient(path=str(self.path))

    def _ensure_collection(self, client: QdrantClient, dimension: int) -> bool:
        if client.collection_exists(self.collection):
            params = client.get_collection(self.collection).config.params.vectors
            if isinstance(params, models.VectorParams) and params.size == dimension:
                return client.count(self.collection, exact=True).count == 0
            # The index is derived: a different embedding model means rebuilding it.
            log.warning(
                "journal collection %s has other vectors than %d dims; recreating it",
                self.collection,
                dimension,
            )
            client.delete_collection(self.collection)
        client.create_collection(
            self.collection,
            vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
        )
        if self.remote:  # local mode has no payload indexes (and warns when asked for one)
            for name in ("entry_id", "tier"):
                client.create_payload_index(
                    self.collection, name, models.PayloadSchemaType.KEYWORD, wait=True
                )
        return True

    def _open(self) -> QdrantClient:
        if self._client is None:
            raise RuntimeError("call ensure() before using the index")
        return self._client

    @contextlib.contextmanager
    def _translate(self, doing: str) -> Iterator[None]:
        try:
            yield
        except JournalUnavailable:
            raise
        except RuntimeError:
            raise
        except Exception as exc:
            where = self.url or self.path or "memory"
            raise JournalUnavailable(f"journal index ({where}): cannot {doing}: {exc}") from exc
