"""Paragraph embeddings computed once per dataset and embedder, and shared by every run, so runs differ
only in the swarm."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from synthswarm.agents.embeddings import Embedder, Vectors
from synthswarm.agents.retrieval import titled
from synthswarm.evals.datasets import Dataset

__all__ = ["CachedEmbedder", "paragraph_texts"]


class CachedEmbedder:
    """An :class:`~synthswarm.agents.embeddings.Embedder` that remembers every text it embedded (or was
    given)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._cache: dict[str, npt.NDArray[np.float32]] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dims(self) -> int:
        return self.inner.dims

    def remember(self, texts: Sequence[str], vectors: Vectors) -> None:
        for text, vector in zip(texts, vectors, strict=True):
            self._cache[text] = vector

    async def embed(self, texts: Sequence[str]) -> Vectors:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self.remember(missing, await self.inner.embed(missing))
        if not texts:
            return np.zeros((0, self.dims), np.float32)
        return np.vstack([self._cache[t] for t in texts]).astype(np.float32)


def paragraph_texts(dataset: Dataset, *, titles: bool = True) -> list[str]:
    """The texts the paragraphs are embedded as (what :class:`CachedEmbedder` should be primed with)."""
    return [titled(p.title, p.text) if titles else p.text for p in dataset.paragraphs]
