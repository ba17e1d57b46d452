"""The scaling sweep: every (size, strategy) run of :mod:`synthswarm.evals.harness`, cached, and its report.

Each run's row is cached in ``OUT/runs/`` under a key of everything that decides it (dataset, its
questions, seed, model, size, strategy, gossip budget, harness version), so an interrupted sweep
resumes where it stopped and a finished one is re-reported for free. ``dht`` runs before ``gossip`` at
each size, so gossip gets the message budget dht measured there. Runs are independent processes'
work when ``jobs`` > 1 (each worker builds its own models from a :class:`ModelSpec`); the results do
not depend on ``jobs``, only the wall times do. ``OUT/results.json`` and ``OUT/results.md`` are
rewritten after every run; the plots and the synthesis graph (:mod:`synthswarm.evals.plots`) at the end.

:func:`run_sweep` drives the sweep; its parts live in the private package :mod:`synthswarm.evals._sweep`
(its docstring maps it), whose public names are re-exported here. Runs in this process are run by this
module's ``run_once`` (the harness's), looked up when the sweep starts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from synthswarm.agents.embeddings import make_embedder
from synthswarm.evals._sweep.cache import HARNESS_VERSION, paragraph_vectors
from synthswarm.evals._sweep.observer import Quiet, SweepObserver
from synthswarm.evals._sweep.plan import Plan
from synthswarm.evals._sweep.report import markdown
from synthswarm.evals._sweep.results import graph_run, results_of
from synthswarm.evals._sweep.settings import LLM_CHOICES, PROTOCOLS, ModelSpec, SweepSettings
from synthswarm.evals._sweep.workers import Workers
from synthswarm.evals.datasets import Dataset
from synthswarm.evals.harness import CachedEmbedder, RunSettings, run_once
from synthswarm.evals.plots import draw_synthesis_graph, plot_results

__all__ = [
    "HARNESS_VERSION",
    "LLM_CHOICES",
    "PROTOCOLS",
    "ModelSpec",
    "SweepObserver",
    "SweepSettings",
    "markdown",
    "run_sweep",
]


async def run_sweep(
    dataset: Dataset,
    sweep: SweepSettings,
    out: Path,
    *,
    models: ModelSpec | None = None,
    embedder: CachedEmbedder | None = None,
    settings: RunSettings | None = None,
    observer: SweepObserver | None = None,
) -> dict[str, Any]:
    """Run (or read from the cache) every configuration; returns what ``results.json`` holds.

    ``embedder`` (built from ``models`` when not given) embeds the paragraphs here and serves the
    runs done in this process."""
    spec = models or ModelSpec()
    (out / "runs").mkdir(parents=True, exist_ok=True)
    local = embedder or CachedEmbedder(make_embedder(spec.embedder))
    base = settings or RunSettings()
    vectors = await paragraph_vectors(dataset, local, out, titles=base.titles)
    # With processes > 1 Ray hosts the runs' shards, not the runs (SweepSettings.ray).
    with Workers(sweep.jobs, sweep.ray if sweep.processes == 1 else None) as workers:
        plan = Plan(dataset, sweep, spec, out, base, observer or Quiet(), run_once)
        while plan.pending or plan.running:
            plan.start_ready(workers, vectors, local)
            if not plan.running:
                break
            finished, _ = await asyncio.wait(plan.running, timeout=0.25, return_when=asyncio.FIRST_COMPLETED)
            workers.relay(plan.watch)
            for future in finished:
                plan.finish(future)
    results = plan.results
    final = results_of(dataset, sweep, spec, base, [r.row for r in results.values()])
    plot_results(final, out)
    graph = graph_run(results)
    if graph is not None:
        row = graph.row
        draw_synthesis_graph(graph.edges, row.n, f"{row.strategy}, N={row.n}", out / "synthesis_graph.png")
    return final
