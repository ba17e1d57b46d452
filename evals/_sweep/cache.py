"""What a sweep keeps in ``OUT/runs``: each run's row and edges under a key of everything that decides
them (so an interrupted sweep resumes and a finished one is re-reported for free), and the paragraph
embeddings, computed once per dataset and embedder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from synthswarm.evals._sweep.jobs import Outcome
from synthswarm.evals._sweep.settings import ModelSpec, SweepSettings
from synthswarm.evals.datasets import Dataset
from synthswarm.evals.harness import ORACLE, CachedEmbedder, RunSettings, paragraph_texts

__all__ = ["HARNESS_VERSION", "paragraph_vectors", "read_run", "run_path", "write_run"]

#: Bumped when the harness changes what a run measures, so older cached runs are not reused.
HARNESS_VERSION = 7


def run_path(
    out: Path,
    dataset: Dataset,
    sweep: SweepSettings,
    spec: ModelSpec,
    n: int,
    strategy: str,
    settings: RunSettings,
) -> Path:
    """Where the run of this configuration is kept."""
    return out / "runs" / f"{_key(dataset, sweep, spec, n, strategy, settings)}.json"


def read_run(path: Path) -> Outcome | None:
    """The run kept at ``path``; None when it has not run yet."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["row"], data["edges"]


def write_run(path: Path, outcome: Outcome) -> None:
    row, edges = outcome
    path.write_text(json.dumps({"row": row, "edges": edges}, indent=1), encoding="utf-8")


def _key(
    dataset: Dataset, sweep: SweepSettings, spec: ModelSpec, n: int, strategy: str, settings: RunSettings
) -> str:
    # Every field of the run's settings, nested ones (the agents', the nodes' RPC timeouts, the
    # synthesis bounds) included, so a field added later is keyed without being listed here. Only
    # gossip reads the gossip budget, so the other strategies' runs are shared across budgets.
    if strategy != "gossip":
        settings = replace(settings, gossip_budget=0)
    what = json.dumps(
        [HARNESS_VERSION, dataset.name, [q.id for q in dataset.questions], len(dataset.paragraphs),
         sweep.seed, spec.key(), spec.embedder.backend, spec.embedder.model, n, strategy, repr(settings)]
    )  # fmt: skip
    if sweep.processes > 1 and strategy != ORACLE:  # a spread run's nodes differ (ids, TCP); keyed apart
        what += f" processes={sweep.processes}"
    return f"n{n:04d}-{strategy}-{hashlib.sha256(what.encode()).hexdigest()[:16]}"


async def paragraph_vectors(dataset: Dataset, embedder: CachedEmbedder, out: Path, *, titles: bool) -> Any:
    """Paragraph embeddings (as the agents embed them), computed once per dataset and embedder and kept
    in ``OUT/runs``."""
    texts = paragraph_texts(dataset, titles=titles)
    digest = hashlib.sha256(json.dumps([embedder.name, texts]).encode()).hexdigest()[:16]
    path = out / "runs" / f"paragraphs-{digest}.npy"
    if path.exists():
        vectors = np.load(path)
        embedder.remember(texts, vectors)
        return vectors
    vectors = await embedder.embed(texts)
    np.save(path, vectors)
    return vectors
