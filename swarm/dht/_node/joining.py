"""Joining (section 2.3): reach a known node, look up the node's own id, refresh the buckets farther
than its nearest neighbour, and ask its nearest nodes for its welcome
(:mod:`synthswarm.swarm.dht._node.welcoming`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from synthswarm.swarm.dht._node.settings import DHTSettings
from synthswarm.swarm.dht._node.welcoming import WELCOME_TOPIC, Welcomes
from synthswarm.swarm.dht.curve import CurveKeys, split_address
from synthswarm.swarm.dht.ids import ID_BYTES, Contact, distance, random_id_in_bucket
from synthswarm.swarm.dht.lookup import LookupResult
from synthswarm.swarm.dht.routing import RoutingTable
from synthswarm.swarm.errors import BootstrapError

__all__ = ["join", "refresh_buckets"]


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
        await refresh_buckets(node, range(first, ID_BYTES * 8), confirm=node.settings.alpha)


async def refresh_buckets(node: Joining, indices: Iterable[int], *, confirm: int | None = None) -> None:
    """Look up a random id in each of the buckets ``indices`` (their RPCs labelled ``refresh``)."""
    targets = []
    for index in indices:
        node.table.buckets[index].touch(node.clock())
        targets.append(random_id_in_bucket(node.node_id, index))
    lookups = (node.lookup(t, category="refresh", confirm=confirm) for t in targets)
    await asyncio.gather(*lookups, return_exceptions=True)
