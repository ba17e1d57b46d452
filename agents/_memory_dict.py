"""The in-process backend of memory: :class:`InMemoryCollection`, a
:class:`~synthswarm.agents._memory_store.VectorCollection` in a dict with exact cosine (for tests and
throw-away swarms)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from synthswarm.agents._memory_store import MemoryHit, Metadata, Vector

__all__ = ["InMemoryCollection"]


class InMemoryCollection:
    """A :class:`VectorCollection` in a dict, exact cosine; ``where`` matches metadata by equality."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, Vector, dict[str, Any]]] = {}

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        vectors: Vector,
        metadatas: Sequence[Metadata],
    ) -> None:
        for i, text, vector, meta in zip(ids, texts, vectors, metadatas, strict=True):
            self._items[i] = (text, np.asarray(vector, np.float32), dict(meta))

    def query(self, vector: Vector, k: int, where: Metadata | None = None) -> list[MemoryHit]:
        hits = [
            MemoryHit(i, text, float(np.dot(v, vector)), meta)
            for i, (text, v, meta) in self._items.items()
            if _matches(meta, where)
        ]
        return sorted(hits, key=lambda h: -h.score)[:k]

    def get(self, ids: Sequence[str] | None = None, where: Metadata | None = None) -> list[MemoryHit]:
        keys = list(self._items) if ids is None else [i for i in ids if i in self._items]
        return [
            MemoryHit(i, self._items[i][0], 0.0, self._items[i][2])
            for i in keys
            if _matches(self._items[i][2], where)
        ]

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Metadata]) -> None:
        for i, meta in zip(ids, metadatas, strict=True):
            if i in self._items:
                text, vector, _ = self._items[i]
                self._items[i] = (text, vector, dict(meta))

    def delete(self, ids: Sequence[str]) -> None:
        for i in ids:
            self._items.pop(i, None)

    def count(self) -> int:
        return len(self._items)

    def vectors(self) -> Vector:
        if not self._items:
            return np.zeros((0, 0), np.float32)
        return np.vstack([v for _, v, _ in self._items.values()]).astype(np.float32)

    def dump(self) -> tuple[list[MemoryHit], Vector]:
        hits = [MemoryHit(i, text, 0.0, meta) for i, (text, _, meta) in self._items.items()]
        return hits, self.vectors()


def _matches(meta: Mapping[str, Any], where: Metadata | None) -> bool:
    return all(meta.get(k) == v for k, v in (where or {}).items())
