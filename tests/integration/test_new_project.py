"""`synthswarm new` as a user runs it: the project's own test records the embedded model once and then
passes offline, and `synthswarm chat --agents` answers from the project's files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from synthswarm.swarm.app.cli import cli

QUESTION = "In which year was the observatory of the naturalist who described Halvia rubra founded?"


def python_path(*first: Path) -> str:
    """This process's PYTHONPATH with its folders made absolute (the commands run in the project's
    folder, where a relative one would miss this checkout), after ``first``."""
    here = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join([*map(str, first), *here])


def run(
    *args: str, cwd: Path, blocked: Path | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    path = python_path(*([blocked] if blocked else []))
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, input=stdin, env={**os.environ, "PYTHONPATH": path},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def without_a_model(tmp_path: Path) -> Path:
    """A folder to put first on the path, where importing transformers or torch fails: no local model
    can load."""
    blocked = tmp_path / "blocked"
    for name in ("transformers", "torch"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked in this test')\n")
    return blocked


def test_a_new_project_tests_itself_records_once_and_chats(tmp_path: Path) -> None:
    project = tmp_path / "orchids"
    made = run("-m", "synthswarm", "new", str(project), cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-3000:]
    assert "synthswarm chat --agents swarm.toml" in made.stdout
    assert (project / ".gitignore").is_file()
    assert "# orchids" in (project / "README.md").read_text()

    recording = project / "tests" / "recordings" / "swarm.jsonl"
    first = run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)  # records: the embedded model
    assert first.returncode == 0, first.stdout[-3000:]
    assert recording.is_file()

    offline = without_a_model(tmp_path)
    again = run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, blocked=offline)  # replays
    assert again.returncode == 0, again.stdout[-3000:]

    settings = ["llm.recording=tests/recordings/swarm.jsonl", "embedder.backend=hashing"]
    chat = run(
        "-m", "synthswarm", "--llm", "replay", "--data-dir", str(tmp_path / "data"),
        *[item for s in settings for item in ("--set", s)], "chat", "--agents", "swarm.toml",
        cwd=project, blocked=offline, stdin=f"{QUESTION}\n",
    )  # fmt: skip
    assert chat.returncode == 0, chat.stderr[-3000:]
    assert "swarm: 1874" in chat.stdout


def test_new_refuses_a_folder_that_is_not_empty_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "swarm.toml").write_text("# mine\n")
    refused = CliRunner().invoke(cli, ["new", str(tmp_path)])
    assert refused.exit_code != 0
    assert "not empty" in refused.output
    assert (tmp_path / "swarm.toml").read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["swarm.toml"]

    forced = CliRunner().invoke(cli, ["new", "--force", str(tmp_path)])
    assert forced.exit_code == 0, forced.output
    assert "[[agents]]" in (tmp_path / "swarm.toml").read_text()
