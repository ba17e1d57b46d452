"""`synthswarm eval scaling` as a user runs it (hashing embedder, so no model is needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm", "--set", "embedder.backend=hashing", "eval", "scaling", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_a_small_sweep_writes_its_results_and_resumes(tmp_path: Path) -> None:
    args = ("--sizes", "2,3", "--strategies", "isolated,dht,oracle", "--questions", "6", "--out", "out")
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [(r["n"], r["strategy"]) for r in results["rows"]] == [
        (2, "dht"), (2, "isolated"), (2, "oracle"), (3, "dht"), (3, "isolated"), (3, "oracle"),
    ]  # fmt: skip
    assert "Synthesis gain and closure" in done.stdout
    assert "rerun (cached runs are reused): synthswarm eval scaling" in done.stdout
    again = run(*args, cwd=tmp_path)
    assert again.returncode == 0
    assert json.loads((tmp_path / "out" / "results.json").read_text()) == results


def test_bad_arguments_are_one_clear_line(tmp_path: Path) -> None:
    done = run("--sizes", "2,x", cwd=tmp_path)
    assert done.returncode == 1
    assert "eval.sizes" in done.stderr
    assert "Traceback" not in done.stderr
    done = run("--llm", "local", "--sizes", "2", cwd=tmp_path)
    assert done.returncode == 1
    assert "--llm local is not available yet" in done.stderr
