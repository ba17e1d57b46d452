"""The routing table: 256 k-buckets with least-recently-seen eviction and replacement caches.

Kademlia section 2.2: a full bucket does not drop its oldest contact for a newcomer. The table asks
its owner to ping the least-recently-seen contact first; only if that contact fails is it replaced
(section 4.1 adds the replacement cache that remembers newcomers until a slot frees up).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from synthswarm.swarm.dht.ids import ID_BITS, Contact, bucket_index

__all__ = ["AddResult", "KBucket", "RoutingTable"]


@dataclass
class KBucket:
    """Up to ``k`` contacts, least recently seen first, plus a bounded replacement cache."""

    k: int
    contacts: OrderedDict[bytes, Contact] = field(default_factory=OrderedDict)
    seen_at: dict[bytes, float] = field(default_factory=dict)
    replacements: OrderedDict[bytes, Contact] = field(default_factory=OrderedDict)
    last_touched: float = field(default_factory=time.monotonic)
    last_ping_at: float = -math.inf

    def touch(self, now: float | None = None) -> None:
        self.last_touched = time.monotonic() if now is None else now

    def least_recently_seen(self) -> Contact:
        return next(iter(self.contacts.values()))

    def remember_replacement(self, contact: Contact) -> None:
        self.replacements.pop(contact.node_id, None)
        self.replacements[contact.node_id] = contact
        while len(self.replacements) > self.k:
            self.replacements.popitem(last=False)


@dataclass(frozen=True)
class AddResult:
    """What :meth:`RoutingTable.add` did. ``ping`` is set when the bucket was full: ping that contact
    and call :meth:`RoutingTable.remove` if it fails, so the newcomer (now cached) takes its place."""

    added: bool
    ping: Contact | None = None
    new: bool = False
    """The contact was not in the table before (it may be a node that just joined)."""


class RoutingTable:
    """Contacts of one node, organised by XOR distance."""

    def __init__(
        self,
        own_id: bytes,
        k: int = 20,
        *,
        ping_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``ping_after_s``: a full bucket asks for its oldest contact to be pinged only if that contact
        has not been heard from for this long (one heard from just now is alive already), and at most
        once per that long. ``clock`` tells the time buckets are touched and go stale by (a
        benchmark may run it faster than the wall clock)."""
        self.own_id = own_id
        self.k = k
        self.ping_after_s = ping_after_s
        self.clock = clock
        self.buckets = [KBucket(k, last_touched=clock()) for _ in range(ID_BITS)]
        self._filled_bits = 0
        """The buckets that hold a contact, as the bits of one int (bit ``b``: bucket ``b``)."""
        self._own = int.from_bytes(own_id, "big")

    def __len__(self) -> int:
        return sum(len(b.contacts) for b in self.buckets)

    def __contains__(self, node_id: bytes) -> bool:
        return node_id != self.own_id and node_id in self._bucket(node_id).contacts

    def __iter__(self) -> Iterator[Contact]:
        for bucket in self.buckets:
            yield from bucket.contacts.values()

    def get(self, node_id: bytes) -> Contact | None:
        return None if node_id == self.own_id else self._bucket(node_id).contacts.get(node_id)

    def add(self, contact: Contact) -> AddResult:
        """Record that ``contact`` was just seen alive."""
        if contact.node_id == self.own_id:
            return AddResult(added=False)
        bucket = self._bucket(contact.node_id)
        now = self.clock()
        bucket.touch(now)
        if contact.node_id in bucket.contacts:
            # Seen again: move to the tail (most recently seen), keeping the newest address.
            del bucket.contacts[contact.node_id]
            bucket.contacts[contact.node_id] = contact
            bucket.seen_at[contact.node_id] = now
            return AddResult(added=True)
        if len(bucket.contacts) < self.k:
            self._filled_bits |= 1 << bucket_index(self.own_id, contact.node_id)
            bucket.contacts[contact.node_id] = contact
            bucket.seen_at[contact.node_id] = now
            bucket.replacements.pop(contact.node_id, None)
            return AddResult(added=True, new=True)
        bucket.remember_replacement(contact)
        oldest = bucket.least_recently_seen()
        # At most one liveness check per bucket per ping_after_s: a busy node hears from new
        # contacts all the time, and each one would otherwise cost its oldest contact a ping.
        recent = now - bucket.seen_at.get(oldest.node_id, -math.inf) < self.ping_after_s
        if recent or now - bucket.last_ping_at < self.ping_after_s:
            return AddResult(added=False)
        bucket.last_ping_at = now
        return AddResult(added=False, ping=oldest)

    def remove(self, node_id: bytes) -> bool:
        """Drop a contact that failed; its slot goes to the freshest replacement, if any."""
        if node_id == self.own_id:
            return False
        bucket = self._bucket(node_id)
        bucket.replacements.pop(node_id, None)
        if bucket.contacts.pop(node_id, None) is None:
            return False
        bucket.seen_at.pop(node_id, None)
        if bucket.replacements:
            _, replacement = bucket.replacements.popitem(last=True)
            bucket.contacts[replacement.node_id] = replacement
            bucket.seen_at[replacement.node_id] = self.clock()
        if not bucket.contacts:
            self._filled_bits &= ~(1 << bucket_index(self.own_id, node_id))
        return True

    def closest(
        self, target: bytes, count: int | None = None, *, exclude: bytes | None = None
    ) -> list[Contact]:
        """The ``count`` (default k) known contacts nearest ``target``, nearest first.

        Only the buckets that can hold them are sorted, never the whole table. With ``x = target XOR
        own id``, every contact of bucket ``b`` lies at a distance from ``target`` that agrees with
        ``x`` above bit ``b`` and has bit ``b`` flipped: the buckets' distance ranges are disjoint.
        Flipping a set bit makes the distance smaller, the more so the higher the bit, and flipping a
        clear bit makes it larger, the less so the lower the bit: so the buckets in order are those
        whose bit is set in ``x``, highest first, then the others, lowest first.
        """
        n = self.k if count is None else count
        t = int.from_bytes(target, "big")
        x = t ^ self._own
        out: list[Contact] = []
        nearer, farther = self._filled_bits & x, self._filled_bits & ~x
        while (nearer or farther) and len(out) < n:
            if nearer:
                b = nearer.bit_length() - 1
                nearer ^= 1 << b
            else:
                b = (farther & -farther).bit_length() - 1
                farther ^= 1 << b
            found = [c for c in self.buckets[b].contacts.values() if c.node_id != exclude]
            found.sort(key=lambda c: int.from_bytes(c.node_id, "big") ^ t)
            out += found[: n - len(out)]
        return out

    def nearer_than_self(self, target: bytes, *, exclude: bytes | None = None) -> bool:
        """Whether some contact (``exclude`` aside) is nearer ``target`` than this table's own id: a
        few operations on ints where :meth:`closest` sorts. As :meth:`closest` says, every contact of
        bucket ``b`` is nearer ``target`` than the own id exactly when bit ``b`` of ``target XOR own
        id`` is set, so the question is whether such a bucket holds anyone but ``exclude``."""
        nearer = self._filled_bits & (int.from_bytes(target, "big") ^ self._own)
        if not nearer or exclude is None or exclude == self.own_id:
            return bool(nearer)
        b = bucket_index(self.own_id, exclude)
        contacts = self.buckets[b].contacts
        return nearer != 1 << b or len(contacts) > 1 or exclude not in contacts

    def count_nearer_than_self(self, target: bytes, limit: int) -> int:
        """How many contacts are nearer ``target`` than this table's own id, counted up to ``limit``:
        the node is among the ``limit`` closest to ``target`` it knows exactly when this is below
        ``limit``. The nearer contacts fill whole buckets (see :meth:`nearer_than_self`), so this
        adds bucket sizes where :meth:`closest` would sort."""
        nearer = self._filled_bits & (int.from_bytes(target, "big") ^ self._own)
        count = 0
        while nearer and count < limit:
            b = nearer.bit_length() - 1
            nearer ^= 1 << b
            count += len(self.buckets[b].contacts)
        return min(count, limit)

    def stale_buckets(self, older_than_s: float) -> list[int]:
        """Indices of non-empty-range buckets not touched for ``older_than_s`` (section 2.3 refresh)."""
        now = self.clock()
        # Buckets below the one holding our nearest contact cover ranges almost surely empty. (The
        # filled buckets' indices, not every contact: each of thousands of nodes in a process asks
        # this every maintenance tick.)
        lowest = max(0, (self._filled_bits & -self._filled_bits).bit_length() - 1)
        return [i for i in range(lowest, ID_BITS) if now - self.buckets[i].last_touched > older_than_s]

    def _bucket(self, node_id: bytes) -> KBucket:
        return self.buckets[bucket_index(self.own_id, node_id)]
