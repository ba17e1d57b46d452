"""A router's forward sent again by the same node (its answer was slow) keeps what the first reached."""

from __future__ import annotations

import numpy as np

from synthswarm.swarm._codec import encode
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, PacketKind, make_packet
from synthswarm.swarm.routers import GossipRouter, Outcome
from synthswarm.swarm.routers._messages import GossipForward, decode_gossip_spread

ALICE = Identity.from_seed(b"\x01" * 32)


async def test_a_resent_gossip_forward_reports_the_promises_of_the_first() -> None:
    async with launch_swarm(3) as nodes:
        router = GossipRouter(budget=1, fanout=1)
        got: list[bytes] = []

        async def promises(packet: OutcomePacket) -> bool:
            got.append(packet.id)
            return True  # a reply will follow

        await router.subscribe(b"bob", np.ones(8), promises, node=nodes[1])
        query = make_packet(ALICE, kind=PacketKind.QUERY, topic="t", finding="q?", embedding=np.ones(8))
        forward = encode(GossipForward(query.wire, 0))
        first = await router._on_forward(nodes[1], nodes[0].contact, forward)
        again = await router._on_forward(nodes[1], nodes[0].contact, forward)  # the same forward, resent
        other = await router._on_forward(nodes[1], nodes[2].contact, forward)  # a duplicate from elsewhere
        assert decode_gossip_spread(first) == (0, {b"bob": Outcome.FOLLOW_UP})
        assert again == first  # before: an empty answer, and bob's promise lost from the report
        assert decode_gossip_spread(other) == (0, {})
        assert got == [query.id]
