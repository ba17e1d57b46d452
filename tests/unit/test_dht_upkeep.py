"""Upkeep by kind per node per minute, and Kademlia's rate at the configured intervals."""

from __future__ import annotations

from collections import Counter

import pytest

from synthswarm.swarm.dht import DHTSettings, key_for
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.dht.upkeep import Shape, expected, measured, shape


def test_measured_upkeep_is_per_node_per_minute_by_kind() -> None:
    before = Counter({"refresh": 10, "evict": 1, "republish": 4, "lookup": 50})
    after = Counter({"refresh": 70, "evict": 5, "ping": 2, "republish": 34, "replicate": 8, "lookup": 90})
    upkeep = measured(before, after, nodes=10, minutes=2.0)
    assert upkeep.by_kind == {"refresh": 3.0, "ping": 0.3, "republish": 1.5, "replicate": 0.4, "welcome": 0.0}
    assert upkeep.total == 5.2  # lookups for the questions are not upkeep
    assert upkeep.as_dict()["total"] == 5.2


def test_kademlias_rate_at_the_configured_intervals() -> None:
    swarm = Shape(nodes=64, buckets=6.0, published=2.0, held_keys=10.0, lookup_requests=9.0, replicas=8.0)
    settings = DHTSettings(refresh_interval_s=900, republish_interval_s=1200, replicate_interval_s=3600)
    rates = expected(settings, swarm).by_kind
    # every bucket, one lookup, every 15 minutes and a quarter of that more on average (the spread)
    assert rates["refresh"] == pytest.approx(6 * 9 / (15 * 1.25), abs=1e-3)
    assert rates["republish"] == pytest.approx(2 * (9 + 8) / 20, abs=1e-3)  # a lookup and 8 STOREs a record
    assert rates["replicate"] == 0.0  # publishers re-announce first, so no held key comes due
    rare = DHTSettings(republish_interval_s=7200, replicate_interval_s=3600)
    assert expected(rare, swarm).by_kind["replicate"] == pytest.approx(10 * (9 + 8) / 60, abs=1e-3)


async def test_the_shape_of_a_live_swarm() -> None:
    async with launch_swarm(6, seed=2) as nodes:
        await nodes[0].put(key_for("upkeep"), b"v", replicas=3)
        found = shape(nodes)
        assert found.nodes == 6
        assert 1 <= found.buckets <= 6
        assert found.published == pytest.approx(1 / 6)
        assert found.held_keys == pytest.approx(3 / 6)
        assert found.replicas == 3
        assert found.lookup_requests > 0
