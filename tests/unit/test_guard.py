"""The autouse guard itself: a unit test that reaches for a real model or the network fails."""

from __future__ import annotations

import socket

import pytest

from synthswarm.agents.embeddings import LocalEmbedder
from synthswarm.agents.llm import ChatMessage, LocalChat, LocalEngine
from synthswarm.swarm.errors import ModelError
from tests.unit.conftest import RealResourceInUnitTestError


async def test_local_llm_cannot_load_in_unit_tests() -> None:
    chat = LocalChat(LocalEngine())  # a private engine, so no shared state leaks between tests
    try:
        with pytest.raises(ModelError, match="must not load a real LLM"):
            await chat.complete([ChatMessage.user("hi")])
    finally:
        chat.engine.close()


def test_local_embedder_cannot_load_in_unit_tests() -> None:
    with pytest.raises(RealResourceInUnitTestError):
        LocalEmbedder().embed_sync(["hi"])


def test_network_is_blocked() -> None:
    with pytest.raises(RealResourceInUnitTestError):
        socket.create_connection(("127.0.0.1", 9))
    with socket.socket() as s, pytest.raises(RealResourceInUnitTestError):
        s.connect(("127.0.0.1", 9))
