"""Per-peer token buckets and application slots."""

from __future__ import annotations

import pytest

from synthswarm.swarm.dht.limits import PeerLimits, RateLimiter, SlotLimiter
from synthswarm.swarm.errors import ConfigError


def test_a_peer_gets_its_burst_then_its_rate() -> None:
    limiter = RateLimiter(rate=10.0, burst=5, max_peers=100)
    assert [limiter.allow(b"a", now=0.0) for _ in range(6)] == [True] * 5 + [False]
    assert limiter.allow(b"b", now=0.0)  # another peer has its own bucket
    assert not limiter.allow(b"a", now=0.05)  # half a token
    assert limiter.allow(b"a", now=0.1)
    assert sum(limiter.allow(b"a", now=10.0) for _ in range(100)) == 5  # refills to the burst, no more


def test_tracked_peers_are_bounded() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_peers=3)
    for i in range(50):
        limiter.allow(bytes([i]), now=0.0)
    assert len(limiter) == 3


def test_slots_cap_each_peer_and_the_total() -> None:
    slots = SlotLimiter(total=3, per_peer=2)
    assert slots.acquire(b"a")
    assert slots.acquire(b"a")
    assert not slots.acquire(b"a")
    assert slots.acquire(b"b")
    assert not slots.acquire(b"c")  # the node is full
    slots.release(b"a")
    assert slots.acquire(b"c")
    assert slots.in_use == 3


def test_bad_limits_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="requests_per_s"):
        PeerLimits(requests_per_s=0)
    with pytest.raises(ConfigError, match="per_peer"):
        PeerLimits(max_app_requests=4, max_app_requests_per_peer=5)
