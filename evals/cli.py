"""``synthswarm eval scaling``: the sweep in a terminal, with progress bars and the results table."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.embeddings import make_embedder
from evals.datasets import load_dataset
from evals.harness import CachedEmbedder
from evals.sweep import SweepSettings, run_sweep
from swarm.config import Config
from swarm.errors import ConfigError

__all__ = ["scaling"]


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError("eval.sizes", f"expected comma-separated integers, got {text!r}") from exc


async def scaling(
    config: Config,
    console: Console,
    *,
    dataset: str,
    sizes: str,
    strategies: str,
    llm: str,
    questions: int | None,
    seed: int,
    out: Path,
    command: str,
) -> None:
    sweep = SweepSettings(
        sizes=parse_sizes(sizes),
        strategies=tuple(s.strip() for s in strategies.split(",") if s.strip()),
        seed=seed,
        llm=llm,
    )
    data = load_dataset(dataset, seed=seed).take(questions)
    if max(sweep.sizes) > len(data.paragraphs):
        raise ConfigError(
            "eval.sizes", f"{max(sweep.sizes)} agents but only {len(data.paragraphs)} paragraphs"
        )
    embedder = CachedEmbedder(make_embedder(config.embedder))
    console.print(
        f"[bold]eval scaling[/]: {data.name}, {len(data.questions)} questions, "
        f"{len(data.paragraphs)} paragraphs, "
        f"sizes {list(sweep.sizes)}, strategies {list(sweep.strategies)}, llm {llm}, seed {seed} -> {out}"
    )
    began = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bars:
        overall = bars.add_task("runs", total=len(sweep.sizes) * len(sweep.strategies))
        stage = bars.add_task("", total=1)

        def on_run(n: int, strategy: str, index: int, total: int) -> None:
            bars.update(overall, completed=index, description=f"runs (now N={n} {strategy})")

        def on_stage(name: str, done: int, total: int) -> None:
            bars.update(stage, completed=done, total=total, description=f"  {name}")

        results = await run_sweep(data, sweep, out, embedder=embedder, on_run=on_run, progress=on_stage)
        bars.update(overall, completed=len(sweep.sizes) * len(sweep.strategies))
    console.print((out / "results.md").read_text(encoding="utf-8"), markup=False, highlight=False)
    console.print(
        f"{len(results['rows'])} runs in {time.perf_counter() - began:.0f} s; wrote {out}/results.json"
    )
    console.print(f"rerun (cached runs are reused): {command}")
