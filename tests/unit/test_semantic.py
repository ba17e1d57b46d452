from __future__ import annotations

import numpy as np
import pytest

from synthswarm.swarm.semantic import LSHSettings, SemanticHasher


def unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = v / np.linalg.norm(v)
    return out


def test_keys_are_deterministic_and_shared_by_equal_settings() -> None:
    v = unit(np.random.default_rng(0).standard_normal(64))
    a = SemanticHasher(64, LSHSettings(tables=4, bits=5, probes=2))
    b = SemanticHasher(64, LSHSettings(tables=4, bits=5, probes=2))
    assert a.keys(v) == b.keys(v)
    other_seed = SemanticHasher(64, LSHSettings(tables=4, bits=5, probes=2, seed=1))
    assert [k.key for k in other_seed.keys(v)] != [k.key for k in a.keys(v)]


def test_probe_keys_flip_exactly_one_of_the_weakest_bits() -> None:
    hasher = SemanticHasher(32, LSHSettings(tables=3, bits=6, probes=2))
    v = unit(np.random.default_rng(1).standard_normal(32))
    keys = hasher.keys(v)
    assert len(keys) == 3 * (1 + 2)
    own = {k.table: k.bucket for k in keys if k.probe == 0}
    for k in keys:
        if k.probe:
            assert bin(k.bucket ^ own[k.table]).count("1") == 1
    projections = hasher.planes[0] @ v
    weakest = int(np.argmin(np.abs(projections)))
    first_probe = next(k for k in keys if k.table == 0 and k.probe == 1)
    assert first_probe.bucket == own[0] ^ (1 << weakest)
    assert hasher.own_keys(v) == [k for k in keys if k.probe == 0]


def test_near_vectors_share_buckets_far_more_often_than_random_ones() -> None:
    rng = np.random.default_rng(2)
    hasher = SemanticHasher(128, LSHSettings(tables=8, bits=6, probes=0))
    near = far = 0
    for _ in range(100):
        v = unit(rng.standard_normal(128))
        close = unit(v + 0.3 * unit(rng.standard_normal(128)))
        stranger = unit(rng.standard_normal(128))
        own = {k.key for k in hasher.keys(v)}
        near += len(own & {k.key for k in hasher.keys(close)})
        far += len(own & {k.key for k in hasher.keys(stranger)})
    assert near > 5 * max(far, 1)


def test_centring_moves_a_shared_offset_out_of_the_way() -> None:
    rng = np.random.default_rng(3)
    offset = 5 * unit(rng.standard_normal(64))
    vectors = [offset + 0.05 * rng.standard_normal(64) for _ in range(50)]
    plain = SemanticHasher(64, LSHSettings(tables=1, bits=6, probes=0))
    centred = SemanticHasher(64, LSHSettings(tables=1, bits=6, probes=0), center=np.mean(vectors, axis=0))
    assert len({plain.keys(v)[0].bucket for v in vectors}) <= 2
    assert len({centred.keys(v)[0].bucket for v in vectors}) > 10


def test_bad_settings_and_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="probes"):
        LSHSettings(bits=4, probes=5)
    with pytest.raises(ValueError, match="center"):
        SemanticHasher(8, center=np.zeros(9))
    with pytest.raises(ValueError, match="8 dimensions"):
        SemanticHasher(8).keys(np.zeros(7))


def test_spilling_splits_a_bucket_by_one_more_hyperplane_a_level() -> None:
    from synthswarm.swarm.semantic import MAX_SPILL

    hasher = SemanticHasher(16, LSHSettings(tables=2, bits=3, probes=0))
    rng = np.random.default_rng(1)
    vector = rng.standard_normal(16).astype(np.float32)
    topic = hasher.own_keys(vector)[1]
    seen = {topic.key}
    for level in range(1, MAX_SPILL + 1):
        deeper = hasher.spill(vector, topic)
        assert deeper is not None
        assert (deeper.table, deeper.level) == (topic.table, level)
        assert deeper.bucket & ((1 << (3 + level - 1)) - 1) == topic.bucket  # the parent's bits, kept
        assert deeper.key not in seen
        seen.add(deeper.key)
        topic = deeper
    assert hasher.spill(vector, topic) is None
    # The opposite vector falls on the other side of every hyperplane, so it spills elsewhere.
    first = hasher.own_keys(vector)[0]
    flipped = hasher.spill(-vector, first)
    assert flipped is not None
    assert flipped.bucket >> 3 != hasher.spill(vector, first).bucket >> 3  # type: ignore[union-attr]
