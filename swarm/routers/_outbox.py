"""Deliveries that failed because the receiver could not be reached, kept to retry (hinted hand-off).

A receiver that is partitioned away, restarting or busy loses nothing it would have been sent: the
publisher keeps the delivery and :meth:`Outbox.retry` tries again later. The outbox is bounded: past
``capacity`` the oldest delivery is dropped and counted, as is one whose packet expires first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from synthswarm.swarm.dht import Contact
from synthswarm.swarm.packet import OutcomePacket
from synthswarm.swarm.routers._base import Outcome

__all__ = ["Outbox", "OutboxStats", "PendingDelivery"]


@dataclass(frozen=True)
class PendingDelivery:
    packet: OutcomePacket
    agent_id: bytes
    contact: Contact
    publisher_node: bytes


@dataclass
class OutboxStats:
    queued: int = 0
    redelivered: int = 0
    dropped: int = 0
    """Deliveries given up: the outbox was full, or the packet expired before the receiver came back."""


class Outbox:
    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self.stats = OutboxStats()
        self._pending: deque[PendingDelivery] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, delivery: PendingDelivery) -> None:
        self._pending.append(delivery)
        self.stats.queued += 1
        while len(self._pending) > self.capacity:
            self._pending.popleft()
            self.stats.dropped += 1

    def drop(self, agent_id: bytes) -> int:
        """Forget the deliveries pending for ``agent_id`` (it left the swarm); returns how many, also
        counted in ``stats.dropped``."""
        kept = deque(d for d in self._pending if d.agent_id != agent_id)
        dropped = len(self._pending) - len(kept)
        self._pending = kept
        self.stats.dropped += dropped
        return dropped

    async def retry(self, send: Callable[[PendingDelivery], Awaitable[Outcome | None]]) -> int:
        """Try every pending delivery once; returns how many got through. ``send`` answers None when
        the receiver is still unreachable (the delivery stays)."""
        done = 0
        for _ in range(len(self._pending)):
            delivery = self._pending.popleft()
            if delivery.packet.is_expired():
                self.stats.dropped += 1
                continue
            if await send(delivery) is None:
                self._pending.append(delivery)
            else:
                done += 1
        self.stats.redelivered += done
        return done
