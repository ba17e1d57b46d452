"""How packets move between agents: one :class:`Router` protocol, five strategies.

- :class:`DHTRouter` (``dht``): semantic rendezvous over the Kademlia DHT
- :class:`IsolatedRouter`, :class:`BroadcastRouter`, :class:`HubRouter`, :class:`GossipRouter`:
  the baselines it is measured against

Every router hosts agents on DHT nodes and delivers through each node's one host
(:class:`~synthswarm.swarm.host.NodeHost`, its ``swarm.deliver`` request), whose admission verifies each
packet's signature and drops duplicates before an agent sees it.
"""

from synthswarm.swarm.routers._base import (
    DeliverFn,
    DeliveryReport,
    Outcome,
    Router,
    RouterStats,
    Subscriber,
    subscribe_in_batches,
)
from synthswarm.swarm.routers.baselines import BroadcastRouter, GossipRouter, HubRouter, IsolatedRouter
from synthswarm.swarm.routers.dht import DHTRouter, DHTRouterSettings, serve_rendezvous
from synthswarm.swarm.routers.factory import STRATEGIES, make_router

__all__ = [
    "STRATEGIES",
    "BroadcastRouter",
    "DHTRouter",
    "DHTRouterSettings",
    "DeliverFn",
    "DeliveryReport",
    "GossipRouter",
    "HubRouter",
    "IsolatedRouter",
    "Outcome",
    "Router",
    "RouterStats",
    "Subscriber",
    "make_router",
    "serve_rendezvous",
    "subscribe_in_batches",
]
