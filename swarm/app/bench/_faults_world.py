"""The swarm the churn, partition and soak sections publish through: one agent per node,
subscribed to the dht router, counting who received which packet."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthswarm.swarm.app.bench.routing import DIMS, synthetic_interests
from synthswarm.swarm.dht import DHTNode
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, make_packet
from synthswarm.swarm.routers.dht import DHTRouter, DHTRouterSettings
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher

__all__ = ["World"]


@dataclass
class World:
    """A swarm of agents, one per node, subscribed to the dht router; counts who got which packet."""

    nodes: list[DHTNode]
    router: DHTRouter
    identities: list[Identity]
    interests: npt.NDArray[np.float32]
    received: dict[bytes, set[int]]
    deliveries: int = 0
    keep_receipts: bool = True
    """False for the soak: count deliveries and keep nothing, so the process measures the swarm alone."""

    @classmethod
    async def build(cls, nodes: list[DHTNode], seed: int, m: int = 4) -> World:
        rng = np.random.default_rng(seed)
        interests, _, _ = synthetic_interests(len(nodes), max(4, len(nodes) // 16), rng)
        router = DHTRouter(SemanticHasher(DIMS, LSHSettings()),
                           DHTRouterSettings(m=m, threshold=-1.0))  # fmt: skip
        world = cls(
            nodes, router, [Identity.from_seed(rng.bytes(32)) for _ in nodes], interests, defaultdict(set)
        )
        for start in range(0, len(nodes), 32):
            await asyncio.gather(*(world._subscribe(i) for i in range(start, min(start + 32, len(nodes)))))
        return world

    async def _subscribe(self, i: int) -> None:
        async def deliver(packet: OutcomePacket) -> None:
            self.deliveries += 1
            if self.keep_receipts:
                self.received[packet.id].add(i)

        await self.router.subscribe(self.identities[i].id, self.interests[i], deliver, node=self.nodes[i])

    def packet(self, publisher: int, target: int, ttl_s: int = 3600) -> OutcomePacket:
        return make_packet(self.identities[publisher], kind="finding", topic="bench", finding="fault bench",
                           embedding=self.interests[target], ttl_s=ttl_s)  # fmt: skip

    async def publish_addressed(
        self, pairs: list[tuple[int, int]], concurrency: int = 16
    ) -> list[tuple[bytes, int]]:
        """Publish one packet per (publisher, addressee); returns (packet id, addressee) of each."""
        sent: list[tuple[bytes, int]] = []
        for start in range(0, len(pairs), concurrency):
            batch = [(self.packet(p, t), p, t) for p, t in pairs[start : start + concurrency]]
            await asyncio.gather(
                *(self.router.publish(pk, publisher=self.identities[p].id) for pk, p, _ in batch)
            )
            sent.extend((pk.id, t) for pk, _, t in batch)
        return sent

    def reached(self, sent: list[tuple[bytes, int]]) -> float:
        """The share of ``sent`` packets that reached their addressee."""
        return sum(t in self.received.get(pid, ()) for pid, t in sent) / max(1, len(sent))
