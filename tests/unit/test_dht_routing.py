from __future__ import annotations

import os
import random

import pytest

from synthswarm.swarm.dht.ids import Contact, bucket_index, distance, key_for, random_id_in_bucket
from synthswarm.swarm.dht.routing import RoutingTable


def contact(node_id: bytes) -> Contact:
    return Contact(node_id, f"inproc://{node_id.hex()[:8]}")


def test_distance_is_a_metric_on_samples() -> None:
    rng = random.Random(1)
    ids = [rng.randbytes(32) for _ in range(20)]
    for a in ids:
        assert distance(a, a) == 0
        for b in ids:
            assert distance(a, b) == distance(b, a)
            for c in ids[:5]:
                assert distance(a, c) <= distance(a, b) + distance(b, c)


def test_bucket_index_is_the_highest_differing_bit() -> None:
    own = bytes(32)
    assert bucket_index(own, (1).to_bytes(32, "big")) == 0
    assert bucket_index(own, (0b1010).to_bytes(32, "big")) == 3
    assert bucket_index(own, b"\x80" + bytes(31)) == 255
    with pytest.raises(ValueError, match="itself"):
        bucket_index(own, own)


@pytest.mark.parametrize("index", [0, 1, 7, 100, 255])
def test_random_id_in_bucket_lands_in_that_bucket(index: int) -> None:
    own = os.urandom(32)
    for _ in range(20):
        assert bucket_index(own, random_id_in_bucket(own, index)) == index


def test_key_for_separates_parts() -> None:
    assert key_for("ab", "c") != key_for("a", "bc")
    assert len(key_for(b"x")) == 32


def test_full_bucket_asks_to_ping_the_least_recently_seen() -> None:
    own = os.urandom(32)
    table = RoutingTable(own, k=3, ping_after_s=0)
    members = [contact(random_id_in_bucket(own, 200)) for _ in range(3)]
    for c in members:
        assert table.add(c).added
    table.add(members[0])  # seen again: now the most recently seen
    newcomer = contact(random_id_in_bucket(own, 200))
    result = table.add(newcomer)
    assert not result.added
    assert result.ping == members[1]
    assert newcomer.node_id not in table
    # The old contact failed its ping: the cached newcomer takes its slot.
    assert table.remove(members[1].node_id)
    assert newcomer.node_id in table
    assert len(table) == 3


def test_a_contact_heard_from_recently_is_not_pinged() -> None:
    own = os.urandom(32)
    table = RoutingTable(own, k=2, ping_after_s=60)
    for _ in range(2):
        table.add(contact(random_id_in_bucket(own, 50)))
    result = table.add(contact(random_id_in_bucket(own, 50)))
    assert (result.added, result.ping) == (False, None)
    assert len(table.buckets[50].replacements) == 1


def test_replacement_cache_is_bounded_and_freshest_first() -> None:
    own = os.urandom(32)
    table = RoutingTable(own, k=2)
    for _ in range(2):
        table.add(contact(random_id_in_bucket(own, 10)))
    waiting = [contact(random_id_in_bucket(own, 10)) for _ in range(5)]
    for c in waiting:
        table.add(c)
    bucket = table.buckets[10]
    assert list(bucket.replacements) == [c.node_id for c in waiting[-2:]]
    first = next(iter(bucket.contacts))
    table.remove(first)
    assert waiting[-1].node_id in table


def test_closest_matches_brute_force() -> None:
    own = os.urandom(32)
    table = RoutingTable(own, k=20)
    everyone = [contact(os.urandom(32)) for _ in range(500)]
    for c in everyone:
        table.add(c)
    target = os.urandom(32)
    known = list(table)
    expected = sorted(known, key=lambda c: distance(c.node_id, target))[:20]
    assert table.closest(target) == expected
    assert table.closest(target, 5, exclude=expected[0].node_id) == expected[1:6]


@pytest.mark.parametrize("seed", range(20))
def test_closest_matches_brute_force_near_our_own_id(seed: int) -> None:
    """closest() sorts only the buckets that can hold the answer: targets and contacts near our own
    id (low buckets, our own id itself) exercise the groups it walks."""
    rng = random.Random(seed)
    own = rng.randbytes(32)
    table = RoutingTable(own, k=20)

    def near(bits: int) -> bytes:
        return (int.from_bytes(own, "big") ^ rng.getrandbits(bits)).to_bytes(32, "big")

    for _ in range(rng.choice([3, 60, 600])):
        table.add(contact(near(rng.choice([4, 12, 40, 256]))))
    known = list(table)
    for target in (own, near(8), near(30), rng.randbytes(32), known[0].node_id):
        for count in (1, 7, 20, 64):
            excluded = rng.choice([None, known[0].node_id])
            expected = sorted(
                (c for c in known if c.node_id != excluded), key=lambda c: distance(c.node_id, target)
            )[:count]
            assert table.closest(target, count, exclude=excluded) == expected


@pytest.mark.parametrize("seed", range(20))
def test_nearer_than_self_matches_brute_force(seed: int) -> None:
    """The bit test agrees with comparing distances, with contacts removed (buckets emptied) and
    with the excluded contact alone in its bucket, or not in the table at all."""
    rng, table = _table_near_own(seed, 4, [1, 2, 8, 200])
    own = table.own_id

    def near(bits: int) -> bytes:
        return _near(own, rng, bits)

    for c in rng.sample(list(table), len(table) // 3):
        table.remove(c.node_id)
    known = list(table)
    for target in (own, near(2), near(10), near(40), rng.randbytes(32), *[c.node_id for c in known[:3]]):
        for excluded in (None, *[c.node_id for c in known[:3]], rng.randbytes(32), own):
            expected = any(
                distance(c.node_id, target) < distance(own, target) for c in known if c.node_id != excluded
            )
            assert table.nearer_than_self(target, exclude=excluded) == expected


def test_own_id_is_never_stored() -> None:
    own = os.urandom(32)
    table = RoutingTable(own)
    assert not table.add(contact(own)).added
    assert len(table) == 0
    assert own not in table


def test_stale_buckets_start_at_the_nearest_neighbour() -> None:
    own = bytes(32)
    table = RoutingTable(own)
    table.add(contact((1 << 40).to_bytes(32, "big")))
    stale = table.stale_buckets(-1)
    assert stale[0] == 40
    assert stale[-1] == 255


@pytest.mark.parametrize("seed", range(10))
def test_count_nearer_than_self_says_whether_the_node_is_among_the_closest(seed: int) -> None:
    rng, table = _table_near_own(seed, 8, [0, 3, 30, 300])
    own = table.own_id

    def near(bits: int) -> bytes:
        return _near(own, rng, bits)

    known = list(table)
    for target in (own, near(3), near(12), near(40), rng.randbytes(32)):
        nearer = sum(distance(c.node_id, target) < distance(own, target) for c in known)
        for limit in (1, 3, 8, 20):
            assert table.count_nearer_than_self(target, limit) == min(nearer, limit)
            closest = table.closest(target, limit)
            among = len(closest) < limit or distance(own, target) < distance(closest[-1].node_id, target)
            assert (table.count_nearer_than_self(target, limit) < limit) == among


def _near(own: bytes, rng: random.Random, bits: int) -> bytes:
    """A random id that agrees with ``own`` above its lowest ``bits`` bits."""
    return (int.from_bytes(own, "big") ^ rng.getrandbits(bits)).to_bytes(32, "big")


def _table_near_own(seed: int, k: int, sizes: list[int]) -> tuple[random.Random, RoutingTable]:
    """A table of one of ``sizes`` contacts, many near its own id (low buckets)."""
    rng = random.Random(seed)
    table = RoutingTable(rng.randbytes(32), k=k)
    for _ in range(rng.choice(sizes)):
        table.add(contact(_near(table.own_id, rng, rng.choice([3, 12, 40, 256]))))
    return rng, table
