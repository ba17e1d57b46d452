"""What a node counts, :class:`NodeStats`, and the sums over many nodes that benchmarks report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from synthswarm.swarm.dht.transport import TransportStats

__all__ = ["Counted", "NodeStats", "bytes_sent", "requests_by_category", "requests_sent"]


@dataclass
class NodeStats:
    """Counters of one node since it started."""

    rpcs_sent: dict[str, int] = field(default_factory=dict)
    rpcs_served: int = 0
    rpc_failures: int = 0
    bad_frames: int = 0
    unmatched_replies: int = 0
    impostors: int = 0
    """Secured frames whose claimed key was not the key their connection proved."""
    handler_failures: int = 0
    """Application handlers that raised something other than a DHTError (a bug, answered "internal")."""
    stores_refused: int = 0
    lookups: int = 0
    lookup_requests: int = 0
    """Requests the node's lookups sent (FIND_NODE), so a lookup's mean cost is this over ``lookups``."""
    rate_limited: int = 0
    """Requests dropped because their sender was over its rate."""
    busy_refused: int = 0
    """Application requests refused because their sender, or the node, had too many in service."""
    maintenance_rounds: int = 0
    republished: int = 0
    """Own records re-announced by maintenance."""
    max_round_delay_s: float = 0.0
    """Longest a maintenance round started after its tick was due (the event loop was busy)."""
    lookups_shared: int = 0
    """Stores that used a lookup another store to the same key had just made."""
    max_republish_delay_s: float = 0.0
    """Longest a record's re-announcement came after it was due (by :attr:`DHTNode.clock`)."""

    def sent(self, category: str) -> None:
        self.rpcs_sent[category] = self.rpcs_sent.get(category, 0) + 1


class Counted(Protocol):
    """What the sums read of a node."""

    @property
    def stats(self) -> NodeStats: ...

    def transport_stats(self) -> TransportStats: ...


def requests_by_category(nodes: Iterable[Counted]) -> Counter[str]:
    """Requests the ``nodes`` have sent so far, counted where they are sent, by category (a node's
    requests to itself among them, though answered without the socket). Killed nodes keep their counts."""
    total: Counter[str] = Counter()
    for node in nodes:
        total.update(node.stats.rpcs_sent)
    return total


def requests_sent(nodes: Iterable[Counted], categories: Collection[str] | None = None) -> int:
    """Requests the ``nodes`` have sent so far, of the given categories (None: all of them)."""
    sent = requests_by_category(nodes)
    return sum(v for c, v in sent.items() if categories is None or c in categories)


def bytes_sent(nodes: Iterable[Counted]) -> int:
    """Bytes the ``nodes`` have sent so far."""
    return sum(n.transport_stats().bytes_out for n in nodes)
