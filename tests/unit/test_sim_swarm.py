"""Real DHT nodes on the simulated network: lookups find the true k closest, with joined or
constructed routing tables, and every request is counted."""

from __future__ import annotations

import random

import pytest

from synthswarm.swarm.dht import DHTSettings
from synthswarm.swarm.dht.ids import Contact, bucket_index, distance
from synthswarm.swarm.sim import (
    NetworkModel,
    SimNetwork,
    TableMode,
    converged_contacts,
    launch_simulated_swarm,
    run_virtual,
)

SETTINGS = DHTSettings(initial_timeout_s=0.5)


@pytest.mark.parametrize("tables", ["joined", "constructed"])
def test_lookups_find_the_true_k_closest_over_a_lossy_network(tables: TableMode) -> None:
    network = SimNetwork(NetworkModel(loss=0.01, seed=1))

    async def main() -> list[float]:
        overlaps = []
        async with launch_simulated_swarm(128, network, tables=tables, settings=SETTINGS, seed=2) as nodes:
            rng = random.Random(3)
            for _ in range(20):
                target = rng.randbytes(32)
                found = await rng.choice(nodes).lookup(target)
                truth = sorted(nodes, key=lambda n: distance(n.node_id, target))[:20]
                overlaps.append(len({c.node_id for c in found.contacts} & {n.node_id for n in truth}) / 20)
        return overlaps

    overlaps = run_virtual(main())
    assert sum(overlaps) / len(overlaps) >= 0.98
    assert network.stats.requests > 0
    assert network.stats.lost > 0


def test_a_joined_swarm_repeats_exactly_for_the_same_seeds() -> None:
    """Every input of a simulation is seeded or virtual: two runs send the same messages and leave the
    same routing tables (the joins' bucket refreshes once drew their targets from os.urandom, and
    then from the wall clock, and no two runs of a lossy swarm were alike)."""

    async def main() -> tuple[tuple[int, int, int, int], list[list[Contact]]]:
        network = SimNetwork(NetworkModel(loss=0.01, seed=1))
        async with launch_simulated_swarm(48, network, settings=SETTINGS, seed=2) as nodes:
            tables = [list(n.table) for n in nodes]
        s = network.stats
        return (s.requests, s.replies, s.bytes, s.lost), tables

    first, second = run_virtual(main()), run_virtual(main())
    assert first[0][3] > 0  # something was lost, so the losses drawn are compared too
    assert first == second


def test_requests_are_counted_by_the_nodes_and_at_the_simulated_sockets_alike() -> None:
    network = SimNetwork(NetworkModel(loss=0.0))

    async def main() -> tuple[int, int]:
        async with launch_simulated_swarm(32, network, tables="constructed", settings=SETTINGS) as nodes:
            await nodes[0].lookup(nodes[1].node_id)
            sent = sum(sum(n.stats.rpcs_sent.values()) for n in nodes)
            return sent, sum(n.transport_stats().frames_out for n in nodes)

    sent, frames = run_virtual(main())
    assert sent == network.stats.requests > 0  # no request to itself, so every one went out
    assert frames == network.stats.requests + network.stats.replies


def test_a_constructed_table_holds_every_node_of_a_near_bucket_and_k_of_a_far_one() -> None:
    rng = random.Random(0)
    ids = sorted(rng.getrandbits(256) for _ in range(2000))
    contacts = [Contact(i.to_bytes(32, "big"), f"sim://{n}") for n, i in enumerate(ids)]
    own = contacts[7].node_id
    members: dict[int, set[bytes]] = {}
    for c in contacts[:7] + contacts[8:]:
        members.setdefault(bucket_index(own, c.node_id), set()).add(c.node_id)
    table: dict[int, set[bytes]] = {}
    for c in converged_contacts(ids[7], ids, contacts, 20, random.Random(1)):
        table.setdefault(bucket_index(own, c.node_id), set()).add(c.node_id)
    assert set(table) == set(members)
    for b, held in table.items():
        assert held <= members[b]
        assert len(held) == min(20, len(members[b]))
    assert any(len(m) > 20 for m in members.values())  # far buckets were sampled
