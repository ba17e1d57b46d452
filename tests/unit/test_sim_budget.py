"""A memory budget over every node's rendezvous matrices changes no answer: a matrix it dropped is
rebuilt from the store when asked again."""

from __future__ import annotations

import numpy as np

from synthswarm.swarm._codec import encode
from synthswarm.swarm.dht import DHTSettings
from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.dht.messages import Record
from synthswarm.swarm.routers._messages import Subscription
from synthswarm.swarm.routers._rendezvous import SubscriptionIndex
from synthswarm.swarm.sim import (
    MatrixBudget,
    SimNetwork,
    SwarmIds,
    launch_lazy_swarm,
    run_virtual,
    serve_within,
)

KEYS = [bytes([k]) * 32 for k in range(3)]


def test_a_dropped_matrix_is_rebuilt_and_answers_as_before() -> None:
    rng = np.random.default_rng(0)
    budget = MatrixBudget(max_bytes=1)  # room for one matrix at a time

    async def main() -> None:
        async with launch_lazy_swarm(SwarmIds.seeded(4), SimNetwork(), settings=DHTSettings()) as swarm:
            node = swarm.node(0)
            for key in KEYS:
                for a in range(20):
                    vector = rng.standard_normal(8).astype(np.float32)
                    row = encode(Subscription.of(bytes([a]) * 32, Contact(bytes(32), "sim://1"), vector))
                    node.store.put(key, Record(bytes([a]), row, 3600))
            budgeted, plain = serve_within(node, budget), SubscriptionIndex(node)
            assert budgeted is not None
            assert serve_within(node, budget) is None  # served already
            for _ in range(3):
                for key in KEYS:
                    query = rng.standard_normal(8).astype(np.float32)
                    assert budgeted.best(key, query, 5, -1.0) == plain.best(key, query, 5, -1.0)
            assert budget.held == 20 * 8 * 4  # one matrix of 20 rows of 8 float32

    run_virtual(main())
    assert budget.rebuilt == 6  # every key after the first round was dropped before it was asked again
