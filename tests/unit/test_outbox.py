"""The outbox of deliveries to retry: bounded, expiring, and keeping what is still unreachable."""

from __future__ import annotations

import time

import numpy as np

from synthswarm.swarm.dht import Contact
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import make_packet
from synthswarm.swarm.routers._base import Outcome
from synthswarm.swarm.routers._outbox import Outbox, PendingDelivery

ME = Identity.from_seed(b"\x03" * 32)
PEER = Contact(b"\x09" * 32, "inproc://peer")


def pending(i: int, *, expired: bool = False) -> PendingDelivery:
    created = int(time.time() * 1000) - (5000 if expired else 0)
    ttl = 1 if expired else 60
    packet = make_packet(
        ME, kind="finding", topic="t", finding=f"f{i}", embedding=np.ones(4), ttl_s=ttl, created_at_ms=created
    )
    return PendingDelivery(packet, bytes([i]) * 32, PEER, ME.id)


async def test_retry_keeps_what_is_still_unreachable() -> None:
    box = Outbox()
    for i in range(4):
        box.add(pending(i))
    reachable = {bytes([0]) * 32, bytes([2]) * 32}

    async def send(d: PendingDelivery) -> Outcome | None:
        return Outcome.DELIVERED if d.agent_id in reachable else None

    assert await box.retry(send) == 2
    assert sorted(d.agent_id[0] for d in box._pending) == [1, 3]
    reachable.update({bytes([1]) * 32, bytes([3]) * 32})
    assert await box.retry(send) == 2
    assert len(box) == 0
    assert (box.stats.queued, box.stats.redelivered, box.stats.dropped) == (4, 4, 0)


async def test_a_full_outbox_drops_the_oldest_and_expired_packets_are_dropped() -> None:
    box = Outbox(capacity=2)
    for i in range(3):
        box.add(pending(i))
    assert [d.agent_id[0] for d in box._pending] == [1, 2]
    box.add(pending(7, expired=True))
    sent: list[int] = []

    async def send(d: PendingDelivery) -> Outcome | None:
        sent.append(d.agent_id[0])
        return Outcome.DELIVERED

    await box.retry(send)
    assert sent == [2]  # 0 and 1 fell out as newer ones came; the expired one was never sent
    assert box.stats.dropped == 3
