"""Half of a running swarm's agents leave (issue 27, part 5): over real sockets, 16 nodes, one agent
each on the DHT router. Afterwards no packet goes to an agent that left, no record the leaving nodes
held is lost, and no subscription of an agent that stayed is lost."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest

from synthswarm.swarm.dht import DHTNode, DHTSettings, key_for
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, PacketKind, make_packet
from synthswarm.swarm.routers import DHTRouter
from synthswarm.swarm.routers._messages import decode_subscription
from synthswarm.swarm.routers.dht import DHTRouterSettings
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher

N = 16
DIMS = 32
FAST = DHTSettings(initial_timeout_s=0.5, bootstrap_timeout_s=2.0)
RECORDS = 64


def _held(nodes: list[DHTNode]) -> set[tuple[bytes, bytes, bytes]]:
    """(key, subkey, value) of every record the nodes hold, tombstones aside."""
    return {(key, r.subkey, r.value) for node in nodes for key, r in node.store.items() if r.value}


def _is_row_of(value: bytes, agents: set[bytes]) -> bool:
    """Whether ``value`` is a subscription row of one of ``agents`` (a tombstone is not)."""
    if not value:
        return False
    try:
        return decode_subscription(value).agent_id in agents
    except Exception:
        return False


@pytest.mark.parametrize("together", [False, True], ids=["one-by-one", "all-at-once"])
async def test_half_the_agents_leave_and_nothing_else_is_lost(together: bool) -> None:
    rng = np.random.default_rng(7)
    interests = rng.standard_normal((N, DIMS)).astype(np.float32)
    agents = [Identity.from_seed(bytes([i + 1]) * 32) for i in range(N)]
    hasher = SemanticHasher(DIMS, LSHSettings(tables=4, bits=3, probes=1))
    async with launch_swarm(N, transport="tcp", settings=FAST, seed=31) as nodes:
        router = DHTRouter(hasher, DHTRouterSettings(replicas=3))
        got: dict[bytes, list[bytes]] = {a.id: [] for a in agents}
        for i, agent in enumerate(agents):

            async def deliver(packet: OutcomePacket, agent_id: bytes = agent.id) -> None:
                got[agent_id].append(packet.id)

            await router.subscribe(agent.id, interests[i], deliver, node=nodes[i])
        for j in range(RECORDS):  # other records, each on 3 nodes only
            await nodes[j % N].put(key_for("doc", str(j)), f"doc {j}".encode(), replicas=3)
        leaving = set(random.Random(3).sample(range(N), N // 2))
        gone = {agents[i].id for i in leaving}
        staying = [i for i in range(N) if i not in leaving]
        before = {h for h in _held([nodes[i] for i in leaving]) if not _is_row_of(h[2], gone)}
        assert before  # the leaving nodes held records of the others

        async def leave(i: int) -> None:
            await router.unsubscribe(agents[i].id)
            await nodes[i].close(handoff=True)

        if together:
            await asyncio.gather(*(leave(i) for i in sorted(leaving)))
        else:
            for i in sorted(leaving):
                await leave(i)
        live = [nodes[i] for i in staying]
        for counts in got.values():
            counts.clear()

        # 1. No later delivery goes to an agent that left, even for packets aimed right at it.
        for i in leaving:
            for j in staying[:4]:
                packet = make_packet(
                    agents[j], kind=PacketKind.FINDING, topic="t", finding=f"for {i}", embedding=interests[i]
                )
                report = await router.publish(packet, publisher=agents[j].id)
                assert gone.isdisjoint(report.delivered_to)
        assert all(got[a] == [] for a in gone)
        assert all(d.agent_id not in gone for d in router.outbox._pending)  # nor was one tried

        # 2. No record the leaving nodes held (other than the leavers' own rows) is lost.
        after = _held(live)
        assert {(k, s, v) for k, s, v in before if not _is_row_of(v, gone)} <= after

        # 3. No subscription of an agent that stayed is lost: each row is held where it was placed,
        # and a packet aimed at the agent reaches it.
        for i in staying:
            agent_id = agents[i].id
            for keys in router._placed[agent_id].values():
                for key in keys:
                    rows = [r for n in live for r in n.store.get(key) if _is_row_of(r.value, {agent_id})]
                    assert rows, f"agent {i}'s row under {key.hex()[:8]} was lost"
            publisher = agents[staying[0] if i != staying[0] else staying[1]]
            packet = make_packet(
                publisher, kind=PacketKind.FINDING, topic="t", finding=f"to {i}", embedding=interests[i]
            )
            report = await router.publish(packet, publisher=publisher.id)
            assert agent_id in report.delivered_to
