"""Nodes started when first reached: the same ids, tables and closest nodes as a swarm started all at
once, and a request to a node that does not exist yet starts it and is answered."""

from __future__ import annotations

import asyncio
import random

from synthswarm.swarm.dht import DHTNode, DHTSettings
from synthswarm.swarm.dht.ids import distance
from synthswarm.swarm.sim import (
    NetworkModel,
    SimNetwork,
    SwarmIds,
    launch_lazy_swarm,
    launch_simulated_swarm,
    run_virtual,
)

SETTINGS = DHTSettings(initial_timeout_s=0.5)


def _table(node: DHTNode) -> list[list[tuple[bytes, str, float]]]:
    buckets = node.table.buckets
    return [[(c.node_id, c.address, b.seen_at[c.node_id]) for c in b.contacts.values()] for b in buckets]


def test_the_nodes_closest_to_a_key_are_the_nearest_by_xor() -> None:
    rng = random.Random(4)
    ids = SwarmIds([rng.randbytes(32) for _ in range(3000)])
    for _ in range(50):
        key = rng.randbytes(32)
        truth = sorted(range(len(ids)), key=lambda i: distance(ids.ids[i], key))[:20]
        assert ids.closest(key, 20) == truth


def test_a_lazily_started_node_has_the_table_the_constructed_swarm_gives_it() -> None:
    async def main() -> None:
        constructed = launch_simulated_swarm(
            300, SimNetwork(), tables="constructed", settings=SETTINGS, seed=3
        )
        async with constructed as eager:
            ids = SwarmIds.seeded(300, seed=3)
            assert ids.ids == [n.node_id for n in eager]
            async with launch_lazy_swarm(ids, SimNetwork(), settings=SETTINGS) as lazy:
                for index in (0, 17, 299):
                    node = lazy.node(index)
                    assert node.address == eager[index].address
                    assert _table(node) == _table(eager[index])
                assert sorted(lazy.started) == [0, 17, 299]

    run_virtual(main())


def test_a_request_to_a_node_not_yet_started_starts_it_and_lookups_find_the_true_closest() -> None:
    network = SimNetwork(NetworkModel(loss=0.0))
    started: list[int] = []

    async def main() -> None:
        ids = SwarmIds.seeded(500, seed=1)
        lazy = launch_lazy_swarm(ids, network, settings=SETTINGS, on_start=lambda i, _: started.append(i))
        async with lazy as swarm:
            first = swarm.node(0)
            target = random.Random(2).randbytes(32)
            found = await first.lookup(target)
            truth = [ids.ids[i] for i in ids.closest(target, 20)]
            assert [c.node_id for c in found.contacts] == truth
            assert 1 < len(swarm.started) < 500  # only the nodes asked were started
            assert set(started) == set(swarm.started)

    run_virtual(main())
    assert network.stats.unroutable == 0


def test_fresh_tables_hold_the_same_contacts_seen_when_the_node_starts() -> None:
    async def main() -> None:
        ids = SwarmIds.seeded(200, seed=3)
        async with launch_lazy_swarm(ids, SimNetwork(), settings=SETTINGS) as stale:
            old = stale.node(5)
            async with launch_lazy_swarm(ids, SimNetwork(), settings=SETTINGS, fresh_tables=True) as fresh:
                await asyncio.sleep(40.0)
                new = fresh.node(5)
                fresh_rows = [row for bucket in _table(new) for row in bucket]
                stale_rows = [row for bucket in _table(old) for row in bucket]
                assert [c[:2] for c in fresh_rows] == [c[:2] for c in stale_rows]
                assert {c[2] for c in fresh_rows} == {40.0}
                assert {c[2] for c in stale_rows} == {0.0}

    run_virtual(main())
