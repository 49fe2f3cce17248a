"""`cohost journal reindex | check | search`: the vector index from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from tqdm import tqdm

from cohost.app.journal_wiring import journal_for, open_index
from cohost.app.settings import Settings
from cohost.core.errors import JournalUnavailable
from cohost.core.events import Hit
from cohost.journal.index import IndexReport, JournalIndex, Progress
from cohost.pipeline.recall import rank, recall

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

SHOWN_IDS = 20  # per problem kind in `check`; the count is always printed


def register_journal_commands(commands: Subparsers) -> None:
    """Add reindex, check and search to `cohost journal` (cohost/cli/journal.py calls this)."""
    reindex = commands.add_parser("reindex", help="rebuild the vector index from the files")
    reindex.set_defaults(handler=run_reindex)

    check = commands.add_parser(
        "check", help="compare the index with the files (exit 1 on problems)"
    )
    check.add_argument("--fix", action="store_true", help="index what is missing or stale")
    check.set_defaults(handler=run_check)

    search = commands.add_parser("search", help="what recall finds for a query")
    search.add_argument("query")
    search.add_argument("--k", type=int, help="how many hits (default: journal.recall_k)")
    search.add_argument(
        "--raw", action="store_true", help="plain similarity: no threshold, no recency weighting"
    )
    search.add_argument("--json", action="store_true", help="one JSON array on stdout")
    search.set_defaults(handler=run_search)


register_index_commands = register_journal_commands


@contextmanager
def _progress(label: str, stream: TextIO) -> Iterator[Progress | None]:
    if not stream.isatty():
        yield None
        return
    bar = tqdm(desc=label, unit="chunk", file=stream)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def run_reindex(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild the index from scratch."""
    print("loading the embedding model…", file=sys.stderr)
    try:
        with open_index(settings) as index, _progress("indexing", sys.stderr) as progress:
            started = time.perf_counter()
            chunks = index.reindex(progress)
            report = index.check()
    except JournalUnavailable as exc:
        print(f"cohost: {exc}", file=sys.stderr)
        return 1
    print(
        f"indexed {chunks} chunks from {report.entries} entries in "
        f"{time.perf_counter() - started:.1f} s ({settings.journal.vector_engine}, "
        f"{_model_name(index.embedder)})"
    )
    return 0


def _print_report(report: IndexReport) -> None:
    print(f"entries to index: {report.entries}, chunks in the index: {report.chunks}")
    for label, ids in (
        ("missing from the index", report.missing),
        ("changed since indexed", report.stale),
        ("in the index but not in the journal (or now secret)", report.orphans),
    ):
        if ids:
            shown = ", ".join(ids[:SHOWN_IDS]) + (" …" if len(ids) > SHOWN_IDS else "")
            print(f"{len(ids)} {label}: {shown}")


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    """Report how the index differs from the files; with --fix, repair it."""
    try:
        with open_index(settings) as index:
            report = index.check()
            _print_report(report)
            if report.ok:
                print("the index matches the journal")
                return 0
            if not args.fix:
                print("run `cohost journal check --fix` (or `reindex`) to repair it")
                return 1
            with _progress("fixing", sys.stderr) as progress:
                index.fix(report, progress)
            after = index.check()
    except JournalUnavailable as exc:
        print(f"cohost: {exc}", file=sys.stderr)
        return 1
    print("fixed" if after.ok else "still out of step after fixing:")
    if not after.ok:
        _print_report(after)
    return 0 if after.ok else 1


def run_search(args: argparse.Namespace, settings: Settings) -> int:
    """Print what recall finds (secret entries are never indexed, so never shown).

    An empty index is an error (exit 1, the hint on stderr, and in `--json`'s "error"): an
    answer of nothing found would read as "the journal knows nothing about it".
    """
    hits: list[Hit] = []
    try:
        with open_index(settings) as index:
            # `journal add --no-index` and `import --no-index` leave indexing to the daemon
            report = index.check() if index.vectors.count() == 0 else None
            if report is None:
                hits = _search(index, args, settings)
                # nothing found may only mean the newest entries are not indexed
                report = index.check() if not hits else None
    except JournalUnavailable as exc:
        print(f"cohost: {exc}", file=sys.stderr)
        return 1
    unindexed = len(report.missing) + len(report.stale) if report is not None else 0
    hint = (
        f"{unindexed} journal entr{'y is' if unindexed == 1 else 'ies are'} not indexed yet: "
        "run `cohost journal reindex` (a running daemon indexes them on its own)"
    )
    error = None
    if report is not None and report.chunks == 0:
        error = (
            f"the journal index is empty: {hint}"
            if unindexed
            else "the journal has no entries to search: write one with `cohost journal add`"
        )
    if error is not None or (unindexed and not args.json):
        print(f"cohost: {error or hint}", file=sys.stderr)
    if args.json:
        rows = [
            {
                "entry_id": h.entry_id,
                "title": h.title,
                "tier": h.tier.value,
                "score": round(h.score, 4),
                "created": _iso(h.created),
                "tags": list(h.tags),
                "text": h.text,
            }
            for h in hits
        ]
        answer = {"hits": rows, "not_indexed": unindexed, "error": error}
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return 1 if error else 0
    if error:
        return 1
    if not hits:
        print("no journal entry is close enough" + ("" if args.raw else " (try --raw)"))
    for h in hits:
        snippet = " ".join(h.text.split())
        snippet = snippet if len(snippet) <= 160 else snippet[:157] + "…"
        print(f"{h.score:.3f}  {h.tier.value:<7}  {_iso(h.created)[:10]}  {h.title}")
        print(f"        {snippet}")
    return 0


def _search(index: JournalIndex, args: argparse.Namespace, settings: Settings) -> list[Hit]:
    """One hit per entry, as recall ranks them (or, with --raw, by similarity alone)."""
    j = settings.journal
    k = args.k if args.k is not None else j.recall_k
    journal = journal_for(index)
    if args.raw:
        return rank(
            asyncio.run(journal.search(args.query, k=k)),
            k=k,
            min_score=float("-inf"),
            recency_half_life_days=0,
            now=time.time(),
        )
    return asyncio.run(
        recall(
            journal,
            args.query,
            k=k,
            min_score=j.recall_min_score,
            recency_half_life_days=j.recency_half_life_days,
            recency_floor=j.recency_floor,
            now=time.time(),
        )
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _model_name(embedder: object) -> str:
    return str(getattr(embedder, "name", type(embedder).__name__))
