"""A Kademlia DHT over ZeroMQ (Maymounkov & Mazieres, 2002). It knows nothing of agents or LLMs.

Map of the package, one module per concept of the paper:

- :mod:`~synthswarm.swarm.dht.ids`: 256-bit ids, the XOR metric, :class:`Contact` (section 2.1)
- :mod:`~synthswarm.swarm.dht.routing`: k-buckets, least-recently-seen eviction, replacement cache (2.2, 4.1)
- :mod:`~synthswarm.swarm.dht.lookup`: the iterative parallel node lookup (2.3)
- :mod:`~synthswarm.swarm.dht.storage`: records with expiry under keys and subkeys (2.5)
- :mod:`~synthswarm.swarm.dht.messages`: typed RPC messages and their checked wire codec
- :mod:`~synthswarm.swarm.dht.rtt`: measured round trips, timeouts, failure back-off
- :mod:`~synthswarm.swarm.dht.transport`: the ZeroMQ sockets of a node
- :mod:`~synthswarm.swarm.dht.ports`: what a node needs of its transport (met by ZeroMQ's, and by
  :mod:`synthswarm.swarm.sim`'s simulated network)
- :mod:`~synthswarm.swarm.dht.curve`: CurveZMQ keys from a node's identity, secured addresses, ZAP
- :mod:`~synthswarm.swarm.dht.limits`: per-peer request rates and application request slots
- :mod:`~synthswarm.swarm.dht.journal`: the write-ahead journal of a node's state
- :mod:`~synthswarm.swarm.dht.node`: :class:`DHTNode`, which puts them together, over its private parts
  in :mod:`~synthswarm.swarm.dht._node`: ``settings`` (:class:`DHTSettings`), ``stats``
  (:class:`NodeStats` and the sums over nodes), ``wire``, ``client`` and ``server`` (the RPC protocol;
  a node's requests to itself are answered in the client, without the socket), ``storing`` (STOREs on a key's
  closest nodes), ``replication`` (republish, replicate, welcome, hand-off: 2.5), ``welcoming``
  (a newcomer asks its nearest nodes for its welcome, and claims no empty key before), ``joining``
  and ``persistence`` (key, snapshot and journal)
- :mod:`~synthswarm.swarm.dht.testing`: :func:`launch_swarm`, n nodes on ephemeral ports, cleaned up after
"""

from synthswarm.swarm.dht.ids import Contact, distance, key_for
from synthswarm.swarm.dht.lookup import LookupResult
from synthswarm.swarm.dht.messages import Record
from synthswarm.swarm.dht.node import (
    DHTNode,
    DHTSettings,
    GetResult,
    NodeStats,
    PutResult,
    bytes_sent,
    requests_by_category,
    requests_sent,
)
from synthswarm.swarm.dht.transport import new_context

__all__ = [
    "Contact",
    "DHTNode",
    "DHTSettings",
    "GetResult",
    "LookupResult",
    "NodeStats",
    "PutResult",
    "Record",
    "bytes_sent",
    "distance",
    "key_for",
    "new_context",
    "requests_by_category",
    "requests_sent",
]
