from __future__ import annotations

from pathlib import Path

import pytest

from synthswarm.swarm.config import Config, describe, load_config
from synthswarm.swarm.errors import ConfigError


def test_defaults_without_any_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config == Config()
    assert config.llm.backend == "local"
    assert config.embedder.dims == 384


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    file = tmp_path / "swarm.toml"
    file.write_text('data_dir = "/from/file"\n[llm]\nmax_tokens = 10\ntemperature = 0.5\n')
    env = {"SYNTHSWARM_LLM__MAX_TOKENS": "20", "SYNTHSWARM_LOG_LEVEL": "debug"}
    config = load_config(file=file, env=env, overrides={"llm.temperature": "0.25"})
    assert config.data_dir == Path("/from/file")
    assert config.llm.max_tokens == 20
    assert config.llm.temperature == 0.25
    assert config.log_level == "DEBUG"


def test_config_file_from_environment(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[embedder]\nbackend = "hashing"\ndims = 64\n')
    config = load_config(env={"SYNTHSWARM_CONFIG": str(file)})
    assert (config.embedder.backend, config.embedder.dims) == ("hashing", 64)


@pytest.mark.parametrize(
    ("env", "key", "fragment"),
    [
        ({"SYNTHSWARM_LLM__MAX_TOKENS": "many"}, "llm.max_tokens", "expected an integer"),
        ({"SYNTHSWARM_LLM__MAX_TOKENS": "0"}, "llm.max_tokens", "at least 1"),
        ({"SYNTHSWARM_LLM__TEMPERATURE": "nan"}, "llm.temperature", "finite"),
        ({"SYNTHSWARM_LLM__BACKEND": "llamafile"}, "llm.backend", "one of local, openai"),
        ({"SYNTHSWARM_LLM__MAXTOKENS": "5"}, "llm.maxtokens", "unknown setting"),
        ({"SYNTHSWARM_COLOUR": "blue"}, "colour", "unknown setting"),
        ({"SYNTHSWARM_LOG_LEVEL": "loud"}, "log_level", "one of"),
    ],
)
def test_bad_values_name_the_key_and_source(env: dict[str, str], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env=env)
    assert caught.value.key == key
    assert fragment in str(caught.value)
    assert "env SYNTHSWARM_" in str(caught.value)


def test_bad_value_in_file_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text("[llm]\nmax_tokens = 1.5\n")
    with pytest.raises(ConfigError, match=r"llm.max_tokens: expected an integer.*bad.toml"):
        load_config(file=file, env={})


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(file=tmp_path / "missing.toml", env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[llm\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(file=broken, env={})


def test_openai_variables_fill_only_openai_backends() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1", "OPENAI_API_KEY": "k", "OPENAI_MODEL": "m"}
    local = load_config(env=env)
    assert (local.llm.model, local.llm.base_url) == ("", "")
    remote = load_config(env={**env, "SYNTHSWARM_LLM__BACKEND": "openai"})
    assert (remote.llm.model, remote.llm.base_url, remote.llm.api_key) == (
        "m",
        "http://127.0.0.1:8000/v1",
        "k",
    )
    explicit = load_config(env={**env, "SYNTHSWARM_LLM__BACKEND": "openai", "SYNTHSWARM_LLM__MODEL": "mine"})
    assert explicit.llm.model == "mine"


def test_describe_lists_every_key_and_masks_secrets() -> None:
    config = load_config(env={"SYNTHSWARM_LLM__API_KEY": "sk-secret"})
    rows = {key: (value, doc) for key, value, doc in describe(config)}
    assert rows["llm.api_key"][0] == "***"
    assert "llm.max_tokens" in rows
    assert all(doc for _, doc in rows.values())


def test_more_files_are_read_over_the_config_file_and_under_env_and_flags(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text("[swarm]\nfan_out = 2\nm = 5\ninbox_limit = 100\n")
    agents = tmp_path / "agents.toml"
    agents.write_text('[swarm]\nm = 7\ninbox_limit = 200\n\n[[agents]]\nname = "a"\ndomain = "d"\n')
    config = load_config(
        file=base, env={"SYNTHSWARM_SWARM__INBOX_LIMIT": "300"}, overrides={}, more_files=(agents,)
    )
    assert (config.swarm.fan_out, config.swarm.m, config.swarm.inbox_limit) == (2, 7, 300)
