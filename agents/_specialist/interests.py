"""Interests: the rows an agent subscribes to the router with.

The profile is the domain's embedding, up to ``knowledge_rows`` centroids of what the agent knows, then
one row per open task. The knowledge rows make routing follow content, not only the one-line
description (which rarely shares words with a packet). A task opened here is for a long-lived question
that wants later findings; answering opens none.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import numpy.typing as npt

from synthswarm.agents._specialist.core import AgentCore

__all__ = ["Interests", "centroids"]


class Interests:
    """The interest profile of ``agent``, and its open tasks."""

    def __init__(self, agent: AgentCore) -> None:
        self._agent = agent
        self._domain_vector: npt.NDArray[np.float32] | None = None
        self._knowledge_rows: list[npt.NDArray[np.float32]] | None = None
        self._open: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        # Each open task keeps one interest row slot while it is open, so opening a task when the
        # list is full replaces one row at the router instead of shifting (and re-storing) them all.
        self._slot: dict[str, int] = {}

    async def rows(self) -> npt.NDArray[np.float32]:
        """The domain's row, the knowledge rows, then each open task in its slot's order."""
        agent = self._agent
        if self._domain_vector is None:
            self._domain_vector = await agent.embed(agent.domain)
        if self._knowledge_rows is None:
            vectors = await agent.memory.knowledge_vectors()
            self._knowledge_rows = centroids(vectors, agent.settings.knowledge_rows)
        tasks = sorted(self._open, key=self._slot.__getitem__)
        rows = [self._domain_vector, *self._knowledge_rows, *(self._open[t] for t in tasks)]
        return np.vstack(rows).astype(np.float32)

    def forget_knowledge(self) -> None:
        """The agent learned something: its knowledge rows are recomputed at the next subscription."""
        self._knowledge_rows = None

    async def open(self, task: str, vector: npt.NDArray[np.float32] | None) -> bool:
        """Add ``task`` (the oldest open task goes when there are too many); False if it was open."""
        if task in self._open:
            self._open.move_to_end(task)
            return False
        self._open[task] = vector if vector is not None else await self._agent.embed(task)
        most = self._agent.settings.max_open_tasks
        while len(self._open) > most:
            oldest, _ = self._open.popitem(last=False)
            self._slot.pop(oldest)
        self._slot[task] = min(set(range(most)) - set(self._slot.values()))
        return True

    def close(self, task: str) -> bool:
        """Drop ``task``; False if it was not open."""
        self._slot.pop(task, None)
        return self._open.pop(task, None) is not None


def centroids(
    vectors: npt.NDArray[np.float32], k: int, *, iterations: int = 10
) -> list[npt.NDArray[np.float32]]:
    """Up to ``k`` unit-length centroids of ``vectors`` (spherical k-means, seeded: same input, same
    rows). With ``k`` or fewer vectors, the vectors themselves."""
    if k <= 0 or len(vectors) == 0:
        return []
    if len(vectors) <= k:
        return [v / (np.linalg.norm(v) or 1.0) for v in vectors]
    rng = np.random.default_rng(0)
    centres = vectors[rng.choice(len(vectors), k, replace=False)]
    for _ in range(iterations):
        nearest = np.argmax(vectors @ centres.T, axis=1)
        for j in range(k):
            members = vectors[nearest == j]
            if len(members):
                mean = members.mean(axis=0)
                centres[j] = mean / (np.linalg.norm(mean) or 1.0)
    return list(centres.astype(np.float32))
