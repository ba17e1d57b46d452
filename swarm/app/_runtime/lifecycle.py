"""Starting and stopping a swarm: nodes up, specialists joined and their knowledge shared, deliveries
retried while it runs; then everything closed again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.entry import serve_handoffs
from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.app._runtime.network import NodeFactory, build_router
from synthswarm.swarm.app._runtime.parts import SwarmParts
from synthswarm.swarm.app._runtime.tools import SwarmTools
from synthswarm.swarm.config import SwarmConfig
from synthswarm.swarm.errors import SwarmError
from synthswarm.swarm.routers.dht import DHTRouter

__all__ = ["RETRY_INTERVAL_S", "Progress", "check_startable", "share_knowledge", "start", "stop", "wait_idle"]

#: Called as work advances: (stage, done, total).
Progress = Callable[[str, int, int], None]

#: Seconds between retries of deliveries whose receivers could not be reached.
RETRY_INTERVAL_S = 5.0


def check_startable(parts: SwarmParts) -> None:
    if not parts.specialists:
        raise SwarmError("a swarm needs at least one specialist: call add_specialist first")
    if parts.router is not None:
        raise SwarmError("the swarm is already running")


async def start(
    parts: SwarmParts,
    *,
    config: SwarmConfig,
    embedder: Embedder,
    network: NodeFactory,
    tools: SwarmTools,
    report: Progress,
) -> None:
    """One node per specialist, the router over them, pending documents learnt, knowledge shared.
    On failure the caller stops the swarm (which closes what this opened)."""
    await tools.open(parts.specialists)
    network.open_transport(config)
    for i in range(len(parts.specialists)):
        parts.nodes.append(await network.new_node(config, parts.nodes))
        report("nodes", i + 1, len(parts.specialists))
    parts.router = build_router(config, parts.nodes, embedder)
    for i, (specialist, node) in enumerate(zip(parts.specialists, parts.nodes, strict=True)):
        await specialist.learn(parts.pending.pop(specialist.name, []))
        await specialist.join(parts.router, node)
        serve_handoffs(specialist)  # a dispatcher elsewhere may hand it questions
        report("join", i + 1, len(parts.specialists))
    if config.share_knowledge:
        await share_knowledge(parts.specialists, progress=report)
    if isinstance(parts.router, DHTRouter):
        parts.tasks.spawn(_retry_deliveries(parts.router), name="retry")


async def stop(parts: SwarmParts, *, network: NodeFactory, tools: SwarmTools) -> None:
    """Stop the agents' work, close every node, release the transport. Safe to call twice."""
    await parts.tasks.close()
    parts.joining.clear()
    await asyncio.gather(*(s.aclose() for s in parts.specialists), return_exceptions=True)
    await tools.close(parts.specialists)
    await asyncio.gather(*(n.close(handoff=False) for n in parts.nodes), return_exceptions=True)
    parts.nodes = []
    parts.router = None
    parts.dispatcher = None
    network.close_transport()


async def share_knowledge(specialists: Sequence[Specialist], *, progress: Progress | None = None) -> int:
    """Every specialist distills its documents into packets and publishes them; returns packets sent."""
    sent = 0
    for i, specialist in enumerate(specialists):
        sent += len(await specialist.share_knowledge())
        if progress:
            progress("share", i + 1, len(specialists))
    await wait_idle(specialists)
    return sent


async def wait_idle(specialists: Sequence[Specialist]) -> None:
    """Wait until no agent is still reacting to a packet (replies and syntheses sent)."""
    while any(s.busy for s in specialists):  # a reaction may set off others elsewhere
        await asyncio.gather(*(s.drain() for s in specialists))


async def _retry_deliveries(router: DHTRouter) -> None:
    """Deliveries whose receivers were unreachable (dead, partitioned, busy) are retried now and
    then, so a receiver that comes back gets what it missed."""
    while True:
        await asyncio.sleep(RETRY_INTERVAL_S)
        if len(router.outbox):
            await router.retry_pending()
