"""The node the restart benchmark kills with SIGKILL: a DHT node with a state directory, hosting one
agent whose inbox is a Chroma store. ``python -m synthswarm.swarm.app.bench._restart_child STATE [JOIN]``.

It prints one JSON line, ``ready``, with its address, its agent's id and what it holds (records,
inbox packets, contacts), then serves until killed. ``bench.state`` requests answer the same counts.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.agents.memory import AgentMemory
from synthswarm.swarm import tasks
from synthswarm.swarm._codec import encode
from synthswarm.swarm.dht import Contact, DHTNode, DHTSettings
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket
from synthswarm.swarm.routers._base import RouterStats

STATE_TOPIC = "bench.state"


async def main(state: Path, join: list[str]) -> None:
    node = await DHTNode.create(
        listen="tcp://127.0.0.1:*", state_dir=state / "dht", bootstrap=join,
        settings=DHTSettings(initial_timeout_s=0.5, bootstrap_timeout_s=2.0),
    )  # fmt: skip
    memory = AgentMemory.open(state, "victim", HashingEmbedder())
    agent = Identity.from_seed(node.identity.seed[::-1])

    async def deliver(packet: OutcomePacket) -> None:
        await memory.store_packet(packet)  # acknowledged only once Chroma has it

    NodeHost.on(node).add(agent.id, deliver, RouterStats())

    async def counts() -> list[int]:
        return [len(node.store), (await memory.counts())[1], len(node.table)]

    async def serve_state(_: Contact, __: bytes) -> bytes:
        return encode(await counts())

    node.register_app(STATE_TOPIC, serve_state)
    records, memories, contacts = await counts()
    ready = {
        "event": "ready", "address": node.address, "node_id": node.node_id.hex(), "agent_id": agent.id.hex(),
        "records": records, "memories": memories, "contacts": contacts,
    }  # fmt: skip
    print(json.dumps(ready), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    tasks.run(main(Path(sys.argv[1]), sys.argv[2:]))
