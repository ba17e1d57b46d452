from __future__ import annotations

import pytest

from swarm.cli import main


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
