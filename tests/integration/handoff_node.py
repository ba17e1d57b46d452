"""The far side of the cross-process handoff test: a node holding one specialist that takes handed
questions over, driven by JSON lines.

``python -m tests.integration.handoff_node``. Starts a node on an ephemeral loopback port with the
astronomer of :mod:`tests.unit.agents_world` (the observatory passage the other process lacks) joined
to a dht router, lets other nodes hand it questions (:func:`synthswarm.agents.entry.serve_handoffs`),
and prints ``{"event": "ready", "address", "agent_id"}``. On ``{"stats": true}`` it prints the requests
its node sent, by category; it stops when its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys

from synthswarm.agents.entry import serve_handoffs
from synthswarm.agents.llm import ScriptedChat
from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.dht import DHTNode, requests_by_category
from synthswarm.swarm.routers import DHTRouter
from synthswarm.swarm.semantic import SemanticHasher
from tests.unit.agents_world import ASTRONOMY, ASTRONOMY_FACT, EMBEDDER, context_of


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def main() -> None:
    async with await DHTNode.create(listen="tcp://127.0.0.1:*") as node:
        astronomy = Specialist(*ASTRONOMY, chat=ScriptedChat(default=context_of), embedder=EMBEDDER)
        await astronomy.learn([ASTRONOMY_FACT, "The Hollin Telescope was completed in 1861."])
        await astronomy.join(DHTRouter(SemanticHasher(EMBEDDER.dims)), node)
        serve_handoffs(astronomy)
        emit("ready", address=node.address, agent_id=astronomy.agent_id.hex())
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if json.loads(line).get("stats"):
                await astronomy.drain()
                emit("stats", sent=dict(requests_by_category([node])))
        await astronomy.drain()


if __name__ == "__main__":
    asyncio.run(main())
