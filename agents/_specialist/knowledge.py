"""Knowledge: the documents an agent learns, as a passage index, and the search tools over them.

The index (:mod:`synthswarm.agents.retrieval`) is built on first use and again after each
:meth:`Knowledge.learn`. The search tools record what they return in the answer's trace, so an answer
cites what the model read through them (:mod:`synthswarm.agents._specialist.evidence`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from synthswarm.agents._specialist.core import AgentCore
from synthswarm.agents._specialist.evidence import current_trace, own_evidence, packet_evidence
from synthswarm.agents.memory import TITLE, Document
from synthswarm.agents.retrieval import Passage, PassageIndex

__all__ = ["Knowledge"]


class Knowledge:
    """The documents ``agent`` holds, searchable."""

    def __init__(self, agent: AgentCore) -> None:
        self._agent = agent
        self._index: PassageIndex | None = None

    async def learn(self, documents: Sequence[Document | str]) -> int:
        """Add documents (plain strings get a ``<name>:<n>`` source ref); the number added."""
        name = self._agent.name
        docs = [d if isinstance(d, Document) else Document(d, f"{name}:{i}") for i, d in enumerate(documents)]
        added = len(await self._agent.memory.add_knowledge(docs))
        self._index = None  # rebuilt at the next search
        return added

    async def passages(self) -> PassageIndex:
        """The knowledge as a hybrid index, built on first use."""
        if self._index is None:
            hits, vectors = await self._agent.memory.knowledge_items()
            passages = [
                Passage(h.id, str(h.metadata.get(TITLE, "")), h.text, str(h.metadata.get("source", "")))
                for h in hits
            ]
            self._index = PassageIndex(passages, vectors, lexical_weight=self._agent.settings.lexical_weight)
        return self._index

    async def best_score(self, text: str, vector: npt.NDArray[np.float32]) -> float:
        """The score of the best passage for a query (-inf when it knows nothing)."""
        found = (await self.passages()).search(text, vector, 1)
        return found[0].score if found else float("-inf")

    async def search_knowledge(self, query: str, k: int) -> list[str]:
        """The ``search_knowledge`` tool: texts of the ``k`` nearest passages."""
        hits = await self._agent.memory.search_knowledge(query, k)
        trace = current_trace()
        for h in hits:
            if trace is not None and h.score >= self._agent.settings.relevance:
                trace.add(own_evidence(h))
        return [h.text for h in hits]

    async def search_inbox(self, query: str, k: int) -> list[str]:
        """The ``search_inbox`` tool: findings of the ``k`` nearest received packets."""
        hits = await self._agent.memory.search_inbox(query, k)
        trace = current_trace()
        for h in hits:
            if trace is not None and h.score >= self._agent.settings.relevance:
                trace.add(packet_evidence(h.packet, h.score))
        return [h.packet.finding for h in hits]
