"""Launch an n-node swarm in this process for tests and benchmarks, and tear it down after."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import zmq.asyncio

from synthswarm.swarm.dht.curve import ZapHandler
from synthswarm.swarm.dht.node import DHTNode, DHTSettings
from synthswarm.swarm.dht.transport import TransportHost, TransportSettings, new_context
from synthswarm.swarm.identity import Identity

__all__ = ["SHARED_HOST_SETTINGS", "heal", "launch_swarm", "partition", "seeded_identity"]

#: A shared host's connections carry every one of its nodes' messages: queue more on each.
SHARED_HOST_SETTINGS = TransportSettings(high_water_mark=100_000)


def seeded_identity(seed: int, index: int) -> Identity:
    """The identity of node ``index`` of a swarm of ``seed`` with ``seeded_ids`` (:func:`launch_swarm`;
    the simulator places its nodes at the same ids, :mod:`synthswarm.swarm.sim`)."""
    return Identity.from_seed(hashlib.sha256(f"node/{seed}/{index}".encode()).digest())


@asynccontextmanager
async def launch_swarm(
    n: int,
    *,
    transport: str = "inproc",
    settings: DHTSettings | None = None,
    seed: int = 0,
    join_concurrency: int = 16,
    progress: Callable[[int, int], None] | None = None,
    seeded_ids: bool = False,
    shared: bool = False,
) -> AsyncIterator[list[DHTNode]]:
    """``n`` joined nodes on ``inproc://`` (no file descriptor per connection) or ``tcp://127.0.0.1``
    ephemeral ports. Each node joins through a random node already in the swarm. All are closed on
    exit, killed ones included. With ``seeded_ids`` node keys (so ids) derive from ``seed``, so the
    same seed places every record on the same nodes. With ``shared`` every node sends and receives
    through one :class:`~synthswarm.swarm.dht.transport.TransportHost` (two sockets in all, rather than two
    per node: how thousands of nodes fit in one process's file descriptors)."""
    ctx: zmq.asyncio.Context = new_context()
    rng = random.Random(seed)
    counter = iter(range(10**9))

    def listen() -> str:
        return f"inproc://dht-{id(ctx):x}-{next(counter)}" if transport == "inproc" else "tcp://127.0.0.1:*"

    def identity(index: int) -> Identity | None:
        return seeded_identity(seed, index) if seeded_ids else None

    nodes: list[DHTNode] = []
    if shared and settings is not None and settings.secure:
        raise ValueError("a shared transport host is unsecured")
    host = TransportHost.open(ctx, listen(), SHARED_HOST_SETTINGS) if shared else None
    # A secured swarm's nodes share one ZAP handler; it belongs to the context, not to a node, so
    # killing any node leaves the others able to accept connections.
    zap = ZapHandler.try_bind(ctx) if settings is not None and settings.secure else None
    zap_task = asyncio.ensure_future(zap.serve()) if zap is not None else None
    try:
        nodes.append(
            await DHTNode.create(
                listen=listen(), settings=settings, context=ctx, identity=identity(0), host=host
            )
        )
        while len(nodes) < n:
            batch = min(join_concurrency, n - len(nodes))
            joined = await asyncio.gather(
                *(
                    DHTNode.create(
                        listen=listen(),
                        settings=settings,
                        context=ctx,
                        bootstrap=[rng.choice(nodes).address],
                        identity=identity(len(nodes) + i),
                        host=host,
                    )
                    for i in range(batch)
                )
            )
            nodes.extend(joined)
            if progress:
                progress(len(nodes), n)
        yield nodes
    finally:
        await asyncio.gather(*(node.close(handoff=False) for node in nodes), return_exceptions=True)
        if host is not None:
            host.close()
        if zap is not None and zap_task is not None:
            zap_task.cancel()
            await asyncio.gather(zap_task, return_exceptions=True)
            zap.close()
        ctx.term()


def partition(*groups: list[DHTNode]) -> None:
    """Cut the network between ``groups``: no node can reach a node of another group (each node's
    requests to the other side fail at once, as to an unreachable host)."""
    side = {node.address: i for i, group in enumerate(groups) for node in group}

    def cut_from(mine: int) -> Callable[[str], bool]:
        return lambda address: side.get(address, mine) != mine

    for i, group in enumerate(groups):
        for node in group:
            node.set_link_down(cut_from(i))


def heal(nodes: list[DHTNode]) -> None:
    """Restore every link cut by :func:`partition`."""
    for node in nodes:
        node.set_link_down(None)
