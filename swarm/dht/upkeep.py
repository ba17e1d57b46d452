"""The DHT's upkeep as a user can judge it: requests per node per minute, by kind, counted at the
socket, beside the rate Kademlia's intervals predict for the same swarm.

Kinds (request categories of :class:`~synthswarm.swarm.dht.node.NodeStats`):

- ``refresh``: lookups of a random id in every bucket untouched for ``refresh_interval_s`` and its own
  share of up to :data:`~synthswarm.swarm.dht._node.joining.REFRESH_SPREAD` of it more (so nodes that
  joined together do not refresh together);
- ``ping``: liveness checks of a full bucket's oldest contact (``evict``), and explicit pings;
- ``republish``: a publisher re-announcing its own records every ``republish_interval_s``;
- ``replicate``: a holder pushing each key it holds to the key's closest nodes every
  ``replicate_interval_s``;
- ``welcome``: records stored on newcomers (churn, not a period).

:func:`expected` is the prediction for an idle swarm, every period elapsing with nothing else
touching the buckets or the keys, so it is an upper bound for a busy one: traffic refreshes buckets
for free, and a key stored within the interval is not pushed again (Kademlia's own optimisation).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from synthswarm.swarm.dht._node.joining import REFRESH_SPREAD
from synthswarm.swarm.dht._node.settings import DHTSettings
from synthswarm.swarm.dht.node import DHTNode

__all__ = ["KINDS", "Shape", "Upkeep", "expected", "measured", "shape"]

KINDS: dict[str, tuple[str, ...]] = {
    "refresh": ("refresh",),
    "ping": ("evict", "ping"),
    "republish": ("republish",),
    "replicate": ("replicate",),
    "welcome": ("welcome",),
}


@dataclass(frozen=True)
class Upkeep:
    """Requests per node per minute, by kind (:data:`KINDS`), and in all."""

    by_kind: dict[str, float]

    @property
    def total(self) -> float:
        return round(sum(self.by_kind.values()), 2)

    def as_dict(self) -> dict[str, float]:
        return {**self.by_kind, "total": self.total}


def measured(before: Counter[str], after: Counter[str], nodes: int, minutes: float) -> Upkeep:
    """The upkeep ``nodes`` nodes sent in ``minutes``, from their requests by category before and
    after (:func:`~synthswarm.swarm.dht.node.requests_by_category`)."""
    scale = 1.0 / max(1, nodes) / max(minutes, 1e-9)
    return Upkeep(
        {
            kind: round(sum(after.get(c, 0) - before.get(c, 0) for c in categories) * scale, 3)
            for kind, categories in KINDS.items()
        }
    )


@dataclass(frozen=True)
class Shape:
    """What the prediction needs of a swarm, per node on average."""

    nodes: int
    buckets: float
    """Non-empty buckets in a routing table (about log2 of the swarm's size)."""
    published: float
    """Records the node publishes and re-announces."""
    held_keys: float
    """Keys the node holds records under."""
    lookup_requests: float
    """Requests one lookup takes, as measured (about ``alpha`` times the hops)."""
    replicas: float
    """Nodes a key is stored on (k, or fewer where the publisher asked)."""


def shape(nodes: Iterable[DHTNode]) -> Shape:
    """The :class:`Shape` of the live ``nodes`` now."""
    live = [n for n in nodes if not n.closed]
    count = max(1, len(live))
    lookups = sum(n.stats.lookups for n in live)
    held = [(n, key) for n in live for key in n.store.keys()]  # noqa: SIM118 (a RecordStore)
    replicas = [n.store.replicas_of(key) or n.settings.k for n, key in held]
    return Shape(
        nodes=len(live),
        buckets=sum(sum(1 for b in n.table.buckets if b.contacts) for n in live) / count,
        published=sum(n.published_records for n in live) / count,
        held_keys=len(held) / count,
        lookup_requests=sum(n.stats.lookup_requests for n in live) / max(1, lookups),
        replicas=sum(replicas) / len(replicas) if replicas else float(live[0].settings.k if live else 20),
    )


def expected(settings: DHTSettings, swarm: Shape) -> Upkeep:
    """Kademlia's upkeep at ``settings``' intervals for a swarm of ``swarm``'s shape, idle: each
    bucket refreshed once a refresh interval and the mean of its spread, ``REFRESH_SPREAD / 2`` of an
    interval more (one lookup), each own record re-announced once a
    republish interval (a lookup and a STORE to each holder), each held key pushed once a replicate
    interval (a lookup and a batch to each holder) unless a STORE refreshed it within the interval
    (section 2.5's optimisation: with publishers alive that re-announce more often than the replicate
    interval, no key comes due), no eviction pings and no newcomers."""
    lookup = swarm.lookup_requests
    store = lookup + swarm.replicas
    pushed = 0.0 if settings.republish_interval_s <= settings.replicate_interval_s else swarm.held_keys
    return Upkeep(
        {
            "refresh": _rate(swarm.buckets * lookup, settings.refresh_interval_s * (1 + REFRESH_SPREAD / 2)),
            "ping": 0.0,
            "republish": _rate(swarm.published * store, settings.republish_interval_s),
            "replicate": _rate(pushed * store, settings.replicate_interval_s),
            "welcome": 0.0,
        }
    )


def _rate(requests: float, interval_s: float) -> float:
    """Requests per minute when ``requests`` are sent once every ``interval_s``."""
    if interval_s <= 0 or math.isinf(interval_s):
        return 0.0
    return round(requests / (interval_s / 60.0), 3)
