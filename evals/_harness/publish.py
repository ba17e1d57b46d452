"""The phases of a run before its questions: every agent publishes its findings; with synthesis, the
swarm settles; with ``kill``, a seeded share of the nodes dies. Each phase's routing is counted at the
socket."""

from __future__ import annotations

import numpy as np

from synthswarm.agents.specialist import Specialist
from synthswarm.evals._harness.metrics import ROUTE
from synthswarm.evals._harness.settings import Progress
from synthswarm.swarm.dht import DHTNode, requests_sent

__all__ = ["kill", "publish", "settle"]


async def publish(agents: list[Specialist], nodes: list[DHTNode], report: Progress) -> int:
    """Every agent shares what it knows, and the swarm delivers it; the routing requests it took."""
    before = requests_sent(nodes, ROUTE)
    for i, agent in enumerate(agents):
        await agent.share_knowledge()
        report("publish", i + 1, len(agents))
    for agent in agents:
        await agent.drain()
    return requests_sent(nodes, ROUTE) - before


async def settle(agents: list[Specialist], nodes: list[DHTNode], report: Progress) -> int:
    """The settle phase, in rounds: every agent in turn combines what it received so far with what it
    knows (:meth:`~synthswarm.agents.specialist.Specialist.synthesize_received`), publishing its
    syntheses; the swarm drains; and it goes again, so that syntheses received in one round are linked
    in the next (syntheses of syntheses, within their bounds), until a round makes none. Agents do not
    react to a packet as it arrives here (their ``synthesize`` stays off): which packets an agent has
    when it links is then fixed by the turn order, not by when a message happened to arrive, so the
    same seed makes the same syntheses on a loaded machine. The routing requests it took."""
    before = requests_sent(nodes, ROUTE)
    rounds = 0
    while True:
        rounds += 1
        made = 0
        for i, agent in enumerate(agents):
            made += await agent.synthesize_received()
            report(f"settle round {rounds}", i + 1, len(agents))
        for agent in agents:
            await agent.drain()
        if made == 0:
            break
    return requests_sent(nodes, ROUTE) - before


async def kill(
    nodes: list[DHTNode], agents: list[Specialist], strategy: str, fraction: float, seed: int
) -> list[Specialist]:
    """Kill ``fraction`` of the nodes (seeded; the hub's node first for hub); the agents left alive."""
    count = round(fraction * len(nodes))
    if count == 0:
        return agents
    order = list(range(len(nodes)))
    np.random.default_rng(seed).shuffle(order)
    if strategy == "hub":
        order.remove(0)
        order.insert(0, 0)  # the hub lives on the first node
    dead = set(order[:count])
    for i in sorted(dead):
        await nodes[i].kill()
    return [a for i, a in enumerate(agents) if i not in dead]
