"""What a sweep reports as it goes (the CLI draws progress bars from it), and an observer that hears
nothing."""

from __future__ import annotations

from typing import Protocol

from synthswarm.evals.harness import Row

__all__ = ["Quiet", "SweepObserver"]


class SweepObserver(Protocol):
    """What a sweep reports as it goes (the CLI draws progress bars from it)."""

    def run_started(self, label: str, index: int, total: int) -> None: ...

    def stage(self, label: str, stage: str, done: int, total: int) -> None: ...

    def run_finished(self, label: str, row: Row, cached: bool) -> None: ...


class Quiet:
    """The observer of a sweep nobody watches."""

    def run_started(self, label: str, index: int, total: int) -> None:
        pass

    def stage(self, label: str, stage: str, done: int, total: int) -> None:
        pass

    def run_finished(self, label: str, row: Row, cached: bool) -> None:
        pass
