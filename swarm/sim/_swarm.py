"""A swarm of real :class:`DHTNode` objects on a :class:`SimNetwork`, joined or constructed.

``joined``: every node joins through a random earlier node, in batches of ``join_concurrency``, with
the ids and bootstrap choices :func:`~synthswarm.swarm.dht.testing.launch_swarm` makes for the same
seed (``seeded_ids``): the real join code runs, message by message.

``constructed``: the nodes start alone and their routing tables are filled directly with what
Kademlia converges to (section 2.2), without a message: for each node and each bucket i (ids at XOR
distance [2^i, 2^(i+1))), every node of that range if it holds at most k, else k of them drawn at
random (seeded per node: :mod:`synthswarm.swarm.sim._ids`). The range of bucket i is one contiguous
run of the sorted ids, so each node's table costs a few binary searches. What a real swarm's tables
hold beyond that (which k of a far bucket's many nodes) depends on its history; a random k is the
assumption, and it is checked against real joins at small N (``synthswarm bench simulate --tables joined``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

from synthswarm.swarm.dht import DHTNode, DHTSettings
from synthswarm.swarm.dht.testing import seeded_identity
from synthswarm.swarm.errors import SimulationError
from synthswarm.swarm.sim._ids import SwarmIds
from synthswarm.swarm.sim._network import SimNetwork, address_of

__all__ = ["TableMode", "build_tables", "launch_simulated_swarm"]

TableMode = Literal["joined", "constructed"]


@asynccontextmanager
async def launch_simulated_swarm(
    n: int,
    network: SimNetwork,
    *,
    tables: TableMode = "joined",
    settings: DHTSettings | None = None,
    seed: int = 0,
    join_concurrency: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[list[DHTNode]]:
    """``n`` nodes on ``network``, on the running loop's clock (see the module docstring for
    ``tables``). All are killed on exit."""
    host = network.host()
    rng = random.Random(seed)
    nodes: list[DHTNode] = []
    clock = asyncio.get_running_loop().time

    async def create(index: int, bootstrap: list[str]) -> DHTNode:
        # The virtual clock before the join, not after: the join stamps the buckets it refreshes
        # and draws their targets from the node's clock, and wall time there made no two runs alike.
        node = await DHTNode.create(settings=settings, identity=seeded_identity(seed, index), host=host)
        node.set_clock(clock)
        if bootstrap:
            try:
                await node.bootstrap(bootstrap)
            except BaseException:
                await node.close(handoff=False)  # as DHTNode.create does when its join fails
                raise
        return node

    try:
        nodes.append(await create(0, []))
        while len(nodes) < n:
            batch = min(join_concurrency if tables == "joined" else 1024, n - len(nodes))
            start = len(nodes)
            if tables == "joined":
                boots = [[rng.choice(nodes).address] for _ in range(batch)]
            else:
                boots = [[] for _ in range(batch)]
            nodes.extend(await asyncio.gather(*(create(start + i, boots[i]) for i in range(batch))))
            if progress:
                progress(len(nodes), n)
        if tables == "constructed":
            build_tables(nodes, seed)
        yield nodes
    finally:
        await asyncio.gather(*(node.kill() for node in nodes), return_exceptions=True)
        host.close()


def build_tables(nodes: list[DHTNode], seed: int = 0) -> None:
    """Fill every node's routing table as Kademlia converges (:mod:`synthswarm.swarm.sim._ids`):
    node ``i`` of ``nodes`` must be the one at ``address_of(i)``, as :func:`launch_simulated_swarm`
    attaches them."""
    ids = SwarmIds([node.node_id for node in nodes], seed)
    for index, node in enumerate(nodes):
        if node.address != address_of(index):
            raise SimulationError(f"node {index} is at {node.address}, not {address_of(index)}")
        for contact in ids.table(index, node.settings.k):
            node.table.add(contact)
