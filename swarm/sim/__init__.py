"""A simulated network for the DHT: the real node, lookup, subscribe and publish code, one virtual
clock, no sockets.

Map of the package:

- :mod:`~synthswarm.swarm.sim._clock`: :class:`VirtualTimeLoop`, an asyncio loop whose time jumps to
  the next timer when nothing is ready, so timeouts, retries and delays cost no wall time;
- :mod:`~synthswarm.swarm.sim._network`: :class:`SimNetwork` and its transports, which count every
  frame where it is sent and deliver it after a delay, or lose it, as the :class:`NetworkModel` says
  (lognormal one-way delay, independent loss);
- :mod:`~synthswarm.swarm.sim._ids`: :class:`SwarmIds`, every node's id and address, the nodes
  closest to a key, and what a converged routing table of any node holds;
- :mod:`~synthswarm.swarm.sim._swarm`: :func:`launch_simulated_swarm`, real
  :class:`~synthswarm.swarm.dht.node.DHTNode` objects on that network whose routing tables come from
  real joins or are constructed as Kademlia converges;
- :mod:`~synthswarm.swarm.sim._lazy`: :func:`launch_lazy_swarm`, the same nodes started only when a
  request first reaches one, for swarms too large to hold whole;
- :mod:`~synthswarm.swarm.sim._placed`: :func:`place_rows`, interest rows put where subscribing
  would store them, without a message, and :class:`PlacedRouter`, whose agents need no subscribe;
- :mod:`~synthswarm.swarm.sim._budget`: :class:`MatrixBudget`, one memory budget for every
  rendezvous' decoded matrices.

Per-peer request rates (:mod:`~synthswarm.swarm.dht.limits`) and the back-off from a failing peer
(:mod:`~synthswarm.swarm.dht.rtt`) run on the loop's clock, so on the virtual one here; maintenance
follows the virtual clock too (:meth:`DHTNode.set_clock`). What stays on the wall clock: record
expiry and packet freshness (``time.time``, so that they survive a restart). A simulation that spans
less virtual time than a record's TTL is unaffected by them.

Run a simulation with :func:`run_virtual` (or any code on a :class:`VirtualTimeLoop`)::

    async def main() -> None:
        async with launch_simulated_swarm(1024, SimNetwork(NetworkModel(loss=0.01))) as nodes:
            await nodes[0].lookup(nodes[1].node_id)

    run_virtual(main())
"""

from synthswarm.swarm.dht.testing import seeded_identity
from synthswarm.swarm.sim._budget import MatrixBudget, serve_within
from synthswarm.swarm.sim._clock import VirtualClock, VirtualTimeLoop, run_virtual
from synthswarm.swarm.sim._ids import SwarmIds, converged_contacts, node_rng
from synthswarm.swarm.sim._lazy import LazySwarm, SimNode, launch_lazy_swarm
from synthswarm.swarm.sim._network import NetworkModel, NetworkStats, SimHost, SimNetwork, SimTransport
from synthswarm.swarm.sim._placed import PlacedRouter, PlacedRows, place_rows, row_value
from synthswarm.swarm.sim._swarm import TableMode, build_tables, launch_simulated_swarm

__all__ = [
    "LazySwarm",
    "MatrixBudget",
    "NetworkModel",
    "NetworkStats",
    "PlacedRouter",
    "PlacedRows",
    "SimHost",
    "SimNetwork",
    "SimNode",
    "SimTransport",
    "SwarmIds",
    "TableMode",
    "VirtualClock",
    "VirtualTimeLoop",
    "build_tables",
    "converged_contacts",
    "launch_lazy_swarm",
    "launch_simulated_swarm",
    "node_rng",
    "place_rows",
    "row_value",
    "run_virtual",
    "seeded_identity",
    "serve_within",
]
