"""Kademlia ids and the XOR metric (Maymounkov & Mazieres 2002, section 2.1).

Ids are 256-bit (SHA-256), held as 32-byte big-endian ``bytes``; distances are Python ints.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["ID_BITS", "ID_BYTES", "Contact", "bucket_index", "distance", "key_for", "random_id_in_bucket"]

ID_BITS = 256
ID_BYTES = ID_BITS // 8


def distance(a: bytes, b: bytes) -> int:
    """XOR distance between two ids, as an integer."""
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


def bucket_index(own: bytes, other: bytes) -> int:
    """Index of the k-bucket ``other`` belongs in: the position of the highest differing bit (0..255).

    Bucket i holds ids at distance [2^i, 2^(i+1)); an id never goes in its own table.
    """
    d = distance(own, other)
    if d == 0:
        raise ValueError("a node does not keep itself in its routing table")
    return d.bit_length() - 1


def random_id_in_bucket(own: bytes, index: int, salt: bytes | None = None) -> bytes:
    """A random id whose distance from ``own`` falls in bucket ``index`` (for bucket refresh, section 2.3).

    Its low bits come from ``os.urandom``, or with ``salt`` from a hash of ``own``, ``index`` and
    ``salt``: as uniform over the bucket, but the same for the same inputs, so a node that salts with
    its clock draws the same targets in every run of a seeded simulation (virtual time) and
    different ones at every moment of a real swarm."""
    if salt is None:
        bits = os.urandom(ID_BYTES)
    else:
        bits = hashlib.blake2b(own + index.to_bytes(2, "big") + salt, digest_size=ID_BYTES).digest()
    d = (1 << index) | (int.from_bytes(bits, "big") & ((1 << index) - 1))
    return (int.from_bytes(own, "big") ^ d).to_bytes(ID_BYTES, "big")


def key_for(*parts: bytes | str) -> bytes:
    """A DHT key: SHA-256 of the parts, each length-prefixed so that parts cannot run together."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(4, "big"))
        h.update(data)
    return h.digest()


class Contact(NamedTuple):
    """How to reach a node: its id (SHA-256 of its public key) and its ZeroMQ address.

    A named tuple rather than a frozen dataclass: every FIND_NODE answer builds up to k of them, and
    a tuple is built in C (the wire decoder makes them directly)."""

    node_id: bytes
    address: str

    def short(self) -> str:
        return f"{self.node_id.hex()[:8]}@{self.address}"


def closest(target: bytes, contacts: Iterable[Contact], count: int) -> list[Contact]:
    """The ``count`` contacts nearest ``target`` by XOR distance, nearest first."""
    return sorted(contacts, key=lambda c: distance(c.node_id, target))[:count]
