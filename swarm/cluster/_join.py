"""Joining one node to a swarm through a random known address, retried through others: what this
process's shard (:mod:`synthswarm.swarm.cluster.shards`) and every other shard
(:mod:`synthswarm.swarm.cluster._shard`) both do, so both import it from here."""

from __future__ import annotations

import random

from synthswarm.swarm.dht.node import DHTNode, DHTSettings
from synthswarm.swarm.dht.transport import TransportHost
from synthswarm.swarm.errors import BootstrapError

__all__ = ["join"]


async def join(
    settings: DHTSettings, host: TransportHost, known: list[str], rng: random.Random, attempts: int = 4
) -> DHTNode:
    """A node on ``host`` joined through a random one of ``known``; a bootstrap that does not answer
    (a process too busy to reply in time) is retried through another, ``attempts`` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            return await DHTNode.create(settings=settings, host=host, bootstrap=[rng.choice(known)])
        except BootstrapError:
            if attempt == attempts:
                raise
    raise ValueError("attempts must be at least 1")
