from __future__ import annotations

import numpy as np
import pytest

from synthswarm.agents.embeddings import Embedder, HashingEmbedder, LocalEmbedder, make_embedder
from synthswarm.swarm.config import EmbedderConfig
from synthswarm.swarm.errors import ModelNotFoundError


async def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    embedder = HashingEmbedder(dims=128)
    assert isinstance(embedder, Embedder)
    a = await embedder.embed(["the cat sat on the mat", "a cat on a mat", "stock markets fell sharply"])
    b = await HashingEmbedder(dims=128).embed(["the cat sat on the mat"])
    assert a.shape == (3, 128)
    assert a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0] @ a[1] > a[0] @ a[2] + 0.2


async def test_hashing_embedder_edge_cases() -> None:
    embedder = HashingEmbedder()
    empty = await embedder.embed([])
    assert empty.shape == (0, 384)
    blank = await embedder.embed([""])
    assert np.isclose(np.linalg.norm(blank[0]), 1.0)
    with pytest.raises(ValueError, match="dims"):
        HashingEmbedder(dims=2)


def test_factory_picks_the_backend() -> None:
    assert isinstance(make_embedder(EmbedderConfig(backend="hashing", dims=32)), HashingEmbedder)


def test_local_embedder_with_a_missing_folder_names_it(tmp_path: object) -> None:
    with pytest.raises(ModelNotFoundError, match="no such folder"):
        LocalEmbedder("/nonexistent/model")
