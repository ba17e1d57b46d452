"""Where every node of a simulated swarm sits: its id, its address, and what a converged routing
table of it holds, computed from the sorted ids alone, for any node at any moment.

Node ``i`` of a swarm of seed ``s`` has the identity
:func:`~synthswarm.swarm.dht.testing.seeded_identity` gives it (the same as a real swarm's node ``i``
with ``seeded_ids``) and the address :func:`address_of` gives it. A converged
table (Kademlia section 2.2) holds, per bucket i (ids at XOR distance [2^i, 2^(i+1))), every node of
that range if it holds at most k, else k of them drawn at random. The random draw is seeded per node
(:func:`node_rng`), so a node's table is the same whether it is built with all the others at the
start (``constructed``) or on its own when a message first reaches it (``lazy``).
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence

from synthswarm.swarm.dht.ids import ID_BITS, Contact
from synthswarm.swarm.dht.testing import seeded_identity
from synthswarm.swarm.sim._network import address_of

__all__ = ["SwarmIds", "converged_contacts", "node_rng"]

_SMALL = 32
"""Ranges of at most this many ids are sorted by distance outright (see :meth:`SwarmIds.closest`)."""


def node_rng(seed: int, index: int) -> random.Random:
    """The draws of node ``index``'s converged table: its own, so no other node's table moves them."""
    return random.Random(int.from_bytes(hashlib.sha256(f"table/{seed}/{index}".encode()).digest()[:8], "big"))


class SwarmIds:
    """The ids of ``len(ids)`` nodes (node ``i`` at ``ids[i]``, reached at ``address_of(i)``), sorted
    once, so the nodes closest to a key and a node's converged table cost a few binary searches."""

    def __init__(self, ids: Sequence[bytes], seed: int = 0) -> None:
        self.seed = seed
        self.ids = list(ids)
        order = sorted(range(len(self.ids)), key=self.ids.__getitem__)
        self.order = order
        """Node indices, in the order of their ids."""
        self.ints = [int.from_bytes(self.ids[i], "big") for i in order]
        self.contacts = [Contact(self.ids[i], address_of(i)) for i in order]

    @classmethod
    def seeded(cls, n: int, seed: int = 0) -> SwarmIds:
        """The ids of the ``n`` nodes of a swarm of ``seed``
        (:func:`~synthswarm.swarm.dht.testing.seeded_identity`)."""
        return cls([seeded_identity(seed, i).id for i in range(n)], seed)

    def __len__(self) -> int:
        return len(self.ids)

    def table(self, index: int, k: int) -> list[Contact]:
        """What node ``index``'s converged table holds (module docstring)."""
        own = int.from_bytes(self.ids[index], "big")
        return converged_contacts(own, self.ints, self.contacts, k, node_rng(self.seed, index))

    def closest(self, key: bytes, count: int) -> list[int]:
        """The indices of the ``count`` nodes nearest ``key`` by XOR distance, nearest first. The
        ids sharing a prefix with the key are one run of the sorted ids; the run is halved bit by bit,
        the key's own half first, until the halves left are small enough to sort."""
        target = int.from_bytes(key, "big")
        out: list[int] = []
        self._take(0, len(self.ints), ID_BITS - 1, 0, target, count, out)
        return [self.order[j] for j in out]

    def _take(self, lo: int, hi: int, bit: int, prefix: int, target: int, want: int, out: list[int]) -> None:
        """Append to ``out`` the ``want`` positions in ``[lo, hi)`` nearest ``target`` (the ids there
        all agree with ``prefix`` above ``bit``)."""
        if want <= 0 or lo >= hi:
            return
        if hi - lo <= _SMALL or bit < 0:
            ints = self.ints
            out += sorted(range(lo, hi), key=lambda j: ints[j] ^ target)[:want]
            return
        upper = prefix | 1 << bit
        mid = bisect.bisect_left(self.ints, upper, lo, hi)
        halves = [(lo, mid, prefix), (mid, hi, upper)]
        if target >> bit & 1:
            halves.reverse()
        for a, b, p in halves:
            before = len(out)
            self._take(a, b, bit - 1, p, target, want, out)
            want -= len(out) - before


def converged_contacts(
    own: int, ints: list[int], contacts: list[Contact], k: int, rng: random.Random
) -> list[Contact]:
    """What a converged table of the node at ``own`` holds: per bucket, all of its range's nodes or a
    random k of them (``ints``: every id, sorted, as integers; ``contacts`` in the same order)."""
    out: list[Contact] = []
    for i in range(ID_BITS):
        low = ((own >> (i + 1)) << (i + 1)) | ((~own >> i & 1) << i)
        lo = bisect.bisect_left(ints, low)
        hi = bisect.bisect_left(ints, low + (1 << i), lo)
        if hi - lo <= k:
            out += contacts[lo:hi]
        else:
            out += [contacts[j] for j in rng.sample(range(lo, hi), k)]
    return out
