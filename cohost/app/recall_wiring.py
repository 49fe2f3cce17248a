"""The journal as a turn sees it: an index over a folder of .tid files, recalled with ranking.

Replay and the demo index a folder of their own into the replay's output (never the daemon's
live index, which another process may hold open); the daemon uses DATA_DIR's journal and index.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cohost.app.journal_wiring import journal_for, open_index
from cohost.app.settings import Settings
from cohost.core.clock import RealClock
from cohost.core.events import ChatMessage
from cohost.journal.index import JournalIndex
from cohost.pipeline.recall import RankedJournal, build_query

log = logging.getLogger(__name__)


def recall_query(message: ChatMessage, window: Sequence[ChatMessage], topic: str) -> str:
    """The picked message, what the same viewer said just before, and the stream's topic.

    Only the viewer's own recent lines join the query: the rest of a busy chat (emotes, other
    threads) dilutes the similarity until nothing relevant clears the threshold.
    """
    own = [m for m in window if m.login == message.login]
    return build_query(message, own, topic, window_lines=2)


@contextmanager
def folder_journal(
    settings: Settings, folder: Path, index_dir: Path
) -> Iterator[tuple[RankedJournal, JournalIndex]]:
    """A journal over `folder`, indexed (from the files) into `index_dir` before use."""
    from cohost.adapters.qdrant_edge import EdgeVectorStore  # noqa: PLC0415

    with open_index(settings, folder=folder, vectors=EdgeVectorStore(index_dir)) as index:
        index.sync()
        # Load the model now: loading it inside the first turn's recall would blow its time limit.
        index.embedder.embed(["warm-up"])
        # Recency is measured on the wall clock, not the turn's: a replay of a 2017 log still
        # asks how old an entry is today.
        yield RankedJournal.from_settings(journal_for(index), RealClock(), settings.journal), index
