"""HashingEmbedder: deterministic feature hashing, no model. For unit tests and offline experiments.

Words and character trigrams are hashed (BLAKE2b) into ``dims`` signed buckets, with sub-linear term
weights. Texts that share words land close together, so routing and retrieval tests behave sensibly,
but it knows nothing of meaning: "car" and "automobile" are unrelated to it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from synthswarm.agents.embeddings._types import Vectors, normalize_rows

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """A deterministic :class:`~synthswarm.agents.embeddings.Embedder` that needs no model."""

    def __init__(self, dims: int = 384) -> None:
        if dims < 8:
            raise ValueError("dims must be at least 8")
        self._dims = dims

    @property
    def name(self) -> str:
        return f"hashing-{self._dims}"

    @property
    def dims(self) -> int:
        return self._dims

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_sync(texts)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self._dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, count in _features(text).items():
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                sign = 1.0 if value & 1 else -1.0
                out[row, (value >> 1) % self._dims] += sign * (1.0 + math.log(count))
        return normalize_rows(out)


def _features(text: str) -> Counter[str]:
    words = _WORD.findall(text.lower())
    features: Counter[str] = Counter(f"w:{w}" for w in words)
    features.update(f"c:{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2)))
    return features or Counter({"<empty>": 1})
