"""AgentMemory over the in-memory collection: knowledge, inbox, de-duplication and eviction."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.agents.memory import AgentMemory, ChromaEmbedding, Document, check_agent_name
from synthswarm.swarm.errors import ConfigError, MemoryStoreError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, make_packet

EMBEDDER = HashingEmbedder()
ME = Identity.from_seed(b"m" * 32)


async def packet(text: str, *, ttl_s: int = 3600, created_at_ms: int | None = None) -> OutcomePacket:
    [vector] = await EMBEDDER.embed([text])
    return make_packet(
        ME,
        kind="finding",
        topic="t",
        finding=text,
        embedding=vector,
        ttl_s=ttl_s,
        created_at_ms=created_at_ms,
    )


async def test_knowledge_is_searchable_deduplicated_and_filtered() -> None:
    memory = AgentMemory.in_memory(EMBEDDER)
    docs = [
        Document("The Orrin Bridge was designed by Tomas Heller.", "arch:0", {"kind": "bridge"}),
        Document("The Glass Tower is 96 metres tall.", "arch:1", {"kind": "tower"}),
    ]
    assert len(await memory.add_knowledge(docs)) == 2
    assert await memory.add_knowledge(docs) == []  # same source and text: kept once
    hits = await memory.search_knowledge("who designed the Orrin Bridge", k=2)
    assert hits[0].metadata["source"] == "arch:0"
    assert hits[0].score > hits[1].score
    towers = await memory.search_knowledge("who designed the Orrin Bridge", k=2, where={"kind": "tower"})
    assert [h.metadata["source"] for h in towers] == ["arch:1"]


async def test_knowledge_is_shared_once() -> None:
    memory = AgentMemory.in_memory(EMBEDDER)
    await memory.add_knowledge([Document("a fact", "s:0"), Document("another fact", "s:1")])
    pending = await memory.unshared_knowledge()
    assert len(pending) == 2
    await memory.mark_shared(pending[:1])
    assert [h.metadata["source"] for h in await memory.unshared_knowledge()] == [
        pending[1].metadata["source"]
    ]


async def test_inbox_keeps_each_packet_once_and_returns_packets() -> None:
    memory = AgentMemory.in_memory(EMBEDDER)
    p = await packet("Ilse Korrin founded the Veltmar Observatory in 1874.")
    assert await memory.store_packet(p)
    assert not await memory.store_packet(p)
    [hit] = await memory.search_inbox("when was the Veltmar Observatory founded", k=3)
    assert hit.packet == p
    assert await memory.packets([p.id]) == [p]
    assert await memory.counts() == (0, 1)


async def test_a_packet_arriving_twice_at_once_is_kept_once() -> None:
    """A query can reach an agent directly and relayed by another at the same moment: only one copy may
    be taken as new, or the agent promises the asker two replies that count as one, and the asker
    waits out its timeout for the second."""
    memory = AgentMemory.in_memory(EMBEDDER)
    p = await packet("Ilse Korrin founded the Veltmar Observatory in 1874.")
    kept = await asyncio.gather(*(memory.store_packet(p) for _ in range(3)))
    assert sorted(kept) == [False, False, True]
    assert await memory.counts() == (0, 1)


async def test_inbox_evicts_expired_packets_first_then_the_oldest_received() -> None:
    memory = AgentMemory.in_memory(EMBEDDER, inbox_limit=3)
    now = int(time.time() * 1000)
    old = await packet("first received", created_at_ms=now)
    expired = await packet("expired soon", ttl_s=1, created_at_ms=now - 5000)
    middle = await packet("second received", created_at_ms=now)
    newest = await packet("third received", created_at_ms=now)
    await memory.store_packet(old, now_ms=now)
    await memory.store_packet(expired, now_ms=now + 1)
    await memory.store_packet(middle, now_ms=now + 2)
    await memory.store_packet(newest, now_ms=now + 3)  # over the limit: the expired one goes
    kept = {p.finding for p in await memory.packets([old.id, expired.id, middle.id, newest.id])}
    assert kept == {"first received", "second received", "third received"}
    latest = await packet("fourth received", created_at_ms=now)
    await memory.store_packet(latest, now_ms=now + 4)  # nothing expired: the oldest received goes
    kept = {p.finding for p in await memory.packets([old.id, middle.id, newest.id, latest.id])}
    assert kept == {"second received", "third received", "fourth received"}
    assert memory.evicted == 2


def test_bad_limits_and_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"memory.inbox_limit"):
        AgentMemory.in_memory(EMBEDDER, inbox_limit=0)
    for bad in ("", "A", "Has Space", "x" * 70, "-lead", "ümlaut"):
        with pytest.raises(ConfigError, match=r"agent.name"):
            check_agent_name(bad)
    assert check_agent_name("geo-logy_2") == "geo-logy_2"


async def test_chroma_embedding_function_embeds_with_our_embedder_even_inside_a_loop() -> None:
    function = ChromaEmbedding(EMBEDDER)
    [vector] = function(["Halvia rubra"])  # Chroma calls it synchronously; a loop is running here
    assert np.allclose(vector, (await EMBEDDER.embed(["Halvia rubra"]))[0])
    assert function.name() == "synthswarm"
    assert function.get_config() == {"embedder": EMBEDDER.name}
    rebuilt = ChromaEmbedding.build_from_config({"embedder": "minilm"})  # what Chroma rebuilds alone
    with pytest.raises(MemoryStoreError, match="opened without its embedder"):
        rebuilt(["anything"])
