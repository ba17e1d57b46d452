"""The recall bound counts a nearest agent as reachable exactly when one of its rows is under a key
the publisher asks, spill levels below its own full buckets included."""

from __future__ import annotations

import numpy as np

from synthswarm.swarm.app.bench._simphases import recall_bound
from synthswarm.swarm.app.bench._workload import DIMS, Workload, nearest
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher
from synthswarm.swarm.sim import SwarmIds, place_rows


def test_the_bound_is_the_share_of_nearest_agents_under_an_asked_key() -> None:
    w = Workload.of(400, 30, 4, seed=2)
    hasher = SemanticHasher(DIMS, LSHSettings(tables=2, bits=2, probes=0))
    ids = SwarmIds.seeded(400)

    def bound(per_key: int) -> float:
        placed = place_rows(hasher, w.interests, ids, replicas=4, per_key=per_key, ttl_s=60)
        return recall_bound(placed, hasher, per_key, 10, w)

    shares = []  # with no spill, a nearest agent is reachable when it shares a bucket with the packet
    for packet, (publisher, _) in zip(w.packets, w.plan, strict=True):
        asked = {t.key for t in hasher.keys(packet.embedding.to_array())}
        truth = nearest(10, w.interests, packet, publisher)
        shares.append(sum(bool(asked & {t.key for t in hasher.own_keys(w.interests[a])}) for a in truth) / 10)
    assert bound(1000) == round(float(np.mean(shares)), 4)
    assert 0.0 < bound(8) < bound(1000)  # spilled rows on the far side of a spill plane are lost
    emptied = place_rows(hasher, w.interests, ids, replicas=4, per_key=8, ttl_s=60)
    emptied.rows = {key: np.zeros(0, np.int64) for key in emptied.rows}
    assert recall_bound(emptied, hasher, 8, 10, w) == 0.0
