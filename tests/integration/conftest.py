"""Integration fixtures: the real local LLM and embedder, loaded once per test session."""

from __future__ import annotations

import pytest

from synthswarm.agents.embeddings import LocalEmbedder
from synthswarm.agents.llm import LocalChat


@pytest.fixture(scope="session")
def local_chat() -> LocalChat:
    chat = LocalChat.from_path()
    chat.engine.load()
    return chat


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    embedder = LocalEmbedder()
    embedder.load()
    return embedder
