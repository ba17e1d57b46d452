"""Nodes that join together do not refresh their buckets together one interval later (issue 27): a
swarm started at once would otherwise send every node's bucket refreshes in the same few minutes,
every interval, a burst of full lookups on top of whatever the swarm is doing then."""

from __future__ import annotations

import time
from collections import Counter

from synthswarm.swarm.dht import DHTSettings
from synthswarm.swarm.dht._node.joining import REFRESH_SPREAD
from synthswarm.swarm.dht.node import requests_by_category
from synthswarm.swarm.dht.testing import launch_swarm

INTERVAL_S = 900.0
STEP_S = 15.0


async def test_the_refreshes_of_nodes_that_joined_together_are_spread_over_half_an_interval() -> None:
    # The nodes' own maintenance loop never fires here: the test runs every round itself, on a clock
    # it moves.
    settings = DHTSettings(refresh_interval_s=INTERVAL_S, maintenance_tick_s=3600.0)
    async with launch_swarm(24, seed=5, settings=settings) as nodes:
        offset = [0.0]
        for node in nodes:
            node.set_clock(lambda: time.monotonic() + offset[0])
        by_step: Counter[float] = Counter()
        sent = requests_by_category(nodes)["refresh"]
        # Through the first refresh of every bucket touched at the join, and not to the second.
        while offset[0] < INTERVAL_S * (1 + REFRESH_SPREAD) + STEP_S:
            offset[0] += STEP_S
            for node in nodes:
                await node.maintenance_round()
            now = requests_by_category(nodes)["refresh"]
            by_step[offset[0]] += now - sent
            sent = now
    total = sum(by_step.values())
    busy = sorted(step for step, count in by_step.items() if count)
    assert total > 0, "no bucket was refreshed"
    # Not before one interval, and not all in one tick: spread over at least a third of the spread
    # allowed, no step with more than a quarter of them.
    assert busy[0] >= INTERVAL_S
    assert busy[-1] - busy[0] >= INTERVAL_S * REFRESH_SPREAD / 3
    assert max(by_step.values()) <= total / 4
