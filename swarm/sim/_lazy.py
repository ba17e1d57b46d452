"""A swarm whose nodes exist only as ids and addresses until a request first reaches one.

A simulation of a million agents cannot hold a million :class:`DHTNode` objects (about 150 KiB each
with a converged table), but a few hundred packets reach only some thousands of them. So
:class:`LazySwarm` knows every node's id and address (:class:`SwarmIds`) and starts a real node only
when a request first arrives for it (:meth:`SimNetwork.set_summon`), or when the simulation asks for
one (a publisher). The node then gets what it would have had all along:

- its converged routing table (:meth:`SwarmIds.table`), the same contacts, in the same order and
  seen at the same moment (the swarm's start) as :func:`build_tables` gives it;
- whatever ``on_start`` adds (its placed interest rows, the agent it hosts), before the request
  that summoned it is handled.

What the node would have done before that moment, had it existed, is not simulated: an idle node of a
constructed swarm sends nothing but maintenance, and maintenance sends nothing in the first
``refresh_interval_s`` (15 min). What it would have heard is: requests reach only started nodes, so
nothing is lost.

``fresh_tables`` is the one choice that is not the constructed swarm's. A table seen at the swarm's
start lets a full bucket ping its oldest contact (``evict``) 30 s later, whenever it hears from a
newcomer; so a started node's ping starts the pinged node, which hears a newcomer and pings its own
oldest contact, and so on, one node a round trip: at N=16,384, 293 pings a packet started 16,063
nodes for 200 packets, which at a million would be most of the memory. With ``fresh_tables`` a
node's contacts count as heard from when it starts (as a busy node's are), so it pings none for
30 s and such a chain stops at the node it reached. Routing does not use these pings (a ping that
is answered changes only the order of a bucket); ``synthswarm bench simulate --nodes lazy`` says
that its ``evict`` counts are then the first step of each chain only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import zmq.asyncio

from synthswarm.swarm.dht import DHTNode, DHTSettings
from synthswarm.swarm.dht.testing import seeded_identity
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.sim._ids import SwarmIds
from synthswarm.swarm.sim._network import SimHost, SimNetwork, SimTransport, address_index, address_of

__all__ = ["LazySwarm", "SimNode", "launch_lazy_swarm"]

#: Called with a node's index and the node, when it starts, before it handles anything.
OnStart = Callable[[int, DHTNode], None]


class SimNode(DHTNode):
    """A :class:`DHTNode` that can start at once, inside the callback of the frame that needs it."""

    @classmethod
    def start_now(
        cls, identity: Identity, transport: SimTransport, settings: DHTSettings, context: zmq.asyncio.Context
    ) -> SimNode:
        """What :meth:`DHTNode.create` does for a node with no bootstrap and no state directory,
        without awaiting: it serves from this moment (not from its serving task's first step)."""
        node = cls(identity, transport, transport.address, settings, context, False, None)
        transport.bind(node._on_request, node._on_reply)
        node._tasks.spawn(node._maintain(), name="maintain")
        node._files.open()
        return node


class LazySwarm:
    """The nodes of ``ids`` on ``network``; :attr:`started` holds those started so far, by index."""

    def __init__(
        self,
        ids: SwarmIds,
        network: SimNetwork,
        settings: DHTSettings,
        *,
        start_time: float,
        on_start: OnStart | None = None,
        fresh_tables: bool = False,
    ) -> None:
        self.ids = ids
        self.network = network
        self.settings = settings
        self.started: dict[int, DHTNode] = {}
        self.on_start = on_start
        self._host = SimHost(network)
        self._start_time = start_time
        self.fresh_tables = fresh_tables
        network.set_summon(self._summon, len(ids))

    def __len__(self) -> int:
        return len(self.ids)

    def node(self, index: int) -> DHTNode:
        """Node ``index``, started now if it has not been."""
        node = self.started.get(index)
        return node if node is not None else self._start(index)

    def _summon(self, address: str) -> SimTransport | None:
        index = address_index(address)
        if index is None or index in self.started:
            return None  # started before, and closed since: it stays gone
        self._start(index)
        return self.network.transport(address)

    def _start(self, index: int) -> DHTNode:
        transport = self.network.attach_at(address_of(index))
        node = SimNode.start_now(
            seeded_identity(self.ids.seed, index), transport, self.settings, self._host.context
        )
        clock = asyncio.get_running_loop().time
        start = self._start_time
        node.set_clock(clock if self.fresh_tables else lambda: start)  # when its contacts were seen
        for contact in self.ids.table(index, self.settings.k):
            node.table.add(contact)
        node.set_clock(clock)
        self.started[index] = node
        if self.on_start is not None:
            self.on_start(index, node)
        return node

    async def close(self) -> None:
        """Kill every started node; none starts after this."""
        self.network.set_summon(None)
        await asyncio.gather(*(node.kill() for node in self.started.values()), return_exceptions=True)
        self._host.close()


@asynccontextmanager
async def launch_lazy_swarm(
    ids: SwarmIds,
    network: SimNetwork,
    *,
    settings: DHTSettings | None = None,
    on_start: OnStart | None = None,
    fresh_tables: bool = False,
) -> AsyncIterator[LazySwarm]:
    """The nodes of ``ids`` on ``network``, each started when first needed (module docstring), on
    the running loop's clock; all started ones are killed on exit."""
    swarm = LazySwarm(
        ids,
        network,
        settings or DHTSettings(),
        start_time=asyncio.get_running_loop().time(),
        on_start=on_start,
        fresh_tables=fresh_tables,
    )
    try:
        yield swarm
    finally:
        await swarm.close()
