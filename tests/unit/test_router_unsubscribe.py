"""An agent withdrawn from a router gets no more packets, and its interest rows are taken back where
they were stored; a row that moves when an agent subscribes again leaves no copy behind."""

from __future__ import annotations

import numpy as np
import pytest

from synthswarm.swarm._codec import encode
from synthswarm.swarm.dht import DHTNode
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.errors import ProtocolError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, PacketKind, make_packet
from synthswarm.swarm.routers import BroadcastRouter, DHTRouter, GossipRouter, HubRouter, Router
from synthswarm.swarm.routers._messages import HubSubscribe, decode_subscription
from synthswarm.swarm.routers.dht import DHTRouterSettings
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher

DIMS = 16
AGENTS = [Identity.from_seed(bytes([i + 1]) * 32) for i in range(6)]


def _rows_of(nodes: list[DHTNode], agent_id: bytes) -> list[bytes]:
    """Every stored subscription row of ``agent_id`` whose value is not a tombstone."""
    found = []
    for node in nodes:
        for _, record in node.store.items():
            if record.value and decode_subscription(record.value).agent_id == agent_id:
                found.append(record.value)
    return found


def _vector(i: int) -> np.ndarray:
    v = np.zeros(DIMS, np.float32)
    v[i] = 1.0
    return v


def _finding(text: str, vector: np.ndarray) -> OutcomePacket:
    return make_packet(AGENTS[0], kind=PacketKind.FINDING, topic="t", finding=text, embedding=vector)


def _dht(hasher: SemanticHasher, nodes: list[DHTNode]) -> DHTRouter:
    router = DHTRouter(hasher, DHTRouterSettings(replicas=3))
    for node in nodes:
        router.serve(node)
    return router


async def _subscribed(router: Router, nodes: list[DHTNode]) -> dict[bytes, list[bytes]]:
    got: dict[bytes, list[bytes]] = {a.id: [] for a in AGENTS}
    for i, agent in enumerate(AGENTS):

        async def deliver(packet: OutcomePacket, agent_id: bytes = agent.id) -> None:
            got[agent_id].append(packet.id)

        await router.subscribe(agent.id, _vector(i), deliver, node=nodes[i])
    return got


async def test_a_withdrawn_agent_gets_no_packet_and_its_rows_are_taken_back() -> None:
    hasher = SemanticHasher(DIMS, LSHSettings(tables=2, bits=3, probes=1))
    async with launch_swarm(8, seed=21) as nodes:
        router = _dht(hasher, nodes)
        got = await _subscribed(router, nodes)
        leaving = AGENTS[1]
        assert _rows_of(nodes, leaving.id)
        first = _finding("for one", _vector(1))
        assert leaving.id in (await router.publish(first, publisher=AGENTS[0].id)).delivered_to
        await router.unsubscribe(leaving.id)
        stats = router.stats()
        assert stats.unsubscribed == 1
        assert stats.unsubscribe_messages > 0
        assert _rows_of(nodes, leaving.id) == []  # each copy overwritten by a tombstone
        second = _finding("for one again", _vector(1))
        report = await router.publish(second, publisher=AGENTS[0].id)
        assert leaving.id not in report.delivered_to
        assert got[leaving.id] == [first.id]
        assert len(router.outbox) == 0
        await router.unsubscribe(leaving.id)  # again: nothing
        assert router.stats().unsubscribed == 1
        with pytest.raises(Exception, match="subscribe"):
            await router.publish(second, publisher=leaving.id)  # it can no longer publish either


async def test_a_row_that_moves_is_withdrawn_from_the_keys_it_left() -> None:
    hasher = SemanticHasher(DIMS, LSHSettings(tables=2, bits=3, probes=0))
    async with launch_swarm(8, seed=22) as nodes:
        router = _dht(hasher, nodes)
        await _subscribed(router, nodes)
        agent = AGENTS[2]
        moved = -_vector(2)  # every table's bucket changes: the opposite direction
        assert {t.key for t in hasher.own_keys(moved)}.isdisjoint(t.key for t in hasher.own_keys(_vector(2)))
        rows_before = len(_rows_of(nodes, agent.id))

        async def ignore(packet: OutcomePacket) -> None:
            pass

        await router.subscribe(agent.id, moved, ignore, node=nodes[2])
        rows = _rows_of(nodes, agent.id)
        assert 0 < len(rows) <= rows_before + 1
        assert all(np.allclose(np.sign(decode_subscription(r).embedding()), np.sign(moved)) for r in rows)
        await router.subscribe(agent.id, np.stack([moved, _vector(5)]), ignore, node=nodes[2])
        assert len(_rows_of(nodes, agent.id)) > len(rows)
        await router.subscribe(agent.id, moved, ignore, node=nodes[2])  # the second row goes again
        final = _rows_of(nodes, agent.id)
        assert all(np.allclose(np.sign(decode_subscription(r).embedding()), np.sign(moved)) for r in final)
        assert len(final) == len(rows)


@pytest.mark.parametrize("kind", ["broadcast", "hub", "gossip"])
async def test_the_baselines_deliver_nothing_to_a_withdrawn_agent(kind: str) -> None:
    async with launch_swarm(6, seed=23) as nodes:
        router: Router
        if kind == "broadcast":
            router = BroadcastRouter()
        elif kind == "hub":
            router = HubRouter(nodes[0], m=10)
        else:
            router = GossipRouter(budget=20, fanout=3)
        got = await _subscribed(router, nodes)
        leaving = AGENTS[3]
        await router.unsubscribe(leaving.id)
        packet = _finding("for three", _vector(3))
        report = await router.publish(packet, publisher=AGENTS[0].id)
        assert leaving.id not in report.delivered_to
        assert got[leaving.id] == []
        assert router.stats().unsubscribed == 1
        if isinstance(router, HubRouter):
            assert leaving.id not in router._index


async def test_only_the_node_an_agent_subscribed_from_withdraws_it_at_the_hub() -> None:
    async with launch_swarm(3, seed=24) as nodes:
        router = HubRouter(nodes[0], m=10)

        async def ignore(packet: OutcomePacket) -> None:
            pass

        await router.subscribe(AGENTS[0].id, _vector(0), ignore, node=nodes[1])
        forged = encode(HubSubscribe(AGENTS[0].id, b"", 0))
        with pytest.raises(ProtocolError, match="only the node"):
            await router._on_subscribe(nodes[2].contact, forged)
        assert AGENTS[0].id in router._index
        await router._on_subscribe(nodes[2].contact, encode(_rows(AGENTS[0].id, _vector(0))))  # moved
        await router._on_subscribe(nodes[2].contact, forged)
        assert AGENTS[0].id not in router._index


def _rows(agent_id: bytes, vector: np.ndarray) -> HubSubscribe:
    return HubSubscribe(agent_id, vector.astype("<f4").tobytes(), 1)
