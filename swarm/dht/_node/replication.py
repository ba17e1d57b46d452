"""Soft state (section 2.5): the node re-announces the records it published, pushes the records it
holds to the nodes now closest to them, stores on a newcomer the records it should now hold, and
hands its records on when it leaves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from synthswarm.swarm.dht._node.settings import DHTSettings
from synthswarm.swarm.dht._node.stats import NodeStats
from synthswarm.swarm.dht._node.storing import Placement
from synthswarm.swarm.dht.ids import Contact, distance
from synthswarm.swarm.dht.messages import Record, Store
from synthswarm.swarm.dht.routing import RoutingTable
from synthswarm.swarm.dht.storage import RecordStore

__all__ = ["Replicated", "Replication"]

_HANDOFF_ROUNDS = 4
"""Rounds of a hand-off: the first to the closest nodes, then to the next closest for records the
last round's nodes did not take (they were dead, or leaving too)."""


class Replicated(Protocol):
    """What replication needs of its node."""

    node_id: bytes
    settings: DHTSettings
    stats: NodeStats
    clock: Callable[[], float]
    table: RoutingTable
    store: RecordStore


@dataclass
class _Published:
    record: Record
    announced_at: float
    replicas: int = 0
    confirm: int | None = None


class Replication:
    """The records the node published, and the upkeep of every record it holds, through ``placement``."""

    def __init__(self, node: Replicated, placement: Placement) -> None:
        self._node = node
        self._placement = placement
        self._published: dict[tuple[bytes, bytes], _Published] = {}

    @property
    def published(self) -> int:
        return len(self._published)

    def publish(self, key: bytes, record: Record, replicas: int, confirm: int | None) -> None:
        """Re-announce ``record`` under ``key`` while the node lives."""
        self._published[(key, record.subkey)] = _Published(record, self._node.clock(), replicas, confirm)

    def unpublish(self, key: bytes, subkey: bytes) -> None:
        self._published.pop((key, subkey), None)

    async def republish(self) -> int:
        """Re-announce every published record now; returns how many."""
        now = self._node.clock()
        for (key, _), published in list(self._published.items()):
            await self._announce(key, published, now)
        return len(self._published)

    async def republish_due(self, now: float) -> None:
        """Re-announce the published records not announced for ``republish_interval_s``."""
        node, interval = self._node, self._node.settings.republish_interval_s
        for (key, _), published in list(self._published.items()):
            if now - published.announced_at >= interval:
                late = now - published.announced_at - interval
                node.stats.max_republish_delay_s = max(node.stats.max_republish_delay_s, late)
                node.stats.republished += 1
                await self._announce(key, published, now)

    async def _announce(self, key: bytes, published: _Published, now: float) -> None:
        published.announced_at = now
        await self._placement.store_on_closest(
            key, published.record, category="republish", replicas=published.replicas,
            confirm=published.confirm,
        )  # fmt: skip

    async def replicate(self, *, older_than_s: float) -> int:
        """Push held records not replicated for ``older_than_s`` to the nodes now closest to them
        (section 2.5: new nodes near a key learn of it). Returns how many records were pushed. Each
        due key costs one lookup, and all of its records go; a tick with no key due scans nothing."""
        store, times = self._node.store, self._placement.times
        now = self._node.clock()
        if not times.any_due(now, older_than_s):
            return 0
        held = list(store.keys())
        times.hold_only(held)
        pushed = 0
        for key in held:
            # A record that arrived by STORE counts as just replicated (Kademlia's optimisation in
            # section 2.5): otherwise all k holders would push every new record at the next tick.
            if times.age(key, now) < older_than_s:
                continue
            # Its own records under the key are republished (:meth:`republish`); the others' are
            # pushed here, even where this node published one of its own under the same key.
            others = [r for r in store.get(key) if (key, r.subkey) not in self._published]
            if others:
                pushed += await self._placement.store_all_on_closest(key, others, store.replicas_of(key))
            else:
                self._placement.mark_replicated(key)
        times.settle()
        return pushed

    async def welcome(self, contact: Contact) -> None:
        """Section 2.5: a node that learns of a new node stores on it the records it should now hold.
        Of the holders, only the one closest to a key sends it, so each record goes over once."""
        node = self._node
        items, held = [], node.store.keys()
        for key in held:  # a key's neighbourhood once, not once per record; its records only if sent
            replicas = node.store.replicas_of(key)
            count = replicas or node.settings.k
            # A contact nearer the key than this node, not the newcomer, sends it instead (it comes
            # first among ``others`` below): a test of a few int operations that spares the sort
            # for most keys. (A newcomer arrives with every contact a lookup finds, and sorting each
            # held key's neighbourhood for each was a quarter of the CPU of bench dht's gets.)
            if count > 1 and node.table.nearer_than_self(key, exclude=contact.node_id):
                continue
            closest = node.table.closest(key, count)
            if all(c.node_id != contact.node_id for c in closest):
                continue
            others = [c for c in closest if c.node_id != contact.node_id]
            if not others or distance(node.node_id, key) < distance(others[0].node_id, key):
                items += [Store(key, record, replicas) for record in node.store.get(key)]
        await self._placement.store_batches({contact: items}, category="welcome")

    async def hand_off(self) -> None:
        """On leaving: every held record to the nodes now closest to its key. From the start the node
        refuses new records (it would not pass them on). A node that is dead, or refuses because it
        is leaving too (half a swarm may leave at once), is dropped from the table, and the records
        it did not take go to the next closest, for up to :data:`_HANDOFF_ROUNDS` rounds."""
        node = self._node
        self._placement.leaving = True
        todo = list(node.store.by_key())
        sent: set[tuple[bytes, bytes]] = set()  # (key, node id): already given that key's records
        for _ in range(_HANDOFF_ROUNDS):
            batches: dict[Contact, list[Store]] = {}
            for key, records in todo:
                replicas = node.store.replicas_of(key)
                for contact in node.table.closest(key, replicas or node.settings.k):
                    if (key, contact.node_id) not in sent:
                        sent.add((key, contact.node_id))
                        batches.setdefault(contact, []).extend(Store(key, r, replicas) for r in records)
            if not batches:
                return
            _, unplaced = await self._placement.send_batches(batches, category="handoff")
            if not unplaced:
                return
            again: dict[bytes, dict[bytes, Record]] = {}
            for contact, item in unplaced:
                node.table.remove(contact.node_id)
                again.setdefault(item.key, {})[item.record.subkey] = item.record
            todo = [(key, list(records.values())) for key, records in again.items()]
