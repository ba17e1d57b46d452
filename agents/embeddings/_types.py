"""The Embedder protocol shared by every embedding backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Embedder", "Vectors", "normalize_rows"]

#: A (n, dims) float32 array whose rows have unit L2 norm.
Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors, so that cosine similarity is a dot product."""

    @property
    def name(self) -> str: ...

    @property
    def dims(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, in order; an empty input gives a (0, dims) array."""
        ...


def normalize_rows(matrix: npt.ArrayLike) -> Vectors:
    """Scale each row to unit L2 norm (rows of zeros stay zero)."""
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.where(norms == 0, 1, norms)).astype(np.float32)
