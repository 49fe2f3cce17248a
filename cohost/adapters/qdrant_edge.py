"""The VectorStore port on qdrant-edge-py: the Qdrant engine in-process, data in one folder."""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    MatchAny,
    MatchValue,
    PayloadSchemaType,
    PayloadSelector,
    Point,
    Query,
    QueryRequest,
    ScrollRequest,
    SearchParams,
    UpdateOperation,
)

from cohost.core.errors import JournalUnavailable
from cohost.core.events import Hit, Tier
from cohost.core.ports import Chunk, IndexedEntry

log = logging.getLogger(__name__)

_POINT_NAMESPACE = uuid.UUID("6f1d3c52-8a0e-4a57-9a53-2f5b8e0c9d41")
_NOT_SECRET = Filter(must_not=[FieldCondition(key="tier", match=MatchValue(Tier.SECRET.value))])
# Exact search: at journal sizes it is fast (a few ms at 10k chunks) and its recall is 1.0;
# HNSW lost recall on weakly clustered vectors when measured (see FACTS.md).
_EXACT = SearchParams(exact=True)
_SCROLL_PAGE = 1024


def point_id(entry_id: str, index: int) -> str:
    """A stable point id per chunk, so re-upserting a chunk replaces it."""
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{entry_id}\x00{index}"))


def chunk_payload(chunk: Chunk) -> dict[str, Any]:
    """A chunk as Qdrant payload (shared with the qdrant-client adapter)."""
    return {
        "entry_id": chunk.entry_id,
        "chunk": chunk.index,
        "text": chunk.text,
        "title": chunk.title,
        "created": chunk.created,
        "modified": chunk.modified,
        "digest": chunk.digest,
        "tags": list(chunk.tags),
        "tier": chunk.tier.value,
    }


def payload_hit(payload: dict[str, Any], score: float) -> Hit:
    """A search result's payload as a Hit."""
    return Hit(
        entry_id=str(payload["entry_id"]),
        title=str(payload.get("title", "")),
        text=str(payload.get("text", "")),
        score=float(score),
        tier=Tier(payload.get("tier", Tier.PRIVATE.value)),
        created=float(payload.get("created", 0.0)),
        tags=tuple(str(t) for t in payload.get("tags", ())),
    )


def add_indexed(found: dict[str, IndexedEntry], payload: dict[str, Any]) -> None:
    """Fold one point's payload into the per-entry summary `indexed()` returns."""
    entry_id = str(payload["entry_id"])
    modified = float(payload.get("modified", 0.0))
    digest = str(payload.get("digest", ""))
    before = found.get(entry_id)
    if before is None:
        found[entry_id] = IndexedEntry(modified=modified, digest=digest, chunks=1)
    else:
        # Chunks of one entry should agree; if they do not, keep the oldest so it reads stale.
        oldest = min(before.modified, modified)
        same = before.digest == digest
        found[entry_id] = IndexedEntry(
            modified=oldest, digest=before.digest if same else "", chunks=before.chunks + 1
        )


def move_aside(path: Path) -> Path:
    """Rename a broken index folder out of the way (one kept for a post-mortem) and say where."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    for old in path.parent.glob(f"{path.name}.broken-*"):
        shutil.rmtree(old, ignore_errors=True)
    target = path.with_name(f"{path.name}.broken-{stamp}")
    path.rename(target)
    return target


class EdgeVectorStore:
    """Chunks in an embedded Qdrant shard under `path`; every call holds one lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._shard: EdgeShard | None = None
        # The shard is driven from worker threads (indexer, recall); one call at a time.
        self._lock = threading.Lock()
        self.rebuilt_from: Path | None = None  # where a broken index was moved, if one was

    def ensure(self, dimension: int) -> bool:
        """Open the shard, or create it; a broken or mismatched one is moved aside and redone."""
        with self._lock:
            if self._shard is not None:
                return False
            config = EdgeConfig(vectors=EdgeVectorParams(size=dimension, distance=Distance.Cosine))
            fresh = True
            if self.path.is_dir() and any(self.path.iterdir()):
                try:
                    self._shard = EdgeShard.load(str(self.path), config)
                    fresh = self._shard.count(CountRequest(exact=True)) == 0
                except Exception as exc:
                    if "WouldBlock" in str(exc):
                        raise JournalUnavailable(
                            f"the journal index at {self.path} is open in another process "
                            "(the daemon?); stop it or run this there"
                        ) from exc
                    self.rebuilt_from = move_aside(self.path)
                    log.warning(
                        "journal index at %s could not be opened (%s); moved it to %s and "
                        "starting a new one (it is rebuilt from the journal files)",
                        self.path,
                        exc,
                        self.rebuilt_from,
                    )
            if self._shard is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self._shard = EdgeShard.create(str(self.path), config)
                except Exception as exc:
                    raise JournalUnavailable(f"cannot create the journal index: {exc}") from exc
            for name in ("entry_id", "tier"):
                self._shard.update(
                    UpdateOperation.create_field_index(name, PayloadSchemaType.Keyword)
                )
            return fresh

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Store chunks with their vectors."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        if not chunks:
            return
        points = [
            Point(id=point_id(c.entry_id, c.index), vector=list(v), payload=chunk_payload(c))
            for c, v in zip(chunks, vectors, strict=True)
        ]
        with self._lock:
            shard = self._open()
            shard.update(UpdateOperation.upsert_points(points))

    def delete_entries(self, entry_ids: Collection[str]) -> None:
        """Remove every chunk of these entries."""
        if not entry_ids:
            return
        condition = FieldCondition(key="entry_id", match=MatchAny(sorted(entry_ids)))
        with self._lock:
            self._open().update(UpdateOperation.delete_points_by_filter(Filter(must=[condition])))

    def search(self, vector: Sequence[float], *, k: int) -> list[Hit]:
        """The k nearest non-secret chunks."""
        request = QueryRequest(
            limit=k,
            query=Query.Nearest(list(vector)),
            filter=_NOT_SECRET,
            with_payload=True,
            params=_EXACT,
        )
        with self._lock:
            try:
                points = self._open().query(request)
            except Exception as exc:
                raise JournalUnavailable(f"journal search failed: {exc}") from exc
        return [payload_hit(p.payload or {}, p.score) for p in points]

    def indexed(self) -> dict[str, IndexedEntry]:
        """Each indexed entry's stamp, digest and chunk count."""
        found: dict[str, IndexedEntry] = {}
        selector = PayloadSelector.Include(["entry_id", "modified", "digest"])
        offset: Any = None
        with self._lock:
            shard = self._open()
            while True:
                records, offset = shard.scroll(
                    ScrollRequest(offset=offset, limit=_SCROLL_PAGE, with_payload=selector)
                )
                for record in records:
                    if record.payload:
                        add_indexed(found, record.payload)
                if offset is None:
                    return found

    def count(self) -> int:
        """Chunks stored."""
        with self._lock:
            return self._open().count(CountRequest(exact=True))

    def reset(self) -> None:
        """Drop every chunk."""
        with self._lock:
            self._open().update(UpdateOperation.delete_points_by_filter(Filter()))

    def close(self) -> None:
        """Flush and close the shard."""
        with self._lock:
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None

    def _open(self) -> EdgeShard:
        if self._shard is None:
            raise RuntimeError("call ensure() before using the index")
        return self._shard
