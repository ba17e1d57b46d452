"""What the ``synthswarm`` command modules share: the consoles they print to, progress on a status line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console

__all__ = ["err", "out", "status_updater"]

out = Console()
"""Results: tables, JSON, answers."""
err = Console(stderr=True, log_path=False)
"""Progress, logs and warnings, so that stdout carries results only."""


def status_updater(status: Any) -> Callable[[str], None]:
    def update(message: str) -> None:
        status.update(message + " ...")
        err.log(message)

    return update
