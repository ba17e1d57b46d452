"""`synthswarm eval scaling` as a user runs it (hashing embedder, so no embedding model is needed)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.openai_stub import base_url, openai_stub


def run(*args: str, cwd: Path, settings: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    options = [item for s in ("embedder.backend=hashing", *settings) for item in ("--set", s)]
    return subprocess.run(
        [sys.executable, "-m", "synthswarm", *options, "eval", "scaling", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def measured(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows without their wall times and the upkeep per wall-clock minute (the only figures that
    may differ between two runs)."""
    clock = ("wall_s", "upkeep_per_node_min")
    return [{k: v for k, v in r.items() if k not in clock} for r in results["rows"]]


def test_a_small_sweep_writes_its_results_plots_and_resumes(tmp_path: Path) -> None:
    args = ("--sizes", "2,3", "--strategies", "isolated,dht,oracle", "--questions", "6", "--jobs", "1")
    done = run(*args, "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "out"
    results = json.loads((out / "results.json").read_text())
    assert [(r["n"], r["strategy"]) for r in results["rows"]] == [
        (2, "dht"), (2, "isolated"), (2, "oracle"), (3, "dht"), (3, "isolated"), (3, "oracle"),
    ]  # fmt: skip
    for name in ("recall_vs_n.png", "messages_vs_n.png", "pairs_vs_n.png", "synthesis_graph.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG"), name
    assert "Synthesis gain and closure" in done.stdout
    assert "rerun (cached runs are reused): synthswarm eval scaling" in done.stdout
    again = run(*args, "--out", "out", cwd=tmp_path)
    assert again.returncode == 0
    assert "(cached)" in again.stdout
    assert json.loads((out / "results.json").read_text()) == results
    # Two worker processes measure the same figures as one process.
    parallel = run(*args[:-2], "--jobs", "2", "--out", "par", cwd=tmp_path)
    assert parallel.returncode == 0, parallel.stderr[-3000:]
    assert measured(json.loads((tmp_path / "par" / "results.json").read_text())) == measured(results)


def test_a_model_answers_through_the_response_cache(tmp_path: Path) -> None:
    # One job: the two runs gather the same contexts, so run side by side both would miss the cache.
    args = (
        "--sizes",
        "2",
        "--strategies",
        "isolated,oracle",
        "--questions",
        "5",
        "--llm",
        "openai",
        "--jobs",
        "1",
    )
    with openai_stub() as server:
        settings = (f"llm.base_url={base_url(server)}", "llm.api_key=test", "llm.model=stub")
        done = run(*args, "--out", "out", cwd=tmp_path, settings=settings)
        assert done.returncode == 0, done.stderr[-3000:]
        results = json.loads((tmp_path / "out" / "results.json").read_text())
        assert results["llm"] == "openai"
        for row in results["rows"]:
            assert row["llm_calls"] == 5  # one answer per question, no tools offered to this stub
            assert row["tokens"] > 0
            assert row["em"] == 0.0  # the stub echoes its prompt, so never exactly the answer
            assert 0.0 < row["f1"] < 1.0  # ... but the answer's words are in the echoed passages
        asked = sum(1 for path, _ in server.requests if path.endswith("/chat/completions"))
        assert 0 < asked <= 10
        with sqlite3.connect(tmp_path / "out" / "llm-cache.sqlite") as db:
            assert db.execute("SELECT count(*) FROM completions").fetchone()[0] == asked
        # Runs forgotten, answers kept: the sweep measures again without asking the model again.
        for cached in (tmp_path / "out" / "runs").glob("n*.json"):
            cached.unlink()
        again = run(*args, "--out", "out", cwd=tmp_path, settings=settings)
        assert again.returncode == 0, again.stderr[-3000:]
        assert sum(1 for path, _ in server.requests if path.endswith("/chat/completions")) == asked
        assert measured(json.loads((tmp_path / "out" / "results.json").read_text())) == measured(results)


def test_bad_arguments_are_one_clear_line(tmp_path: Path) -> None:
    done = run("--sizes", "2,x", cwd=tmp_path)
    assert done.returncode == 1
    assert "eval.sizes" in done.stderr
    assert "Traceback" not in done.stderr
    done = run("--llm", "telepathic", "--sizes", "2", cwd=tmp_path)
    assert done.returncode == 1
    assert "eval.llm" in done.stderr
    assert "Traceback" not in done.stderr
