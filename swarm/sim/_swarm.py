"""A swarm of real :class:`DHTNode` objects on a :class:`SimNetwork`, joined or constructed.

``joined``: every node joins through a random earlier node, in batches of ``join_concurrency``, with
the ids and bootstrap choices :func:`~synthswarm.swarm.dht.testing.launch_swarm` makes for the same
seed (``seeded_ids``): the real join code runs, message by message.

``constructed``: the nodes start alone and their routing tables are filled directly with what
Kademlia converges to (section 2.2), without a message: for each node and each bucket i (ids at XOR
distance [2^i, 2^(i+1))), every node of that range if it holds at most k, else k of them drawn at
random (seeded). The range of bucket i is one contiguous run of the sorted ids, so each node's table
costs a few binary searches. What a real swarm's tables hold beyond that (which k of a far bucket's
many nodes) depends on its history; a random k is the assumption, and it is checked against real
joins at small N (``synthswarm bench simulate --tables joined``).
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

from synthswarm.swarm.dht import DHTNode, DHTSettings
from synthswarm.swarm.dht.ids import ID_BITS, Contact
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.sim._network import SimNetwork

__all__ = ["TableMode", "build_tables", "converged_contacts", "launch_simulated_swarm", "seeded_identity"]

TableMode = Literal["joined", "constructed"]


def seeded_identity(seed: int, index: int) -> Identity:
    """The identity :func:`~synthswarm.swarm.dht.testing.launch_swarm` gives node ``index`` with
    ``seeded_ids``: the same seed puts the simulated and the real swarm's nodes at the same ids."""
    return Identity.from_seed(hashlib.sha256(f"node/{seed}/{index}".encode()).digest())


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
        node = await DHTNode.create(
            settings=settings, identity=seeded_identity(seed, index), host=host, bootstrap=bootstrap
        )
        node.set_clock(clock)
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
            build_tables(nodes, random.Random(seed))
        yield nodes
    finally:
        await asyncio.gather(*(node.kill() for node in nodes), return_exceptions=True)
        host.close()


def build_tables(nodes: list[DHTNode], rng: random.Random) -> None:
    """Fill every node's routing table as Kademlia converges (see the module docstring)."""
    order = sorted(nodes, key=lambda node: node.node_id)
    ints = [int.from_bytes(node.node_id, "big") for node in order]
    contacts = [node.contact for node in order]
    for node in nodes:
        own = int.from_bytes(node.node_id, "big")
        for contact in converged_contacts(own, ints, contacts, node.settings.k, rng):
            node.table.add(contact)


def converged_contacts(
    own: int, ints: list[int], contacts: list[Contact], k: int, rng: random.Random
) -> list[Contact]:
    """What a converged table of the node at ``own`` holds: per bucket, all of its range's nodes or a
    random k of them (``ints``: every id, sorted, as integers; ``contacts`` in the same order)."""
    out: list[Contact] = []
    for i in range(ID_BITS):
        low = ((own >> (i + 1)) << (i + 1)) | ((~own >> i & 1) << i)
        lo = bisect.bisect_left(ints, low)
        hi = bisect.bisect_left(ints, low + (1 << i), lo)
        if hi - lo <= k:
            out += contacts[lo:hi]
        else:
            out += [contacts[j] for j in rng.sample(range(lo, hi), k)]
    return out
