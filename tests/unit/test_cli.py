from __future__ import annotations

from pathlib import Path

import pytest

from synthswarm.swarm.app.cli import main
from synthswarm.swarm.config import Config


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main([*argv])
        code = 0
    except SystemExit as exited:
        code = int(exited.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("models", "bench", "config"):
        assert command in out
    code, out, _ = run(capsys, "bench", "--help")
    assert "models" in out
    assert "tokens/s" in run(capsys, "bench", "models", "--help")[1]


def test_config_show_prints_every_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHSWARM_LLM__MAX_TOKENS", "77")
    code, out, _ = run(capsys, "--set", "embedder.backend=hashing", "config", "show")
    assert code == 0
    assert "llm.max_tokens" in out
    assert "77" in out
    assert "hashing" in out


def test_bad_config_value_exits_1_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--set", "llm.batch_size=-3", "config", "show")
    assert code == 1
    assert "llm.batch_size" in err
    assert "at least 1" in err


def test_malformed_set_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--set", "nonsense", "config", "show")
    assert code == 2
    assert "KEY=VALUE" in err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fly")
    assert code == 2
    assert "No such command" in err


def test_an_agents_files_own_settings_apply_under_the_flags(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``chat --agents FILE``: the file's ``[swarm]`` table is read, and ``--set`` still wins."""
    agents = tmp_path / "swarm.toml"
    agents.write_text('[swarm]\nfan_out = 2\nm = 7\n\n[[agents]]\nname = "a"\ndomain = "d"\n')
    seen: list[Config] = []

    async def chat(cfg: Config, *args: object, **kwargs: object) -> None:
        seen.append(cfg)

    monkeypatch.setattr("synthswarm.swarm.app.chat_cli.chat", chat)
    code, _, err = run(capsys, "--set", "swarm.fan_out=3", "chat", "--agents", str(agents))
    assert code == 0, err
    assert (seen[0].swarm.fan_out, seen[0].swarm.m) == (3, 7)
