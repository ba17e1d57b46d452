"""Bucket refresh targets: in their bucket, spread over it, and repeatable when salted."""

from __future__ import annotations

import hashlib

import pytest

from synthswarm.swarm.dht.ids import bucket_index, random_id_in_bucket

OWN = hashlib.sha256(b"own").digest()


@pytest.mark.parametrize("index", [0, 1, 7, 100, 255])
def test_a_salted_target_lands_in_its_bucket_and_repeats_for_the_same_salt(index: int) -> None:
    target = random_id_in_bucket(OWN, index, salt=b"12.5")
    assert bucket_index(OWN, target) == index
    assert random_id_in_bucket(OWN, index, salt=b"12.5") == target


def test_salted_targets_differ_by_salt_bucket_and_node() -> None:
    assert len({random_id_in_bucket(OWN, 200, salt=str(t).encode()) for t in range(100)}) == 100
    other = hashlib.sha256(b"other").digest()
    assert _offset(OWN, random_id_in_bucket(OWN, 200, salt=b"1")) != _offset(
        other, random_id_in_bucket(other, 200, salt=b"1")
    )
    low_bits = (1 << 200) - 1  # the bucket is in the hash, not only in the top bit it sets
    assert (
        _offset(OWN, random_id_in_bucket(OWN, 200, salt=b"1")) & low_bits
        != _offset(OWN, random_id_in_bucket(OWN, 201, salt=b"1")) & low_bits
    )


def test_salted_targets_spread_over_the_whole_bucket() -> None:
    """Each of the bucket's free bits is set in about half the targets (a salted draw is as uniform
    as an unsalted one, so real swarms' refreshes still cover their buckets)."""
    index = 64
    draws = [_offset(OWN, random_id_in_bucket(OWN, index, salt=t.to_bytes(4, "big"))) for t in range(2000)]
    for bit in range(index):
        share = sum(d >> bit & 1 for d in draws) / len(draws)
        assert 0.42 < share < 0.58, (bit, share)


def _offset(own: bytes, target: bytes) -> int:
    """The target's XOR distance from ``own``."""
    return int.from_bytes(own, "big") ^ int.from_bytes(target, "big")
