"""Where a key's records go: STOREs on the nodes closest to it, after one lookup that stores to the
same key share; STOREs from peers accepted here; and when each held key was last stored on its
closest nodes, which tells replication what is due (section 2.5)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from synthswarm.swarm.dht._node.persistence import StateFiles
from synthswarm.swarm.dht._node.settings import DHTSettings
from synthswarm.swarm.dht._node.stats import NodeStats
from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.dht.lookup import LookupResult
from synthswarm.swarm.dht.messages import (
    MAX_FRAME_BYTES,
    MAX_RECORDS,
    Message,
    Record,
    Store,
    Stored,
    StoredMany,
    StoreMany,
)
from synthswarm.swarm.dht.storage import KEY_FULL, LEAVING

__all__ = ["Placement", "Placing", "PutResult", "ReplicationTimes"]

#: A lookup a store made (or is making) of a key's closest nodes.
_Held = LookupResult | asyncio.Future[LookupResult]

_HOT_KEYS = 1024
"""Keys whose closest contacts a node keeps for further stores (see ``holders_cache_s``)."""

_BATCH_BYTES = MAX_FRAME_BYTES - 4096
"""A STORE_MANY's records fill at most this much of a frame (the envelope and msgpack heads fit in
the rest)."""


@dataclass(frozen=True)
class PutResult:
    key: bytes
    stored: int
    """How many nodes (this one included, if it is among the closest) accepted the record."""
    lookup: LookupResult
    refused: tuple[str, ...] = ()
    """Why the nodes that answered but would not keep the record refused it (a full store, too many
    records under the key): a put with ``stored == 0`` and refusals lost the record to a cap."""
    sent: int = 0
    """STORE requests sent (to other nodes)."""


class Placing(Protocol):
    """What placing records needs of its node."""

    node_id: bytes
    settings: DHTSettings
    stats: NodeStats
    clock: Callable[[], float]

    async def lookup(
        self, target: bytes, *, category: str = ..., count: int | None = ..., confirm: int | None = ...
    ) -> LookupResult: ...

    async def call(self, contact: Contact, message: Message, *, category: str = ...) -> Message: ...

    def is_among_closest(self, key: bytes, closest: Sequence[Contact], count: int | None = ...) -> bool: ...


class ReplicationTimes:
    """When each held key was last stored on its closest nodes, by the node's clock."""

    def __init__(self) -> None:
        self.at: dict[bytes, float] = {}
        self.oldest = float("-inf")
        """No held key was replicated before this (a lower bound; -inf: not known yet, so scan)."""

    def mark(self, key: bytes, now: float) -> None:
        self.at[key] = now
        self.oldest = min(self.oldest, now)

    def any_due(self, now: float, older_than_s: float) -> bool:
        """Whether a held key may not have been replicated for ``older_than_s`` (cheap: no scan)."""
        return now - self.oldest >= older_than_s

    def hold_only(self, held: list[bytes]) -> None:
        """Forget the keys no longer held."""
        self.at = {k: self.at[k] for k in held if k in self.at}

    def age(self, key: bytes, now: float) -> float:
        """How long since ``key`` was replicated; a key never seen counts as replicated ``now``."""
        return now - self.at.setdefault(key, now)

    def settle(self) -> None:
        """After a scan of every held key: the oldest replication is now known exactly."""
        self.oldest = min(self.at.values(), default=float("inf"))


class Placement:
    """Stores the node's records on the nodes closest to their keys, and keeps the records peers
    store on it (journalled, through ``files``)."""

    def __init__(self, node: Placing, files: StateFiles) -> None:
        self._node = node
        self._files = files
        self.times = ReplicationTimes()
        self._hot: dict[tuple[bytes, int, int | None], tuple[float, _Held]] = {}
        self.leaving = False
        """Set when the node starts handing its records on: it refuses new ones from then on
        (:data:`~synthswarm.swarm.dht.storage.LEAVING`), so none arrive after its hand-off began."""

    def keep(self, key: bytes, record: Record, replicas: int = 0) -> tuple[bool, str]:
        return self._files.keep(key, record, replicas)

    def mark_replicated(self, key: bytes) -> None:
        self.times.mark(key, self._node.clock())

    def accept(self, message: Store) -> Stored:
        """A peer's STORE: kept unless a cap refuses it, or this node is leaving."""
        if self.leaving:
            return Stored(False, LEAVING)
        ok, reason = self.keep(message.key, message.record, message.replicas)
        # Section 2.5: the other k-1 holders got the same STORE, so none of us need push this
        # record again for a full replicate interval.
        self.mark_replicated(message.key)
        if not ok:
            self._node.stats.stores_refused += 1
        return Stored(ok, reason)

    async def store_on_closest(
        self, key: bytes, record: Record, *, category: str, replicas: int = 0, confirm: int | None = None,
        full_first: bool = False,
    ) -> PutResult:  # fmt: skip
        """STORE on the ``replicas`` (0: k) live nodes closest to ``key``, this one included if it
        is among them (``full_first``: see :meth:`DHTNode.put`). Refusals are returned, never dropped."""
        found, holders, mine = await self.holders(key, replicas, category, confirm)
        stored, refused, sent = 0, list[str](), 0
        if mine:
            ok, reason = self.keep(key, record, replicas)
            stored, refused = int(ok), ([] if ok else [reason])
        elif full_first and holders:
            sent += 1
            stored, refused = await self._store_replies([holders.pop(0)], key, record, replicas, category)
        if full_first and refused == [KEY_FULL]:
            return PutResult(key, 0, found, (KEY_FULL,), sent)
        more_stored, more_refused = await self._store_replies(holders, key, record, replicas, category)
        sent += len(holders)
        leaving = more_refused.count(LEAVING)
        if leaving:  # holders handing their records on: the next closest take their place, once
            more_refused = [r for r in more_refused if r != LEAVING]
            n = (replicas or self._node.settings.k) + leaving
            again = await self._node.lookup(key, category=category, count=n)
            tried = {c.node_id for c in holders} | {self._node.node_id}
            extra = [c for c in again.contacts if c.node_id not in tried][:leaving]
            extra_stored, extra_refused = await self._store_replies(extra, key, record, replicas, category)
            more_stored += extra_stored
            more_refused += extra_refused
            sent += len(extra) + again.rpcs
        self.mark_replicated(key)
        return PutResult(key, stored + more_stored, found, tuple(refused + more_refused), sent)

    async def store_all_on_closest(self, key: bytes, records: list[Record], replicas: int) -> int:
        """Store every one of ``records`` under ``key`` on the ``replicas`` (0: k) nodes closest to it,
        after one lookup (for replication). Returns how many records went."""
        _, holders, mine = await self.holders(key, replicas, "replicate")
        items = [Store(key, r, replicas) for r in records]
        await self.store_batches({c: items for c in holders}, category="replicate")
        if mine:
            for record in records:
                self.keep(key, record, replicas)
        self.mark_replicated(key)
        return len(records)

    async def holders(
        self, key: bytes, replicas: int, category: str, confirm: int | None = None
    ) -> tuple[LookupResult, list[Contact], bool]:
        """The ``replicas`` (0: k) live nodes closest to ``key`` after a lookup: (the lookup, the
        others among them, whether this node is one of them)."""
        node = self._node
        n = replicas or node.settings.k
        if category == "store":  # replication and re-announcing look afresh: churn is their business
            found = await self._hot_lookup(key, category, n, confirm)
        else:
            found = await node.lookup(key, category=category, count=n, confirm=confirm)
        mine = node.is_among_closest(key, found.contacts, n)
        return found, list(found.contacts[: n - 1 if mine else n]), mine

    async def store_batches(self, batches: dict[Contact, list[Store]], *, category: str) -> int:
        """Send each contact its STOREs, as few STORE_MANY requests as fit in frames (a lone one as
        a plain STORE), 64 requests at a time. Returns how many records were kept; a holder that
        fails or refuses costs only its own."""
        kept, _ = await self.send_batches(batches, category=category)
        return kept

    async def send_batches(
        self, batches: dict[Contact, list[Store]], *, category: str
    ) -> tuple[int, list[tuple[Contact, Store]]]:
        """:meth:`store_batches`, and the stores that did not land where they should have: those
        whose request failed (the contact is dead or cut off) and those refused because the contact
        is itself leaving; the caller may place them elsewhere. (Refusals at a cap are final.)"""
        requests: list[tuple[Contact, list[Store]]] = []
        for contact, items in batches.items():
            requests += [(contact, chunk) for chunk in _frame_chunks(items)]
        kept, unplaced = 0, list[tuple[Contact, Store]]()
        for start in range(0, len(requests), 64):
            part = requests[start : start + 64]
            replies = await asyncio.gather(
                *(
                    self._node.call(c, ch[0] if len(ch) == 1 else StoreMany(tuple(ch)), category=category)
                    for c, ch in part
                ),
                return_exceptions=True,
            )
            for (contact, chunk), reply in zip(part, replies, strict=True):
                results: tuple[Stored, ...] | None = (reply,) if isinstance(reply, Stored) else None
                if isinstance(reply, StoredMany):
                    results = reply.results
                if results is None or len(results) != len(chunk):
                    unplaced += [(contact, item) for item in chunk]  # failed, or answered nonsense
                    continue
                for item, result in zip(chunk, results, strict=True):
                    kept += result.ok
                    if not result.ok and result.reason == LEAVING:
                        unplaced.append((contact, item))
        return kept, unplaced

    async def _store_replies(
        self, holders: list[Contact], key: bytes, record: Record, replicas: int, category: str
    ) -> tuple[int, list[str]]:
        """STORE on every one of ``holders`` at once: (how many kept it, why the others refused)."""
        stores = [self._node.call(c, Store(key, record, replicas), category=category) for c in holders]
        replies = await asyncio.gather(*stores, return_exceptions=True)
        stored = sum(1 for r in replies if isinstance(r, Stored) and r.ok)
        return stored, [r.reason for r in replies if isinstance(r, Stored) and not r.ok]

    async def _hot_lookup(self, key: bytes, category: str, n: int, confirm: int | None) -> LookupResult:
        """A lookup for a put, shared by the puts to the same key made meanwhile or within
        ``holders_cache_s`` (an agent's interest rows that fall in one bucket, a burst of puts): the
        closest contacts of a hot key are looked up once. A failed or empty lookup is not kept."""
        node = self._node
        slot = (key, n, confirm)
        now = node.clock()
        cached = self._hot.get(slot)
        if cached is not None:
            expires, held = cached
            if isinstance(held, asyncio.Future):
                node.stats.lookups_shared += 1
                return await asyncio.shield(held)
            if now < expires:
                node.stats.lookups_shared += 1
                return held
        pending: asyncio.Future[LookupResult] = asyncio.get_running_loop().create_future()
        self._hot[slot] = (now + node.settings.holders_cache_s, pending)
        while len(self._hot) > _HOT_KEYS:
            self._hot.pop(next(iter(self._hot)))
        try:
            found = await node.lookup(key, category=category, count=n, confirm=confirm)
        except BaseException as exc:
            self._hot.pop(slot, None)
            pending.set_exception(exc)
            pending.exception()  # retrieved: waiters, if any, get it too
            raise
        pending.set_result(found)
        if node.settings.holders_cache_s > 0 and found.contacts:  # an empty answer: none answered
            self._hot[slot] = (now + node.settings.holders_cache_s, found)
        else:
            self._hot.pop(slot, None)
        return found


def _frame_chunks(items: list[Store]) -> Iterator[list[Store]]:
    """``items`` in runs that each fit one frame (and at most MAX_RECORDS)."""
    chunk: list[Store] = []
    size = 0
    for item in items:
        cost = len(item.key) + len(item.record.subkey) + len(item.record.value) + 32
        if chunk and (size + cost > _BATCH_BYTES or len(chunk) == MAX_RECORDS):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += cost
    if chunk:
        yield chunk
