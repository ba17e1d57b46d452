"""Per-agent memory: the agent's own knowledge and an inbox of the packets it received.

Both live in a :class:`VectorCollection`, a small protocol with two implementations:
:class:`ChromaCollection` (Chroma ``PersistentClient`` under the swarm's data directory, the default)
and :class:`InMemoryCollection` (numpy, for tests and throw-away swarms). Vectors always come from the
agent's own :class:`~synthswarm.agents.embeddings.Embedder`; Chroma is also given :class:`ChromaEmbedding`,
our embedding function, because its default one downloads a model and fails offline.

The inbox is bounded: past ``inbox_limit`` packets, expired packets are evicted first, then the packets
received longest ago (first in, first out). Knowledge is never evicted.

This module holds :class:`AgentMemory`, which runs both over their stores; the parts live in private
modules, one job each: ``_memory_store`` (the protocol and its records), ``_memory_chroma`` and
``_memory_dict`` (the two backends), ``_memory_knowledge`` (documents, their ids and embedded text) and
``_memory_inbox`` (inbox entries and eviction).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from synthswarm.agents._memory_chroma import ChromaCollection, ChromaEmbedding, chroma_client
from synthswarm.agents._memory_dict import InMemoryCollection
from synthswarm.agents._memory_inbox import PacketHit, entry_metadata, eviction_victims, packet_of
from synthswarm.agents._memory_knowledge import SHARED, TITLE, Document, doc_id, embedded_text
from synthswarm.agents._memory_store import MemoryHit, Metadata, Vector, VectorCollection, unit
from synthswarm.agents.embeddings import Embedder
from synthswarm.swarm.errors import ConfigError
from synthswarm.swarm.packet import OutcomePacket

__all__ = [
    "DEFAULT_INBOX_LIMIT",
    "TITLE",
    "AgentMemory",
    "ChromaCollection",
    "ChromaEmbedding",
    "Document",
    "InMemoryCollection",
    "MemoryHit",
    "Metadata",
    "PacketHit",
    "VectorCollection",
    "check_agent_name",
    "chroma_client",
]

DEFAULT_INBOX_LIMIT = 1000
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,60}[a-z0-9]$")


class AgentMemory:
    """One agent's knowledge and inbox. Build it with :meth:`open` (Chroma) or :meth:`in_memory`.

    Every method is async and runs the store's synchronous calls in a worker thread, one at a time, so
    a slow disk never stalls the agent's event loop (and its DHT node's timeouts).
    """

    def __init__(
        self,
        knowledge: VectorCollection,
        inbox: VectorCollection,
        embedder: Embedder,
        *,
        inbox_limit: int = DEFAULT_INBOX_LIMIT,
    ) -> None:
        if inbox_limit < 1:
            raise ConfigError("memory.inbox_limit", f"must be at least 1, got {inbox_limit}")
        self.knowledge = knowledge
        self.inbox = inbox
        self.embedder = embedder
        self.inbox_limit = inbox_limit
        self.evicted = 0
        self._lock = asyncio.Lock()
        self._arriving: set[str] = set()
        """Ids (hex) of the packets being stored now."""

    @classmethod
    def open(
        cls, data_dir: str | Path, agent: str, embedder: Embedder, *, inbox_limit: int = DEFAULT_INBOX_LIMIT
    ) -> AgentMemory:
        """The memory of ``agent`` in the Chroma store at ``data_dir/chroma`` (created if missing)."""
        check_agent_name(agent)
        client = chroma_client(Path(data_dir) / "chroma")
        return cls(
            ChromaCollection(client, f"{agent}-knowledge", embedder),
            ChromaCollection(client, f"{agent}-inbox", embedder),
            embedder,
            inbox_limit=inbox_limit,
        )

    @classmethod
    def in_memory(cls, embedder: Embedder, *, inbox_limit: int = DEFAULT_INBOX_LIMIT) -> AgentMemory:
        return cls(InMemoryCollection(), InMemoryCollection(), embedder, inbox_limit=inbox_limit)

    async def add_knowledge(self, documents: Sequence[Document]) -> list[str]:
        """Store the ``documents`` not stored yet (ids derive from source and text); returns their ids."""
        known = {h.id for h in await self._run(self.knowledge.get, [doc_id(d) for d in documents])}
        new = list({doc_id(d): d for d in documents if doc_id(d) not in known}.items())
        if not new:
            return []
        vectors = await self.embedder.embed([embedded_text(d.text, d.metadata) for _, d in new])
        metadatas = [{**d.metadata, "source": d.source, SHARED: False} for _, d in new]
        await self._run(
            self.knowledge.upsert, [i for i, _ in new], [d.text for _, d in new], vectors, metadatas
        )
        return [i for i, _ in new]

    async def unshared_knowledge(self) -> list[MemoryHit]:
        """Documents not yet published as packets (see :meth:`mark_shared`)."""
        hits: list[MemoryHit] = await self._run(self.knowledge.get, None, {SHARED: False})
        return hits

    async def mark_shared(self, hits: Sequence[MemoryHit]) -> None:
        """Remember that these documents were published, so a restarted agent does not send them again."""
        if hits:
            vectors = await self.embedder.embed([embedded_text(h.text, h.metadata) for h in hits])
            metas = [{**h.metadata, SHARED: True} for h in hits]
            await self._run(
                self.knowledge.upsert, [h.id for h in hits], [h.text for h in hits], vectors, metas
            )

    async def search_knowledge(
        self, query: str | Vector, k: int = 4, where: Metadata | None = None
    ) -> list[MemoryHit]:
        hits: list[MemoryHit] = await self._run(self.knowledge.query, await self._vector(query), k, where)
        return hits

    async def store_packet(self, packet: OutcomePacket, *, now_ms: int | None = None) -> bool:
        """Keep a received packet (False if it was already here, or is arriving now by another way),
        then evict down to the inbox limit."""
        key = packet.id.hex()
        # The look-up and the write each wait for a thread, so two copies arriving at once (a query
        # delivered directly and relayed by another agent) would both find the inbox without it.
        if key in self._arriving:
            return False
        self._arriving.add(key)
        try:
            if await self._run(self.inbox.get, [key]):
                return False
            now = now_ms if now_ms is not None else int(time.time() * 1000)
            vector = unit(packet.embedding.to_array())[None, :]
            meta = entry_metadata(packet, now)
            await self._run(self.inbox.upsert, [key], [packet.finding], vector, [meta])
            await self._evict(now)
            return True
        finally:
            self._arriving.discard(key)

    async def search_inbox(
        self, query: str | Vector, k: int = 4, where: Metadata | None = None
    ) -> list[PacketHit]:
        hits: list[MemoryHit] = await self._run(self.inbox.query, await self._vector(query), k, where)
        return [PacketHit(p, h.score) for h in hits if (p := packet_of(h)) is not None]

    async def packets(self, ids: Sequence[bytes]) -> list[OutcomePacket]:
        hits = await self._run(self.inbox.get, [i.hex() for i in ids])
        return [p for h in hits if (p := packet_of(h)) is not None]

    async def received(self, kind: str | None = None) -> list[OutcomePacket]:
        """Every packet in the inbox (of ``kind``, when given), oldest first."""
        hits: list[MemoryHit] = await self._run(self.inbox.get, None, {"kind": kind} if kind else None)
        hits.sort(key=lambda h: int(h.metadata.get("received_ms", 0)))
        return [p for h in hits if (p := packet_of(h)) is not None]

    async def knowledge_items(self) -> tuple[list[MemoryHit], Vector]:
        """Every document the agent knows and its vector, in the same order."""
        items: tuple[list[MemoryHit], Vector] = await self._run(self.knowledge.dump)
        return items

    async def knowledge_vectors(self) -> Vector:
        """The vectors of every document the agent knows, one row each."""
        vectors: Vector = await self._run(self.knowledge.vectors)
        return vectors

    async def counts(self) -> tuple[int, int]:
        """(knowledge documents, inbox packets)."""
        return await self._run(self.knowledge.count), await self._run(self.inbox.count)

    async def _evict(self, now_ms: int) -> None:
        count = await self._run(self.inbox.count)
        if count <= self.inbox_limit:
            return
        items = await self._run(self.inbox.get, None, None)
        victims = eviction_victims(items, count - self.inbox_limit, now_ms)
        await self._run(self.inbox.delete, victims)
        self.evicted += len(victims)

    async def _vector(self, query: str | Vector) -> Vector:
        if isinstance(query, str):
            return cast(Vector, (await self.embedder.embed([query]))[0])
        return unit(query)

    async def _run(self, fn: Any, *args: Any) -> Any:
        async with self._lock:
            return await asyncio.to_thread(fn, *args)


def check_agent_name(name: str) -> str:
    """Agent names become store names: 2-62 characters of a-z, 0-9, ``-`` and ``_``."""
    if not _NAME.match(name):
        raise ConfigError(
            "agent.name", f"{name!r} is not a valid agent name: use 2-62 characters of a-z, 0-9, '-' and '_'"
        )
    return name
