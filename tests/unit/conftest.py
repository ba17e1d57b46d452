"""Unit tests run offline and model-free: an autouse fixture makes both mistakes fail loudly."""

from __future__ import annotations

import socket
from typing import Any

import pytest

import synthswarm.agents.embeddings.local
import synthswarm.agents.entities
import synthswarm.agents.llm.local


class RealResourceInUnitTestError(AssertionError):
    """A unit test tried to reach the network or load a real model."""


def _no_spacy(model: str = "") -> bool:
    return False


def _forbid(what: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> Any:
        raise RealResourceInUnitTestError(f"unit tests must not {what}; use ScriptedChat / HashingEmbedder")

    return refuse


@pytest.fixture(autouse=True)
def _no_network_no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    # Models an integration test loaded earlier in the same process must not leak in either.
    monkeypatch.setattr(synthswarm.agents.llm.local.LocalEngine, "_shared", {})
    monkeypatch.setattr(synthswarm.agents.embeddings.local.LocalEmbedder, "_models", {})
    monkeypatch.setattr(synthswarm.agents.llm.local, "_load_model_files", _forbid("load a real LLM"))
    monkeypatch.setattr(
        synthswarm.agents.embeddings.local, "_load_sentence_transformer", _forbid("load a real embedder")
    )
    # A swarm links on spaCy's entities by default, and spaCy takes seconds to load: unit tests link on
    # capitalised runs, as a machine without spaCy does (the documented fallback), unless they undo this.
    monkeypatch.setattr(synthswarm.agents.entities, "spacy_installed", _no_spacy)
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        raise RealResourceInUnitTestError(f"unit tests must not open network connections (to {address!r})")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _forbid("open network connections"))
    monkeypatch.setattr(socket, "create_connection", _forbid("open network connections"))
