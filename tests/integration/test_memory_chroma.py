"""AgentMemory on a real Chroma PersistentClient: persistence across processes, filters, eviction."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.agents.memory import AgentMemory, ChromaCollection, Document, chroma_client
from synthswarm.swarm.errors import MemoryStoreError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import make_packet

EMBEDDER = HashingEmbedder()

READ_BACK = """
import asyncio, json, sys
from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.agents.memory import AgentMemory
async def main():
    memory = AgentMemory.open(sys.argv[1], "reader", HashingEmbedder())
    hits = await memory.search_inbox("Veltmar Observatory", 1)
    knowledge = await memory.search_knowledge("Orrin Bridge", 1, where={"kind": "bridge"})
    shared = len(await memory.unshared_knowledge())
    print(json.dumps({"counts": await memory.counts(), "finding": hits[0].packet.finding,
                      "source": knowledge[0].metadata["source"], "shared": shared}))
asyncio.run(main())
"""


async def test_knowledge_and_inbox_survive_the_process(tmp_path: Path) -> None:
    memory = AgentMemory.open(tmp_path, "reader", EMBEDDER)
    await memory.add_knowledge(
        [Document("The Orrin Bridge was designed by Tomas Heller.", "arch:0", {"kind": "bridge"}),
         Document("The Glass Tower is 96 metres tall.", "arch:1", {"kind": "tower"})]
    )  # fmt: skip
    await memory.mark_shared((await memory.unshared_knowledge())[:1])
    [vector] = await EMBEDDER.embed(["Ilse Korrin founded the Veltmar Observatory in 1874."])
    text = "Ilse Korrin founded the Veltmar Observatory in 1874."
    packet = make_packet(Identity.generate(), kind="finding", topic="t", finding=text, embedding=vector)
    assert await memory.store_packet(packet)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", READ_BACK, str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"counts": [2, 1], "finding": packet.finding, "source": "arch:0", "shared": 1}


async def test_chroma_inbox_is_bounded_by_the_same_rule(tmp_path: Path) -> None:
    memory = AgentMemory.open(tmp_path, "bounded", EMBEDDER, inbox_limit=5)
    me, now = Identity.generate(), int(time.time() * 1000)
    packets = []
    for i in range(8):
        [vector] = await EMBEDDER.embed([f"finding number {i}"])
        packets.append(
            make_packet(me, kind="finding", topic="t", finding=f"finding number {i}", embedding=vector)
        )
        await memory.store_packet(packets[-1], now_ms=now + i)
    assert (await memory.counts())[1] == 5
    assert [p.finding for p in await memory.packets([p.id for p in packets])] == [
        f"finding number {i}" for i in range(3, 8)
    ]
    assert memory.evicted == 3


def test_store_problems_are_memory_store_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MemoryStoreError, match="cannot open the Chroma store"):
        chroma_client(blocker / "chroma")
    client = chroma_client(tmp_path / "chroma")
    ChromaCollection(client, "dims-check", HashingEmbedder(dims=16))
    with pytest.raises(MemoryStoreError, match="holds 16-dim vectors but the embedder makes 32"):
        ChromaCollection(client, "dims-check", HashingEmbedder(dims=32))
