"""One host of the multi-host test: a secured node with one agent, driven by JSON lines on stdin.

``python -m tests.integration.multihost_agent INDEX LISTEN [JOIN]``. Prints ``ready`` once joined and
subscribed; on ``{"publish": TARGET}`` publishes a packet about agent TARGET's interests; on
``{"put": KEY, "value": V}`` / ``{"get": KEY}`` uses the DHT; prints ``received`` for each packet.
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np

from synthswarm.swarm.dht import DHTNode, DHTSettings, key_for
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, make_packet
from synthswarm.swarm.routers.dht import DHTRouter, DHTRouterSettings
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher

DIMS = 64
INTERESTS = np.random.default_rng(42).standard_normal((8, DIMS)).astype(np.float32)


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def main(index: int, listen: str, join: list[str]) -> None:
    settings = DHTSettings(secure=True, initial_timeout_s=1.0, bootstrap_timeout_s=10.0)
    node = await DHTNode.create(listen=listen, bootstrap=join, settings=settings)
    router = DHTRouter(SemanticHasher(DIMS, LSHSettings()), DHTRouterSettings(m=4, threshold=-1.0))
    agent = Identity.from_seed(bytes([index + 1]) * 32)

    async def deliver(packet: OutcomePacket) -> None:
        emit("received", finding=packet.finding, origin=packet.origin.hex())

    await router.subscribe(agent.id, INTERESTS[index], deliver, node=node)
    emit("ready", address=node.address, agent=agent.id.hex(), contacts=len(node.table))
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command = json.loads(line)
        if "publish" in command:
            target = int(command["publish"])
            finding = f"from host {index} to {target}"
            packet = make_packet(
                agent, kind="finding", topic="hosts", finding=finding, embedding=INTERESTS[target]
            )
            report = await router.publish(packet, publisher=agent.id)
            emit("published", delivered=len(report.delivered_to), hops=report.hops)
        elif "put" in command:
            result = await node.put(key_for(command["put"]), command["value"].encode())
            emit("put", stored=result.stored)
        elif "get" in command:
            got = await node.get(key_for(command["get"]))
            emit("got", values=[v.decode() for v in got.values])
    await node.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3:]))
