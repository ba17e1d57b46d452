"""Which runs of a sweep are left, which are running, and what the finished ones measured. ``dht``
runs before ``gossip`` at each size, so gossip gets the message budget dht measured there."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from synthswarm.agents.llm import ChatModel
from synthswarm.evals._sweep.cache import read_run, run_path, write_run
from synthswarm.evals._sweep.jobs import Job, Outcome, Runner, run_here
from synthswarm.evals._sweep.observer import SweepObserver
from synthswarm.evals._sweep.results import write_results
from synthswarm.evals._sweep.settings import ModelSpec, SweepSettings
from synthswarm.evals._sweep.workers import Workers, chat_model
from synthswarm.evals.datasets import Dataset
from synthswarm.evals.harness import CachedEmbedder, Row, RunResult, RunSettings

__all__ = ["Plan"]


class Plan:
    """Which runs are left, which are running, and what the finished ones measured. Runs in this
    process are run by ``run``."""

    def __init__(
        self,
        dataset: Dataset,
        sweep: SweepSettings,
        spec: ModelSpec,
        out: Path,
        base: RunSettings,
        watch: SweepObserver,
        run: Runner,
    ) -> None:
        self.dataset, self.sweep, self.spec, self.out, self.base, self.watch = (
            dataset, sweep, spec, out, base, watch,
        )  # fmt: skip
        self.run = run
        order = sorted(sweep.strategies, key=lambda s: s != "dht")  # dht first: gossip takes its budget
        self.pending = [(n, s) for n in sweep.sizes for s in order]
        self.total = len(self.pending)
        self.results: dict[tuple[int, str], RunResult] = {}
        self.running: dict[asyncio.Future[Outcome], tuple[int, str, Path]] = {}
        self._started = 0
        self._chat: ChatModel | None = None  # for runs in this process, built on first use

    def start_ready(self, workers: Workers, vectors: npt.NDArray[np.float32], local: CachedEmbedder) -> None:
        """Start runs while a worker is free and a run is ready; cached runs finish at once."""
        while self.pending and len(self.running) < self.sweep.jobs:
            ready = next((p for p in self.pending if _ready(p, self.sweep, self.results)), None)
            if ready is None:
                return
            self.pending.remove(ready)
            self._start(*ready, workers, vectors, local)

    def finish(self, future: asyncio.Future[Outcome]) -> None:
        n, strategy, path = self.running.pop(future)
        outcome = future.result()  # a run that failed ends the sweep with its error
        write_run(path, outcome)
        self._record(n, strategy, outcome, cached=False)

    def _start(
        self, n: int, strategy: str, workers: Workers, vectors: npt.NDArray[np.float32], local: CachedEmbedder
    ) -> None:
        job = self._job(n, strategy, vectors)
        path = run_path(self.out, job.dataset, self.sweep, self.spec, n, strategy, job.settings)
        label = f"N={n} {strategy}"
        self.watch.run_started(label, self._started, self.total)
        self._started += 1
        if (cached := read_run(path)) is not None:
            self._record(n, strategy, cached, cached=True)
            return
        future = workers.start(job, self.spec, self.out, label)
        if future is None:
            here = run_here(self.run, job, local, self._local_chat(), label, self.watch)
            future = asyncio.ensure_future(here)
        self.running[future] = (n, strategy, path)

    def _job(self, n: int, strategy: str, vectors: npt.NDArray[np.float32]) -> Job:
        """The run of ``strategy`` at size ``n``: its corpus (grown to ``n`` in the growing protocol),
        vectors and settings."""
        data, vecs = self.dataset, vectors
        if self.sweep.protocol == "growing":
            data, positions = self.dataset.growing(n, self.sweep.share)
            vecs = vectors[positions]
        settings = replace(
            _settings_for(n, strategy, self.base, data, self.results), protocol=self.sweep.protocol
        )
        sweep = self.sweep
        ray = sweep.ray if sweep.processes > 1 else None  # Ray places the run's shards (see SweepSettings)
        return Job(data, vecs, n, strategy, sweep.seed, settings, sweep.processes, self.spec.embedder, ray)

    def _local_chat(self) -> ChatModel | None:
        if self._chat is None and self.spec.llm is not None:
            self._chat = chat_model(self.spec.llm, self.out)
        return self._chat

    def _record(self, n: int, strategy: str, outcome: Outcome, *, cached: bool) -> None:
        row, edges = outcome
        result = RunResult(Row.from_dict(row), [(e[0], e[1], e[2]) for e in edges])
        self.results[n, strategy] = result
        self.watch.run_finished(f"N={n} {strategy}", result.row, cached)
        write_results(self.dataset, self.sweep, self.spec, self.base, self.results, self.out)


def _ready(run: tuple[int, str], sweep: SweepSettings, done: dict[tuple[int, str], RunResult]) -> bool:
    n, strategy = run
    return strategy != "gossip" or "dht" not in sweep.strategies or (n, "dht") in done


def _settings_for(
    n: int, strategy: str, base: RunSettings, dataset: Dataset, done: dict[tuple[int, str], RunResult]
) -> RunSettings:
    if strategy != "gossip" or (n, "dht") not in done:
        return base
    per_packet = done[n, "dht"].row.publish_messages / max(1, len(dataset.paragraphs))
    return replace(base, gossip_budget=max(1, round(per_packet)))
