"""`synthswarm models check` and `synthswarm bench models`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SYNTHSWARM = [sys.executable, "-m", "synthswarm"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYNTHSWARM, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_models_check_generates_and_embeds() -> None:
    done = run("models", "check")
    assert done.returncode == 0, done.stderr
    assert "generation" in done.stdout
    assert "384 dims" in done.stdout
    assert "tokens/s" in done.stdout


def test_bench_models_writes_every_key(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = run(
        "bench", "models", "--json", str(out), "--max-tokens", "8", "--embed-texts", "16", "--packets", "300"
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    for key in (
        "llm_tokens_per_s_batch1", "llm_tokens_per_s_batch8", "embeddings_per_s", "packet_bytes",
        "packet_encode_per_s", "packet_verify_per_s",
    ):  # fmt: skip
        assert isinstance(figures[key], int | float), key
        assert figures[key] > 0, key
    assert figures["packet_embedding_dims"] == 384
    assert figures["packet_finding_chars"] == 300
    assert "rerun with: synthswarm bench models" in done.stdout


def test_unreachable_openai_server_exits_1_with_a_clear_message() -> None:
    env = {"SYNTHSWARM_LLM__BACKEND": "openai", "SYNTHSWARM_LLM__BASE_URL": "http://127.0.0.1:9/v1",
           "SYNTHSWARM_LLM__MAX_RETRIES": "1", "SYNTHSWARM_EMBEDDER__BACKEND": "hashing"}  # fmt: skip
    done = run("models", "check", env=env)
    assert done.returncode == 1
    assert "no answer from the OpenAI-compatible server at http://127.0.0.1:9/v1" in " ".join(
        done.stderr.split()
    )


def test_missing_model_file_exits_1_naming_the_key() -> None:
    done = run("--set", "llm.model=/nonexistent/model.gguf", "models", "check")
    assert done.returncode == 1
    assert "llm.model" in done.stderr
