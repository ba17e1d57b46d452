"""The scaling sweep: every (size, strategy) run of :mod:`evals.harness`, cached, and its report.

Each run's row is cached in ``OUT/runs/`` under a key of everything that decides it (dataset, its
questions, seed, model setting, size, strategy, gossip budget), so an interrupted sweep resumes where it
stopped and a finished one is re-reported for free. ``dht`` runs first at each size, so ``gossip`` gets
the message budget dht measured there. ``OUT/results.json`` and ``OUT/results.md`` are rewritten after
every run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evals.datasets import Dataset
from evals.harness import ALL_STRATEGIES, CachedEmbedder, Progress, Row, RunSettings, run_once
from swarm.errors import ConfigError

__all__ = ["SweepSettings", "markdown", "run_sweep"]


@dataclass(frozen=True)
class SweepSettings:
    sizes: tuple[int, ...]
    strategies: tuple[str, ...]
    seed: int = 0
    llm: str = "none"

    def __post_init__(self) -> None:
        unknown = [s for s in self.strategies if s not in ALL_STRATEGIES]
        if unknown:
            raise ConfigError(
                "eval.strategies", f"unknown {', '.join(unknown)}: use {', '.join(ALL_STRATEGIES)}"
            )
        if not self.sizes or min(self.sizes) < 2:
            raise ConfigError("eval.sizes", f"sizes must be 2 or more, got {list(self.sizes)}")
        if self.llm != "none":
            raise ConfigError(
                "eval.llm", f"--llm {self.llm} is not available yet: only none (evidence metrics)"
            )


#: Called when a run starts: (n, strategy, index, total runs).
OnRun = Callable[[int, str, int, int], None]


async def run_sweep(
    dataset: Dataset,
    sweep: SweepSettings,
    out: Path,
    *,
    embedder: CachedEmbedder,
    settings: RunSettings | None = None,
    on_run: OnRun | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run (or read from the cache) every configuration; returns what ``results.json`` holds."""
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    vectors = await _paragraph_vectors(dataset, embedder, out)
    base = settings or RunSettings()
    order = sorted(sweep.strategies, key=lambda s: s != "dht")  # dht first: gossip takes its budget
    plan = [(n, s) for n in sweep.sizes for s in order]
    rows: list[Row] = []
    for index, (n, strategy) in enumerate(plan):
        run_settings = base
        if strategy == "gossip":
            dht = next((r for r in rows if r.n == n and r.strategy == "dht"), None)
            budget = (
                max(1, round(dht.publish_messages / len(dataset.paragraphs))) if dht else base.gossip_budget
            )
            run_settings = RunSettings(m=base.m, gossip_budget=budget, agent=base.agent)
        cached = runs / f"{_key(dataset, sweep, n, strategy, run_settings)}.json"
        if on_run:
            on_run(n, strategy, index, len(plan))
        if cached.exists():
            row = Row(**json.loads(cached.read_text(encoding="utf-8")))
        else:
            row = await run_once(
                dataset, vectors, n, strategy, embedder=embedder, seed=sweep.seed, settings=run_settings,
                progress=progress,
            )  # fmt: skip
            cached.write_text(json.dumps(row.as_dict(), indent=1), encoding="utf-8")
        rows.append(row)
        results = _results(dataset, sweep, rows)
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        (out / "results.md").write_text(markdown(results), encoding="utf-8")
    return _results(dataset, sweep, rows)


def markdown(results: dict[str, Any]) -> str:
    """The results as a markdown table, with synthesis gain and closure per size."""
    rows = results["rows"]
    lines = [
        f"# Scaling sweep: {results['dataset']} (seed {results['seed']}, llm {results['llm']})",
        "",
        f"{results['questions']} questions over {results['paragraphs']} paragraphs. Evidence recall is the",
        "share of the gold paragraphs in the answering agent's context; messages and bytes count routing",
        "while the questions were asked; pairs are realized synthesis pairs against N(N-1)/2.",
        "",
        "| N | strategy | evidence recall | EM | F1 | messages/q | bytes/q | hops | publish msgs | pairs "
        "| wall s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['strategy']} | {r['evidence_recall']:.3f} | {_opt(r['em'])} | {_opt(r['f1'])} "
            f"| {r['messages_per_question']:.1f} | {r['bytes_per_question']:,.0f} | {r['hops_mean']:.2f} "
            f"| {r['publish_messages']:,} | {r['synthesis_pairs']}/{r['possible_pairs']} "
            f"| {r['wall_s']:.1f} |"
        )
    lines += ["", _gain_table(rows, "em" if any(r["em"] is not None for r in rows) else "evidence_recall")]
    return "\n".join(lines) + "\n"


def _gain_table(rows: Sequence[dict[str, Any]], metric: str) -> str:
    """G(N) = dht - isolated and closure = G / (oracle - isolated), on ``metric``."""
    by = {(r["n"], r["strategy"]): r[metric] for r in rows}
    sizes = sorted({r["n"] for r in rows})
    out = [
        f"Synthesis gain and closure on {metric.replace('_', ' ')}:",
        "",
        "| N | dht | isolated | oracle | gain G(N) | closure |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for n in sizes:
        dht, iso, ora = by.get((n, "dht")), by.get((n, "isolated")), by.get((n, "oracle"))
        if dht is None or iso is None:
            continue
        gain = dht - iso
        closure = f"{gain / (ora - iso):.2f}" if ora is not None and ora != iso else "n/a"
        out.append(f"| {n} | {dht:.3f} | {iso:.3f} | {_opt(ora)} | {gain:+.3f} | {closure} |")
    return "\n".join(out)


def _opt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _results(dataset: Dataset, sweep: SweepSettings, rows: list[Row]) -> dict[str, Any]:
    return {
        "dataset": dataset.name,
        "seed": sweep.seed,
        "llm": sweep.llm,
        "questions": len(dataset.questions),
        "paragraphs": len(dataset.paragraphs),
        "rows": [r.as_dict() for r in sorted(rows, key=lambda r: (r.n, ALL_STRATEGIES.index(r.strategy)))],
    }


def _key(dataset: Dataset, sweep: SweepSettings, n: int, strategy: str, settings: RunSettings) -> str:
    what = json.dumps(
        [dataset.name, [q.id for q in dataset.questions], len(dataset.paragraphs), sweep.seed, sweep.llm, n,
         strategy, settings.m, settings.gossip_budget if strategy == "gossip" else 0, repr(settings.agent)]
    )  # fmt: skip
    return f"n{n:04d}-{strategy}-{hashlib.sha256(what.encode()).hexdigest()[:16]}"


async def _paragraph_vectors(dataset: Dataset, embedder: CachedEmbedder, out: Path) -> Any:
    """Paragraph embeddings, computed once per dataset and embedder and kept in ``OUT/runs``."""
    texts = [p.text for p in dataset.paragraphs]
    digest = hashlib.sha256(json.dumps([embedder.name, texts]).encode()).hexdigest()[:16]
    path = out / "runs" / f"paragraphs-{digest}.npy"
    if path.exists():
        vectors = np.load(path)
        embedder.remember(texts, vectors)
        return vectors
    vectors = await embedder.embed(texts)
    np.save(path, vectors)
    return vectors
