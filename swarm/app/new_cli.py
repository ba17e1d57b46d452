"""``synthswarm new DIR``: write a small project to start from.

The project is the tree under ``data/scaffold/`` of this package: an agents file with two specialists
(``swarm.toml``), their knowledge, a test that records the model's replies once and replays them
after, and a README naming the next commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import click
from rich.markup import escape

from synthswarm.swarm.app._options import out

__all__ = ["new", "scaffold", "write_project"]

SCAFFOLD = "data/scaffold"
"""Where the project's files are, inside ``synthswarm.swarm.app``."""

_PROJECT = "{{project}}"
"""Replaced, in every file, with the project's folder name."""

_RENAMED = {"gitignore": ".gitignore"}
"""Files kept under another name in the package: package data leaves out names starting with a dot."""

_SKIPPED = ("__pycache__", ".pyc")

NEXT_COMMANDS = (
    ("synthswarm chat --agents swarm.toml", "ask the swarm, with the embedded model"),
    ("python -m pytest", "the first run records the model's replies; later runs replay them offline"),
)


@dataclass(frozen=True, slots=True)
class ProjectFile:
    """One file of the project: its path inside it, and its text."""

    path: str
    text: str


def scaffold(project: str) -> list[ProjectFile]:
    """The files of a new project named ``project``, sorted by path."""
    found = list(_walk(files("synthswarm.swarm.app").joinpath(SCAFFOLD), ""))
    return sorted(
        (ProjectFile(path, text.replace(_PROJECT, project)) for path, text in found), key=lambda f: f.path
    )


def write_project(target: Path, *, force: bool = False) -> list[Path]:
    """Write a new project into ``target`` (created if missing) and return the paths written.

    A folder that holds anything is refused, unless ``force``: then files of the project overwrite
    files of the same name, and others stay."""
    if target.exists() and not target.is_dir():
        raise click.ClickException(f"{target} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise click.ClickException(
            f"{target} is not empty; nothing was written (choose a new folder, or --force to write "
            "the project's files over the ones of the same name)"
        )
    written = []
    for file in scaffold(target.resolve().name):
        path = target / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.text, encoding="utf-8")
        written.append(path)
    return written


@click.command("new")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--force", is_flag=True, help="Write into a folder that is not empty, over same-named files.")
def new(directory: Path, force: bool) -> None:
    """Start a project in DIRECTORY: an agents file with two specialists, their knowledge, a test
    that records the model once and replays it after, and a README."""
    written = write_project(directory, force=force)
    lines = [f"wrote {len(written)} files in {directory}:"]
    lines += [f"  {path.relative_to(directory)}" for path in written]
    lines += ["next:", f"  cd {directory}", *(f"  {command:<38} # {why}" for command, why in NEXT_COMMANDS)]
    for line in lines:
        out.print(escape(line), soft_wrap=True, highlight=False)


def _walk(folder: Traversable, prefix: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for entry in folder.iterdir():
        if entry.name.endswith(_SKIPPED):
            continue
        path = prefix + _RENAMED.get(entry.name, entry.name)
        if entry.is_dir():
            found += _walk(entry, path + "/")
        else:
            found.append((path, entry.read_text(encoding="utf-8")))
    return found
