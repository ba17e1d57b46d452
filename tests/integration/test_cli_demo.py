"""`synthswarm demo` as a user runs it: real models, real sockets, a figures file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_command_shows_the_loop_and_writes_figures(tmp_path: Path) -> None:
    figures = tmp_path / "demo.json"
    done = subprocess.run(
        [sys.executable, "-m", "synthswarm", "demo", "--questions", "2", "--json", str(figures)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for line in ("dispatcher →", "answer:", "cost:", "demo summary (router dht)", "rerun: synthswarm demo"):
        assert line in done.stdout
    result = json.loads(figures.read_text())
    assert result["agents"] == 8
    assert len(result["results"]) == 2
    assert result["facts_rate"] == 1.0
    assert result["packets_shared"] == 50
    assert result["share_messages"] > 0


def test_demo_errors_are_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "synthswarm", "demo", "--corpus", str(tmp_path / "missing.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "cannot read the demo corpus" in done.stderr
    assert "Traceback" not in done.stderr
