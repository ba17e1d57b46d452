"""Abuse limits of one node: per-peer request rates and a cap on concurrent application requests.

A peer that floods a node is throttled by a token bucket of its own (requests over its rate are
dropped unanswered, which costs the node nothing but the decode), and can hold only a bounded share
of the slots that serve application requests, so it cannot exhaust memory or starve other peers.
ZeroMQ's ROUTER reads connections fair-queued and bounds each one's queue (its high-water mark), so
a flood waits in the flooder's own queue rather than ahead of other peers' requests.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from synthswarm.swarm.errors import ConfigError

__all__ = ["PeerLimits", "RateLimiter", "SlotLimiter"]


@dataclass(frozen=True)
class PeerLimits:
    requests_per_s: float = 2000.0
    """Sustained requests one peer (one sender key) may make of this node."""
    burst: int = 4000
    """Requests a peer may make at once before its rate applies."""
    max_peers_tracked: int = 8192
    """Token buckets kept; the least recently active peer's is dropped beyond this."""
    max_app_requests: int = 1024
    """Application requests (packet deliveries, rendezvous, ...) served at once; more are refused."""
    max_app_requests_per_peer: int = 256
    """Of those, how many one peer may hold."""

    def __post_init__(self) -> None:
        for name in ("requests_per_s", "burst", "max_peers_tracked", "max_app_requests"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"dht.limits.{name}", f"must be positive, got {getattr(self, name)}")
        if not 0 < self.max_app_requests_per_peer <= self.max_app_requests:
            raise ConfigError("dht.limits.max_app_requests_per_peer", "must be in 1..max_app_requests")


class RateLimiter:
    """One token bucket per peer, in bounded memory."""

    def __init__(self, rate: float, burst: int, max_peers: int) -> None:
        self.rate = rate
        self.burst = burst
        self.max_peers = max_peers
        self._buckets: OrderedDict[bytes, list[float]] = OrderedDict()  # peer -> [tokens, at]

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, peer: bytes, now: float | None = None) -> bool:
        t = time.monotonic() if now is None else now
        bucket = self._buckets.get(peer)
        if bucket is None:
            bucket = self._buckets[peer] = [float(self.burst), t]
            while len(self._buckets) > self.max_peers:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(peer)
            bucket[0] = min(float(self.burst), bucket[0] + (t - bucket[1]) * self.rate)
            bucket[1] = t
        if bucket[0] < 1.0:
            return False
        bucket[0] -= 1.0
        return True


class SlotLimiter:
    """Counts requests in service, in total and per peer."""

    def __init__(self, total: int, per_peer: int) -> None:
        self.total = total
        self.per_peer = per_peer
        self._held: dict[bytes, int] = {}
        self._in_use = 0

    @property
    def in_use(self) -> int:
        return self._in_use

    def acquire(self, peer: bytes) -> bool:
        held = self._held.get(peer, 0)
        if self._in_use >= self.total or held >= self.per_peer:
            return False
        self._held[peer] = held + 1
        self._in_use += 1
        return True

    def release(self, peer: bytes) -> None:
        held = self._held.get(peer, 0) - 1
        if held <= 0:
            self._held.pop(peer, None)
        else:
            self._held[peer] = held
        self._in_use -= 1
