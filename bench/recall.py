"""Recall benchmark: index build time and query latency, qdrant-edge-py vs qdrant-client local.

    .venv/bin/python bench/recall.py --quick     # 1k and 10k chunks, about a minute
    .venv/bin/python bench/recall.py             # 1k, 10k and 100k (several minutes)

What is measured, per engine and size:
- build: upserting every chunk (payload as the journal index stores it) through the VectorStore
  adapter, in batches of 512. Embedding is measured apart (chunks/s of the real MiniLM model):
  embedding 100k chunks would take the bench ten minutes and is the same for both engines.
- recall latency per query: embedding the query with the real MiniLM model (one text, one
  thread, as the daemon does), plus the filtered top-5 search; p50 and p99 of each and of the sum.
- recall@5 of the engine against brute force over the same vectors (exact search: 1.0 expected).

Chunk vectors: a pool of synthetic journal sentences embedded with MiniLM; beyond the pool,
normalised mixtures of two pool vectors plus noise, so the data keeps the model's geometry.
qdrant-client's local mode is skipped at 100k: FACTS.md measured 200-740 s to insert there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cohost.adapters.embedder import SentenceEmbedder
from cohost.adapters.qdrant_edge import EdgeVectorStore
from cohost.adapters.qdrant_server import QdrantVectorStore
from cohost.core.events import Tier
from cohost.core.ports import Chunk, VectorStore
from cohost.journal.index import IndexedJournal
from cohost.pipeline.recall import recall

K = 5
BATCH = 512
CLIENT_LOCAL_MAX = 10_000

SUBJECTS = [
    "the speedrun", "my sister", "the new keyboard", "our cat Miso", "the charity stream",
    "the lava level", "dinner", "the tournament", "my back", "the raid last night",
    "the modpack", "the trip to Lisbon", "the drawing stream", "chat", "the boss fight",
    "my sleep schedule", "the podcast", "the subathon", "the new camera", "the garden",
]  # fmt: skip
VERBS = [
    "went better than", "was harder than", "took longer than", "felt nothing like",
    "reminded me of", "was funnier than", "cost more than", "annoyed me more than",
]  # fmt: skip
ENDINGS = [
    "I expected.", "last week.", "the practice runs.", "anything in years.",
    "the first time.", "what chat predicted.", "I will admit on stream.", "my plan.",
]  # fmt: skip
QUESTIONS = [
    "how did {s} go?", "what do you think about {s}?", "any news on {s}?",
    "is {s} still happening?", "tell us about {s}", "why do you hate {s} lol",
]  # fmt: skip


def sentence(rng: random.Random) -> str:
    """One synthetic journal sentence."""
    return f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(ENDINGS)}"


def entry_text(rng: random.Random) -> str:
    """A synthetic entry of three to six sentences (one chunk)."""
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))


def vectors_for(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors: the pool first, then noisy mixtures of two pool vectors."""
    if n <= len(pool):
        return pool[:n].copy()
    extra = n - len(pool)
    a = pool[rng.integers(0, len(pool), extra)]
    b = pool[rng.integers(0, len(pool), extra)]
    mix = rng.uniform(0.2, 0.8, (extra, 1)).astype(np.float32)
    noise = rng.normal(0, 0.02, (extra, pool.shape[1])).astype(np.float32)
    out = mix * a + (1 - mix) * b + noise
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return np.vstack([pool, out])


def chunks_for(texts: list[str], n: int) -> list[Chunk]:
    """n chunks with the journal's payload; one in five public, the rest private."""
    return [
        Chunk(
            entry_id=f"e{i:06d}",
            index=0,
            text=texts[i % len(texts)],
            title=f"entry {i}",
            created=1.7e9 + i * 600.0,
            modified=1.7e9 + i * 600.0,
            digest=f"{i:024x}",
            tags=("stream",),
            tier=Tier.PUBLIC if i % 5 == 0 else Tier.PRIVATE,
        )
        for i in range(n)
    ]


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def build(store: VectorStore, chunks: list[Chunk], vectors: np.ndarray) -> float:
    """Seconds to upsert everything."""
    store.ensure(vectors.shape[1])
    started = time.perf_counter()
    for start in range(0, len(chunks), BATCH):
        store.upsert(chunks[start : start + BATCH], vectors[start : start + BATCH].tolist())
    return time.perf_counter() - started


def measure(
    store: VectorStore, queries: np.ndarray, vectors: np.ndarray
) -> tuple[list[float], float]:
    """Search latencies (ms) and recall@K against brute force."""
    times: list[float] = []
    results = []
    for q in queries.tolist():
        started = time.perf_counter()
        hits = store.search(q, k=K)
        times.append((time.perf_counter() - started) * 1000)
        results.append({h.entry_id for h in hits})
    # Brute force afterwards: numpy's BLAS threads spin after a product and would slow the
    # engine's own search threads if it ran between timed searches.
    truths = np.argsort(-(queries @ vectors.T), axis=1)[:, :K]
    found = sum(
        len({f"e{i:06d}" for i in truth} & got) for truth, got in zip(truths, results, strict=True)
    )
    return times, found / (K * len(queries))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k only (about a minute)")
    parser.add_argument("--queries", type=int, help="queries per engine and size")
    args = parser.parse_args()
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    n_queries = args.queries or (30 if args.quick else 100)
    pool_size = 128 if args.quick else 1024
    rng = random.Random(7)
    np_rng = np.random.default_rng(7)
    figures: dict[str, str] = {}

    load = os.getloadavg()[0]
    print(
        f"cpus={os.cpu_count()} load={load:.1f} sizes={sizes} queries={n_queries} "
        f"pool={pool_size} (a load above the core count means other work skews the figures)",
        flush=True,
    )
    figures["load_start"] = f"{load:.1f}"
    started = time.perf_counter()
    model = SentenceEmbedder(threads=1)
    model.load()
    load_s = time.perf_counter() - started
    print(f"MiniLM loaded in {load_s:.1f} s (one torch thread)", flush=True)

    texts = [entry_text(rng) for _ in range(pool_size)]
    started = time.perf_counter()
    pool = np.asarray(model.embed(texts), dtype=np.float32)
    embed_rate = pool_size / (time.perf_counter() - started)
    print(f"embedding chunks: {embed_rate:.0f}/s (batch 32)", flush=True)
    figures["embed_chunks_per_s"] = f"{embed_rate:.0f}"

    query_texts = [rng.choice(QUESTIONS).format(s=rng.choice(SUBJECTS)) for _ in range(n_queries)]
    model.embed(query_texts[:3])  # warm-up
    embed_ms: list[float] = []
    query_vectors = []
    for text in query_texts:
        started = time.perf_counter()
        query_vectors.append(model.embed([text])[0])
        embed_ms.append((time.perf_counter() - started) * 1000)
    queries = np.asarray(query_vectors, dtype=np.float32)
    print(
        f"query embedding: p50 {pct(embed_ms, 50):.1f} ms, p99 {pct(embed_ms, 99):.1f} ms",
        flush=True,
    )
    figures["embed_p50_ms"] = f"{pct(embed_ms, 50):.1f}"

    engines: dict[str, Callable[[Path], VectorStore]] = {
        "edge": lambda p: EdgeVectorStore(p / "edge"),
        "client": lambda p: QdrantVectorStore(path=p / "client"),
    }
    header = f"{'engine':<8}{'chunks':>8}{'build s':>10}{'search p50':>12}{'p99':>8}"
    header += f"{'recall p50':>12}{'p99':>8}{'recall@5':>10}"
    rows = [header + "   (ms; recall = query embedding + search)"]
    for n in sizes:
        vectors = vectors_for(pool, n, np_rng)
        chunks = chunks_for(texts, n)
        for name, factory in engines.items():
            tag = f"{name}_{n // 1000}k"
            if name == "client" and n > CLIENT_LOCAL_MAX:
                rows.append(
                    f"{name:<8}{n:>8}   skipped: qdrant-client local mode is brute-force "
                    "numpy+SQLite; FACTS.md measured 200-740 s to insert 100k"
                )
                continue
            with tempfile.TemporaryDirectory() as tmp:
                store = factory(Path(tmp))
                try:
                    build_s = build(store, chunks, vectors)
                    store.search(queries[0].tolist(), k=K)  # warm-up
                    search_ms, recall_at_k = measure(store, queries, vectors)
                    if name == "edge" and n == 10_000:
                        e2e = asyncio.run(end_to_end(model, store, query_texts))
                        figures["edge_10k_e2e_p50_ms"] = f"{pct(e2e, 50):.1f}"
                finally:
                    store.close()
            total = [e + s for e, s in zip(embed_ms, search_ms, strict=True)]
            rows.append(
                f"{name:<8}{n:>8}{build_s:>10.2f}{pct(search_ms, 50):>12.2f}"
                f"{pct(search_ms, 99):>8.2f}{pct(total, 50):>12.1f}{pct(total, 99):>8.1f}"
                f"{recall_at_k:>10.2f}"
            )
            print(rows[-1], flush=True)
            figures[f"{tag}_build_s"] = f"{build_s:.2f}"
            figures[f"{tag}_search_p50_ms"] = f"{pct(search_ms, 50):.2f}"
            figures[f"{tag}_recall_p50_ms"] = f"{pct(total, 50):.1f}"
            figures[f"{tag}_recall_p99_ms"] = f"{pct(total, 99):.1f}"
            figures[f"{tag}_recall_at_5"] = f"{recall_at_k:.2f}"

    print()
    print("\n".join(rows))
    if "edge_10k_e2e_p50_ms" in figures:
        print(
            f"edge 10k through IndexedJournal + recall() (threads, ranking): "
            f"p50 {figures['edge_10k_e2e_p50_ms']} ms"
        )
    figures["load_end"] = f"{os.getloadavg()[0]:.1f}"
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["max_rss_mb"] = f"{rss_mb:.0f}"
    target = float(figures.get("edge_10k_recall_p50_ms", "nan"))
    figures["edge_10k_target_30ms"] = "met" if target <= 30 else "missed"
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


async def end_to_end(model: SentenceEmbedder, store: VectorStore, texts: list[str]) -> list[float]:
    """Milliseconds per recall() through the Journal port, as a turn calls it."""
    journal = IndexedJournal(model, store)
    times = []
    for text in texts:
        started = time.perf_counter()
        await recall(journal, text, k=K, min_score=0.2, recency_half_life_days=180, now=2e9)
        times.append((time.perf_counter() - started) * 1000)
    return times


if __name__ == "__main__":
    raise SystemExit(main())
