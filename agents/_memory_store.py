"""The contract every memory backend keeps: :class:`VectorCollection`, a store of texts with unit
vectors and flat metadata, and the records it answers with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["MemoryHit", "Metadata", "Vector", "VectorCollection", "unit"]

#: One unit-length float32 vector.
Vector = npt.NDArray[np.float32]

#: Chroma metadata values: flat scalars only.
Metadata = Mapping[str, str | int | float | bool]


@dataclass(frozen=True)
class MemoryHit:
    id: str
    text: str
    score: float
    """Cosine similarity to the query (1 is identical); 0 for plain gets."""
    metadata: Metadata


class VectorCollection(Protocol):
    """A store of texts with unit vectors and flat metadata. Calls are synchronous; callers thread them."""

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        vectors: Vector,
        metadatas: Sequence[Metadata],
    ) -> None: ...

    def query(self, vector: Vector, k: int, where: Metadata | None = None) -> list[MemoryHit]: ...

    def get(self, ids: Sequence[str] | None = None, where: Metadata | None = None) -> list[MemoryHit]: ...

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Metadata]) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def count(self) -> int: ...

    def vectors(self) -> Vector:
        """Every stored vector, one row each (order unspecified)."""
        ...

    def dump(self) -> tuple[list[MemoryHit], Vector]:
        """Every item and its vector, in the same order."""
        ...


def unit(vector: npt.ArrayLike) -> Vector:
    """``vector`` scaled to length 1 (a zero vector stays zero), so a dot product is a cosine."""
    v = np.asarray(vector, np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v
