"""Every Python block in the README and the docs site, and every script in examples/, runs as written.

A block fenced as ```python runs in a fresh interpreter in an empty folder and must print something; a
fragment that cannot run alone is fenced as ```py (highlighted the same, not run)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.openai_stub import base_url, openai_stub

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
BLOCKS = [
    (f"{page.relative_to(ROOT)}-{i}", block)
    for page in PAGES
    for i, block in enumerate(FENCE.findall(page.read_text()))
]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def run_python(
    source_or_path: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    args = [str(source_or_path)] if isinstance(source_or_path, Path) else ["-c", source_or_path]
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd, capture_output=True, text=True, timeout=600, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_readme_and_docs_have_python_examples() -> None:
    assert any(name.startswith("README.md") for name, _ in BLOCKS)
    assert any(name.startswith("docs") for name, _ in BLOCKS)


@pytest.mark.parametrize("block", [block for _, block in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_docs_block_runs(block: str, tmp_path: Path) -> None:
    done = run_python(block, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    if script.name == "openai_backend.py":  # it needs a server: a stand-in OpenAI-compatible one
        with openai_stub() as server:
            done = run_python(script, tmp_path, {"OPENAI_BASE_URL": base_url(server), "OPENAI_API_KEY": "x"})
        assert any(path.endswith("/chat/completions") for path, _ in server.requests)
    else:
        done = run_python(script, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()


def test_example_expectations(tmp_path: Path) -> None:
    """What the examples print that does not depend on the model's wording."""
    done = run_python(ROOT / "examples" / "swarm_processes.py", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "from another process" in done.stdout  # the other process's finding reached the answerer
    done = run_python(ROOT / "examples" / "custom_tool.py", tmp_path)
    assert "4 euros cost 46 crowns. (3 model calls)" in done.stdout
