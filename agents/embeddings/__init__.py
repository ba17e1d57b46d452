"""Embedders behind one protocol.

- :class:`Embedder`: the protocol (async ``embed`` of many texts into unit-length float32 rows).
- :class:`LocalEmbedder`: sentence-transformers, the bundled all-MiniLM-L6-v2 (384 dims) by default.
- :class:`OpenAIEmbedder`: an OpenAI-compatible embeddings endpoint.
- :class:`HashingEmbedder`: deterministic feature hashing, for tests.

:func:`make_embedder` builds the one an :class:`~synthswarm.swarm.config.EmbedderConfig` describes.
"""

from __future__ import annotations

from synthswarm.agents.embeddings._types import Embedder, Vectors, normalize_rows
from synthswarm.agents.embeddings.hashing import HashingEmbedder
from synthswarm.agents.embeddings.local import LocalEmbedder
from synthswarm.agents.embeddings.openai_embedder import DEFAULT_OPENAI_EMBEDDING_MODEL, OpenAIEmbedder
from synthswarm.swarm.config import EmbedderConfig

__all__ = [
    "DEFAULT_OPENAI_EMBEDDING_MODEL",
    "Embedder",
    "HashingEmbedder",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "Vectors",
    "make_embedder",
    "normalize_rows",
]


def make_embedder(config: EmbedderConfig) -> Embedder:
    """The embedder ``config`` describes."""
    if config.backend == "hashing":
        return HashingEmbedder(config.dims)
    if config.backend == "openai":
        return OpenAIEmbedder(
            model=config.model or DEFAULT_OPENAI_EMBEDDING_MODEL,
            dims=config.dims,
            base_url=config.base_url or None,
            api_key=config.api_key or None,
            batch_size=config.batch_size,
        )
    return LocalEmbedder(config.model or None, batch_size=config.batch_size)
