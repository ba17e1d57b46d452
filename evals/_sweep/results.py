"""A sweep's rows made into what ``results.json`` holds, written (with ``results.md``) after every run,
and the run whose synthesis graph is drawn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthswarm.evals._sweep.report import markdown
from synthswarm.evals._sweep.settings import ModelSpec, SweepSettings
from synthswarm.evals.datasets import Dataset
from synthswarm.evals.harness import ALL_STRATEGIES, Row, RunResult, RunSettings

__all__ = ["graph_run", "results_of", "write_results"]


def results_of(
    dataset: Dataset, sweep: SweepSettings, spec: ModelSpec, base: RunSettings, rows: list[Row]
) -> dict[str, Any]:
    """What ``results.json`` holds: how the sweep ran, and its rows by size, then strategy."""
    asking = base.agent.asking
    return {
        "protocol": sweep.protocol,
        "share": sweep.share if sweep.protocol == "growing" else None,
        "asking": {
            "rounds": asking.rounds,
            "budget": asking.budget,
            "bridges": asking.bridges,
            "relays": asking.relays,
            "lexical_weight": base.agent.lexical_weight,
            "titles": base.titles,
            "answerer": base.answerer,
            "kill": base.kill,
        },
        "dataset": dataset.name,
        "seed": sweep.seed,
        "llm": sweep.llm,
        "model": spec.describe(),
        "questions": len(dataset.questions),
        "paragraphs": len(dataset.paragraphs),
        "rows": [r.as_dict() for r in sorted(rows, key=lambda r: (r.n, ALL_STRATEGIES.index(r.strategy)))],
    }


def write_results(
    dataset: Dataset,
    sweep: SweepSettings,
    spec: ModelSpec,
    base: RunSettings,
    results: dict[tuple[int, str], RunResult],
    out: Path,
) -> None:
    """``OUT/results.json`` and ``OUT/results.md`` of the runs finished so far."""
    data = results_of(dataset, sweep, spec, base, [r.row for r in results.values()])
    (out / "results.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (out / "results.md").write_text(markdown(data), encoding="utf-8")


def graph_run(results: dict[tuple[int, str], RunResult]) -> RunResult | None:
    """The run whose synthesis graph is drawn: dht at the largest size that stays legible (<= 32)."""
    dht = sorted((n, r) for (n, s), r in results.items() if s == "dht")
    small = [r for n, r in dht if n <= 32]
    return small[-1] if small else (dht[0][1] if dht else None)
