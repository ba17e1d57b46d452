"""Rows placed without a message are where real subscribes store them: the same keys, on the same
nodes, the same rows under each, the same spills, at a cap small enough that keys spill."""

from __future__ import annotations

import numpy as np

from synthswarm.swarm.app.bench._workload import Deliveries, synthetic_interests
from synthswarm.swarm.dht import DHTSettings
from synthswarm.swarm.dht.storage import StoreLimits
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.routers import DHTRouter, DHTRouterSettings
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher
from synthswarm.swarm.sim import (
    NetworkModel,
    SimNetwork,
    SwarmIds,
    launch_simulated_swarm,
    place_rows,
    row_value,
    run_virtual,
)

N, CAP = 96, 6
SETTINGS = DHTSettings(initial_timeout_s=0.5, store_limits=StoreLimits(max_records_per_key=CAP))


def test_placed_rows_are_where_real_subscribes_in_agent_order_store_them() -> None:
    interests, _, _ = synthetic_interests(N, 3, np.random.default_rng(1))
    agents = [Identity.from_seed(bytes([i]) * 32).id for i in range(N)]
    hasher = SemanticHasher(384, LSHSettings(tables=3, bits=2))
    router = DHTRouter(hasher, DHTRouterSettings(replicas=4))
    recorder = Deliveries()

    async def main() -> tuple[dict[int, dict[bytes, set[bytes]]], dict[bytes, bytes]]:
        network = SimNetwork(NetworkModel(loss=0.0))
        swarm = launch_simulated_swarm(N, network, tables="constructed", settings=SETTINGS, seed=7)
        async with swarm as nodes:
            for i in range(N):  # one at a time: the order placing assumes
                await router.subscribe(agents[i], interests[i], recorder.inbox(i), node=nodes[i])
            held = {
                i: {key: {r.subkey for r in records} for key, records in node.store.by_key()}
                for i, node in enumerate(nodes)
            }
            values = {
                r.subkey: r.value for node in nodes for _, records in node.store.by_key() for r in records
            }
            return held, values

    real, values = run_virtual(main())
    ids = SwarmIds.seeded(N, seed=7)
    placed = place_rows(hasher, interests, ids, replicas=4, per_key=CAP, ttl_s=3600)
    assert placed.spilled == router.stats().subscriptions_spilled > 0
    assert placed.lost == router.stats().subscriptions_lost
    value = {i: row_value(agents[i], ids.ids[i], i, interests[i]) for i in range(N)}
    expected: dict[int, dict[bytes, set[bytes]]] = {i: {} for i in range(N)}
    for key, holders in placed.holders.items():
        for node in holders:
            expected[node][key] = {value[a][0] for a in placed.rows[key].tolist()}
    assert expected == real
    assert all(values[subkey] == data for subkey, data in value.values() if subkey in values)
    assert placed.records_held(N) == [sum(len(rows) for rows in real[i].values()) for i in range(N)]
