"""One run of a sweep as it travels: its configuration (:class:`Job`, picklable, for a worker process or
a Ray task), its outcome as plain data, and running it with a given harness runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from synthswarm.agents.llm import ChatModel
from synthswarm.evals._sweep.observer import SweepObserver
from synthswarm.evals.datasets import Dataset
from synthswarm.evals.harness import CachedEmbedder, RunResult, RunSettings
from synthswarm.swarm.config import EmbedderConfig

__all__ = ["Job", "Outcome", "Runner", "run_here"]

#: A run's row (as ``results.json`` holds it) and its synthesis graph's edges, as plain data.
Outcome = tuple[dict[str, Any], list[list[int]]]


#: What runs one configuration, called as :func:`synthswarm.evals.harness.run_once` is (that function, or
#: a test's stand-in for it).
Runner = Callable[..., Awaitable[RunResult]]


@dataclass(frozen=True)
class Job:
    """One run's configuration, as it travels to a worker process."""

    dataset: Dataset
    vectors: npt.NDArray[np.float32]
    n: int
    strategy: str
    seed: int
    settings: RunSettings
    processes: int = 1
    """Processes the run's agents are spread over (:mod:`synthswarm.evals._harness.spread`)."""
    embedder: EmbedderConfig | None = None
    """The embedder each process of a spread run builds."""
    ray: str | None = None
    """Where a spread run's other processes go: actors on this Ray cluster; None: child processes."""


async def run_here(
    run: Runner, job: Job, embedder: CachedEmbedder, chat: ChatModel | None, label: str, watch: SweepObserver
) -> Outcome:
    """``job`` run by ``run`` in this process, its progress reported to ``watch`` under ``label``."""
    spread = {"processes": job.processes, "embedder_config": job.embedder, "ray": job.ray}
    spread = spread if job.processes > 1 else {}
    result = await run(
        job.dataset, job.vectors, job.n, job.strategy, embedder=embedder, chat=chat, seed=job.seed,
        settings=job.settings, progress=lambda stage, done, total: watch.stage(label, stage, done, total),
        **spread,
    )  # fmt: skip
    return result.row.as_dict(), [list(e) for e in result.edges]
