"""Split a corpus among N agents by topic: seeded spherical k-means on paragraph embeddings.

Topic splits are what make a swarm necessary: the two paragraphs a question needs usually land with
different agents. No agent is left empty (the largest cluster gives up its farthest members), so
every agent has knowledge to subscribe with.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from synthswarm.swarm.errors import ConfigError

__all__ = ["partition"]


def partition(vectors: npt.ArrayLike, n: int, *, seed: int = 0, iterations: int = 20) -> list[list[int]]:
    """Row indices of ``vectors`` for each of ``n`` agents; the same input and seed give the same split."""
    data = np.asarray(vectors, np.float32)
    if n < 1 or n > len(data):
        raise ConfigError("eval.sizes", f"cannot split {len(data)} paragraphs among {n} agents")
    data = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-12)
    centres = _plus_plus(data, n, np.random.default_rng(seed))
    labels = np.zeros(len(data), dtype=np.int64)
    for _ in range(iterations):
        new = np.argmax(data @ centres.T, axis=1)
        if _ > 0 and np.array_equal(new, labels):
            break
        labels = new
        for j in range(n):
            members = data[labels == j]
            if len(members):
                mean = members.mean(axis=0)
                centres[j] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    _fill_empty(data, labels, centres, n)
    return [sorted(np.flatnonzero(labels == j).tolist()) for j in range(n)]


def _plus_plus(data: npt.NDArray[np.float32], n: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """k-means++ seeding: each next centre drawn with probability growing with its distance to the
    centres so far, so two centres rarely start in one topic."""
    chosen = [int(rng.integers(len(data)))]
    nearest = 1.0 - data @ data[chosen[0]]
    for _ in range(1, n):
        weights = np.maximum(nearest, 0.0) ** 2
        total = float(weights.sum())
        pick = int(rng.choice(len(data), p=weights / total)) if total > 0 else int(rng.integers(len(data)))
        chosen.append(pick)
        nearest = np.minimum(nearest, 1.0 - data @ data[pick])
    return data[chosen].copy()


def _fill_empty(
    data: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], centres: npt.NDArray[np.float32], n: int
) -> None:
    for j in range(n):
        if np.any(labels == j):
            continue
        largest = int(np.bincount(labels, minlength=n).argmax())
        members = np.flatnonzero(labels == largest)
        farthest = members[np.argmin(data[members] @ centres[largest])]
        labels[farthest] = j
        centres[j] = data[farthest]
