"""Joining (section 2.3): reach a known node, look up the node's own id, refresh the buckets farther
than its nearest neighbour, and ask its nearest nodes for its welcome
(:mod:`synthswarm.swarm.dht._node.welcoming`)."""

from __future__ import annotations

import asyncio
import hashlib
import math
import struct
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from synthswarm.swarm.dht._node.settings import DHTSettings
from synthswarm.swarm.dht._node.welcoming import WELCOME_TOPIC, Welcomes
from synthswarm.swarm.dht.curve import CurveKeys, split_address
from synthswarm.swarm.dht.ids import ID_BYTES, Contact, distance, random_id_in_bucket
from synthswarm.swarm.dht.lookup import LookupResult
from synthswarm.swarm.dht.routing import RoutingTable
from synthswarm.swarm.errors import BootstrapError

__all__ = ["REFRESH_SPREAD", "join", "refresh_buckets", "refresh_due_after"]

#: How much longer than the refresh interval a bucket may wait for its periodic refresh, as a fraction
#: of the interval: each bucket waits its own share of it, drawn anew each time it is touched. Nodes
#: that join together (a swarm started at once) see the same traffic at their join; without this, all
#: their refreshes would come due in the same few minutes one interval later, and again every
#: interval, a burst of full lookups on top of whatever the swarm does then (issue 27). The mean
#: wait is ``1 + REFRESH_SPREAD / 2`` intervals (:func:`synthswarm.swarm.dht.upkeep.expected`).
REFRESH_SPREAD = 0.5


class Joining(Protocol):
    """What joining needs of its node."""

    node_id: bytes
    address: str
    settings: DHTSettings
    table: RoutingTable
    clock: Callable[[], float]

    async def lookup(
        self, target: bytes, *, category: str = ..., count: int | None = ..., confirm: int | None = ...
    ) -> LookupResult: ...

    async def app_request(
        self, contact: Contact, topic: str, payload: bytes, *, category: str = ...
    ) -> bytes: ...


async def join(
    node: Joining,
    addresses: Iterable[str],
    ping: Callable[[str], Awaitable[object]],
    welcomes: Welcomes,
    curve: CurveKeys | None,
) -> int:
    """Join through any of ``addresses`` (each pinged with ``ping``); returns how many answered.
    Raises :class:`BootstrapError` when none did."""
    targets = [a for a in dict.fromkeys(addresses) if a != node.address]
    if not targets:
        raise BootstrapError("no bootstrap address other than this node's own")
    pings = [asyncio.ensure_future(ping(a)) for a in targets]
    done, pending = await asyncio.wait(pings, timeout=node.settings.bootstrap_timeout_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    answered = [t.result() for t in done if not t.cancelled() and t.exception() is None]
    if not answered:
        hint = ""
        if curve is None and any(split_address(a)[1] for a in targets):
            hint = " (secured addresses: join them with DHTSettings(secure=True) or --secure)"
        elif curve is None:
            hint = " (a secured swarm answers only at the address it prints, ending in #<curve key>)"
        raise BootstrapError(
            f"none of the {len(targets)} bootstrap address(es) answered: {', '.join(targets[:5])}{hint}"
        )
    nearest = await node.lookup(node.node_id)
    await _refresh_far_buckets(node)

    async def ask(contact: Contact) -> bytes:
        return await node.app_request(contact, WELCOME_TOPIC, b"", category="bootstrap")

    await welcomes.ask(nearest.contacts, ask)
    return len(answered)


async def _refresh_far_buckets(node: Joining) -> None:
    """After joining, look up a random id in every bucket farther than the nearest neighbour.

    These lookups stop once ``alpha`` of the closest have answered (``confirm``): that puts
    contacts in every bucket and tells nodes all over the id space of the newcomer, which is
    what a join needs; the buckets fill the rest of the way from traffic and the periodic
    refreshes, which are full lookups. A full lookup per bucket was most of a join's requests."""
    nearest = node.table.closest(node.node_id, 1)
    if nearest:
        first = distance(node.node_id, nearest[0].node_id).bit_length()
        await refresh_buckets(node, range(first, ID_BYTES * 8), confirm=node.settings.alpha, spread=False)


async def refresh_buckets(
    node: Joining, indices: Iterable[int], *, confirm: int | None = None, spread: bool = True
) -> None:
    """Look up a random id in each of the buckets ``indices`` (their RPCs labelled ``refresh``). With
    ``spread`` (the periodic refresh of stale buckets) a bucket is skipped until it has gone untouched
    for its own :func:`refresh_due_after`; a join refreshes every bucket it names (``spread=False``).

    Each target is drawn from the node's id, the bucket and the node's clock, as the wait is: on a
    virtual clock a seeded simulation then repeats exactly (targets from ``os.urandom`` made every run
    send different lookups, and so draw different losses and delays, an unseeded input)."""
    targets = []
    now = node.clock()
    for index in indices:
        bucket = node.table.buckets[index]
        if spread and now - bucket.last_touched <= refresh_due_after(node, index, bucket.last_touched):
            continue
        bucket.touch(now)
        targets.append(random_id_in_bucket(node.node_id, index, salt=struct.pack(">d", now)))
    lookups = (node.lookup(t, category="refresh", confirm=confirm) for t in targets)
    await asyncio.gather(*lookups, return_exceptions=True)


def refresh_due_after(node: Joining, index: int, touched: float) -> float:
    """Seconds bucket ``index``, last touched at ``touched``, waits untouched before its periodic
    refresh: the refresh interval and a share of up to :data:`REFRESH_SPREAD` of it more, uniform,
    drawn from the node's id, the bucket and when it was touched (so a seeded swarm repeats, the draw
    holds until the bucket is touched again, and no two nodes or buckets wait alike)."""
    interval = node.settings.refresh_interval_s
    if not math.isfinite(interval) or interval <= 0:
        return interval
    digest = hashlib.blake2b(node.node_id + struct.pack(">Hd", index, touched), digest_size=8).digest()
    return interval * (1.0 + REFRESH_SPREAD * int.from_bytes(digest, "big") / 2**64)
