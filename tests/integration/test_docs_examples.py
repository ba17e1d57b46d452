"""Every Python block in the README and the docs site, and every script in examples/, runs as written.

A block fenced as ```python runs in a fresh interpreter in an empty folder and must print something; a
fragment that cannot run alone is fenced as ```py (highlighted the same, not run here; it must compile,
which tests/unit/test_docs_fragments.py checks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs_pages import ROOT, fenced_blocks
from tests.integration.openai_stub import base_url, openai_stub

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def _blocks() -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Every block by where it first appears, and those to run. A block shown again on another page,
    or a whole example script (which test_example_runs runs), is the same code and runs once. (A page
    shows a whole example by including it in a ```{.python} fence, which is not read here.)"""
    found = fenced_blocks("python")
    examples = [script.read_text() for script in EXAMPLES]
    seen: set[str] = set()
    run = []
    for name, block in found.items():
        if block in seen or any(block.strip() in text for text in examples):
            continue
        seen.add(block)
        run.append((name, block))
    return found, run


ALL_BLOCKS, BLOCKS = _blocks()


def run_python(
    source_or_path: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    args = [str(source_or_path)] if isinstance(source_or_path, Path) else ["-c", source_or_path]
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd, capture_output=True, text=True, timeout=600, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_readme_and_docs_have_python_examples() -> None:
    assert any(name.startswith("README.md") for name in ALL_BLOCKS)
    assert any(name.startswith("docs") for name in ALL_BLOCKS)


@pytest.mark.parametrize("block", [block for _, block in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_docs_block_runs(block: str, tmp_path: Path) -> None:
    done = run_python(block, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()


#: What an example prints that does not depend on the model's wording.
EXPECTED = {
    "swarm_processes.py": "from another process",  # the other process's finding reached the answerer
    "custom_tool.py": "4 euros cost 46 crowns. (3 model calls)",
}


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
    assert EXPECTED.get(script.name, "") in done.stdout
