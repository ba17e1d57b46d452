"""Routers by name: the one place a strategy name becomes a router (the runtime and the benchmarks)."""

from __future__ import annotations

import typing
from collections.abc import Sequence

from synthswarm.swarm.config import RouterName
from synthswarm.swarm.dht import DHTNode
from synthswarm.swarm.errors import ConfigError
from synthswarm.swarm.routers._base import Router
from synthswarm.swarm.routers.baselines import BroadcastRouter, GossipRouter, HubRouter, IsolatedRouter
from synthswarm.swarm.routers.dht import DHTRouter, DHTRouterSettings
from synthswarm.swarm.semantic import SemanticHasher

__all__ = ["STRATEGIES", "make_router"]

#: Every strategy name, as the config's ``swarm.router`` accepts them.
STRATEGIES: tuple[str, ...] = typing.get_args(RouterName)


def make_router(
    name: str,
    nodes: Sequence[DHTNode],
    *,
    hasher: SemanticHasher,
    m: int = 10,
    threshold: float = 0.0,
    gossip_budget: int = 12,
    seed: int = 0,
) -> Router:
    """The router called ``name``: ``dht`` (over ``hasher``), ``hub`` (on ``nodes[0]``), ``broadcast``,
    ``gossip`` (``gossip_budget`` forwards a packet) or ``isolated``. ``m`` and ``threshold`` bound
    the deliveries of the ranking strategies."""
    if name == "dht":
        return DHTRouter(hasher, DHTRouterSettings(m=m, threshold=threshold))
    if name == "hub":
        return HubRouter(nodes[0], m=m, threshold=threshold)
    if name == "broadcast":
        return BroadcastRouter()
    if name == "gossip":
        return GossipRouter(budget=max(1, gossip_budget), seed=seed)
    if name == "isolated":
        return IsolatedRouter()
    raise ConfigError("swarm.router", f"unknown router {name!r}: use one of {', '.join(STRATEGIES)}")
