"""Embeddings to DHT keys: random-hyperplane LSH (SimHash) in several tables, with multi-probe.

For each of ``tables`` hash tables, ``bits`` random hyperplanes cut the (mean-centred) embedding space;
the signs of the projections give a bucket, and ``key = H("semantic" || table || bucket)`` is a DHT key
whose closest nodes are that bucket's rendezvous. Vectors at small angles share buckets with
probability ``(1 - angle/pi) ** bits`` per table (Charikar 2002), so a publisher that asks every table's
rendezvous finds most near neighbours. Multi-probe (Lv et al. 2007) also asks the buckets reached by
flipping the weakest bits, the ones whose projections were closest to zero.

Node ids stay random; only keys are semantic (GUIDE section 4): semantic node ids would pile nodes
into the dense regions of embedding space and unbalance the XOR metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthswarm.swarm.dht.ids import key_for

__all__ = ["MAX_SPILL", "LSHSettings", "SemanticHasher", "TopicKey"]


@dataclass(frozen=True)
class LSHSettings:
    """Every node of a swarm must use the same settings: they define where topics meet.

    Defaults chosen with ``synthswarm bench routing --agents 256 --packets 100 --strategies dht``
    (recall at m=10, requests per packet): 6 tables x 6 bits x 1 probe 0.72, 26.8; 6x4x1 0.94, 24.3;
    8x4x1 0.975, 30.9; 6x3x1 0.99, 25.3. Three bits would concentrate every subscription on
    8 buckets per table, so 8 x 4 x 1 keeps recall high while spreading rendezvous over 128 keys.
    """

    tables: int = 8
    """Independent hash tables (L)."""
    bits: int = 4
    """Hyperplanes per table: 2**bits buckets per table."""
    probes: int = 1
    """Extra buckets per table a publisher asks, flipping its weakest bits one at a time."""
    seed: int = 20261123
    """Seed of the hyperplanes."""

    def __post_init__(self) -> None:
        if not (1 <= self.tables <= 64 and 1 <= self.bits <= 32 and 0 <= self.probes <= self.bits):
            raise ValueError("need 1 <= tables <= 64, 1 <= bits <= 32 and 0 <= probes <= bits")


MAX_SPILL = 8
"""Levels a full bucket's subscribers may spill down: each level splits a bucket by one more
hyperplane, so a rendezvous key never has to hold more than its store allows."""


@dataclass(frozen=True, slots=True)
class TopicKey:
    """One bucket of one table, and the DHT key of its rendezvous."""

    table: int
    bucket: int
    key: bytes
    probe: int
    """0 for the vector's own bucket, i for the bucket with its i-th weakest bit flipped."""
    level: int = 0
    """0 for a bucket of ``bits`` hyperplanes; ``i`` for one split by ``i`` more (see ``spill``)."""


class SemanticHasher:
    """Maps vectors of ``dims`` dimensions to topic keys. ``center`` is subtracted first; share it too."""

    def __init__(self, dims: int, settings: LSHSettings | None = None, center: npt.ArrayLike | None = None):
        self.settings = s = settings or LSHSettings()
        rng = np.random.default_rng(s.seed)
        self.dims = dims
        self.planes = rng.standard_normal((s.tables, s.bits, dims)).astype(np.float32)
        deeper = np.random.default_rng([s.seed, 1])
        self.spill_planes = deeper.standard_normal((s.tables, MAX_SPILL, dims)).astype(np.float32)
        """The extra hyperplane of each spill level, per table."""
        self.center = np.zeros(dims, np.float32) if center is None else np.asarray(center, np.float32)
        if self.center.shape != (dims,):
            raise ValueError(f"center must have {dims} dimensions")

    def keys(self, vector: npt.ArrayLike, *, probes: int | None = None) -> list[TopicKey]:
        """The vector's bucket in every table, then (``probes`` per table) its weakest-bit neighbours."""
        projections = self._project(vector)
        n_probes = self.settings.probes if probes is None else probes
        out = []
        weights = 1 << np.arange(self.settings.bits)
        for table, proj in enumerate(projections):
            bucket = int(((proj > 0).astype(np.int64) * weights).sum())
            out.append(self._key(table, bucket, 0))
            for rank, bit in enumerate(np.argsort(np.abs(proj))[:n_probes], start=1):
                out.append(self._key(table, bucket ^ (1 << int(bit)), rank))
        return out

    def spill(self, vector: npt.ArrayLike, topic: TopicKey) -> TopicKey | None:
        """The key one level below ``topic`` on ``vector``'s side of that level's hyperplane: where a
        subscriber goes when ``topic``'s rendezvous are full, and where a publisher looks next
        (None past :data:`MAX_SPILL`). Level 0 keys are unchanged, so a small swarm never spills."""
        if topic.level >= MAX_SPILL:
            return None
        v = np.asarray(vector, np.float32).reshape(-1) - self.center
        side = int(float(self.spill_planes[topic.table, topic.level] @ v) > 0)
        bucket = topic.bucket | (side << (self.settings.bits + topic.level))
        level = topic.level + 1
        key = key_for("semantic", str(topic.table), str(bucket), f"level{level}")
        return TopicKey(topic.table, bucket, key, topic.probe, level)

    def own_keys(self, vector: npt.ArrayLike) -> list[TopicKey]:
        """Where a subscriber registers: its own bucket in each table (publishers do the probing)."""
        return self.keys(vector, probes=0)

    def _project(self, vector: npt.ArrayLike) -> npt.NDArray[np.float32]:
        v = np.asarray(vector, np.float32).reshape(-1)
        if v.shape != (self.dims,):
            raise ValueError(f"expected a vector of {self.dims} dimensions, got {v.shape}")
        projected: npt.NDArray[np.float32] = self.planes @ (v - self.center)
        return projected

    @staticmethod
    def _key(table: int, bucket: int, probe: int) -> TopicKey:
        return TopicKey(table, bucket, key_for("semantic", str(table), str(bucket)), probe)
