"""``synthswarm eval scaling``: the sweep in a terminal, with progress bars and the results table."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from synthswarm.agents.embeddings import make_embedder
from synthswarm.evals._harness.spread import check_spread
from synthswarm.evals.datasets import load_dataset, synthetic_world
from synthswarm.evals.harness import CachedEmbedder, Row, RunSettings
from synthswarm.evals.sweep import ModelSpec, SweepSettings, run_sweep
from synthswarm.swarm.config import Config
from synthswarm.swarm.errors import ConfigError

__all__ = ["ABLATIONS", "run_settings", "scaling"]


#: What ``--ablate`` turns off, and how.
ABLATIONS = ("rounds", "hybrid", "titles", "answerer", "relays")


def run_settings(
    *, kill: float = 0.0, ablate: str = "", synthesis: bool = False, answerer: str = ""
) -> RunSettings:
    """The harness settings for ``--kill``, ``--ablate`` (each named mechanism turned off),
    ``--synthesis`` and ``--answerer`` (who answers; ``--ablate answerer`` is ``--answerer profile``)."""
    names = [a.strip() for a in ablate.split(",") if a.strip()]
    unknown = [a for a in names if a not in ABLATIONS]
    if unknown:
        raise ConfigError("eval.ablate", f"unknown {', '.join(unknown)}: use {', '.join(ABLATIONS)}")
    base = RunSettings()
    agent = base.agent
    if "rounds" in names:
        agent = dataclasses.replace(agent, asking=dataclasses.replace(agent.asking, rounds=1))
    if "relays" in names:
        agent = dataclasses.replace(agent, asking=dataclasses.replace(agent.asking, relays=0))
    if "hybrid" in names:
        agent = dataclasses.replace(agent, lexical_weight=0.0)
    return dataclasses.replace(
        base,
        agent=agent,
        titles="titles" not in names,
        answerer="profile" if "answerer" in names else answerer or base.answerer,
        kill=kill,
        synthesis=synthesis,
    )


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError("eval.sizes", f"expected comma-separated integers, got {text!r}") from exc


class _Bars:
    """Progress bars: one for the sweep, one for each run in progress."""

    def __init__(self, bars: Progress, total: int) -> None:
        self.bars = bars
        self.overall = bars.add_task("runs", total=total)
        self.runs: dict[str, TaskID] = {}
        self.finished = 0

    def run_started(self, label: str, index: int, total: int) -> None:
        self.runs[label] = self.bars.add_task(f"  {label}", total=1)

    def stage(self, label: str, stage: str, done: int, total: int) -> None:
        if label in self.runs:
            self.bars.update(self.runs[label], completed=done, total=total, description=f"  {label}: {stage}")

    def run_finished(self, label: str, row: Row, cached: bool) -> None:
        self.bars.remove_task(self.runs.pop(label))
        self.finished += 1
        self.bars.update(self.overall, completed=self.finished)
        how = "cached" if cached else f"{row.wall_s:.0f} s"
        self.bars.console.print(f"  {label}: evidence recall {row.evidence_recall:.3f} ({how})")


async def scaling(
    config: Config,
    console: Console,
    *,
    dataset: str,
    sizes: str,
    strategies: str,
    llm: str,
    questions: int | None,
    complete: bool,
    part: str = "all",
    seed: int,
    jobs: int,
    out: Path,
    command: str,
    ray: str | None = None,
    kill: float = 0.0,
    ablate: str = "",
    protocol: str = "split",
    share: int = 30,
    synthesis: bool = False,
    answerer: str = "",
    processes: int = 1,
) -> None:
    sweep = SweepSettings(
        sizes=parse_sizes(sizes),
        strategies=tuple(s.strip() for s in strategies.split(",") if s.strip()),
        seed=seed,
        llm=llm,
        jobs=jobs,
        ray=ray,
        protocol=protocol,
        share=share,
        processes=processes,
    )
    settings = run_settings(kill=kill, ablate=ablate, synthesis=synthesis, answerer=answerer)
    if processes > 1:  # refuse what a spread run cannot do before any run starts
        for n in sweep.sizes:
            for strategy in (s for s in sweep.strategies if s != "oracle"):
                check_spread(strategy, n, processes, settings, answer=llm != "none")
    if dataset == "synthetic" and protocol == "growing":  # a world the largest size can grow into
        data = synthetic_world(max(sweep.sizes) * share, seed=seed)
    else:
        data = load_dataset(dataset, seed=seed)
    if complete:
        data = data.complete()
    data = data.split(part).take(questions)
    if protocol == "split" and max(sweep.sizes) > len(data.paragraphs):
        raise ConfigError(
            "eval.sizes", f"{max(sweep.sizes)} agents but only {len(data.paragraphs)} paragraphs"
        )
    llm_config = None
    if llm in ("local", "openai"):
        llm_config = dataclasses.replace(config.llm, backend="local" if llm == "local" else "openai")
    models = ModelSpec(config.embedder, llm_config)
    embedder = CachedEmbedder(make_embedder(config.embedder))
    console.print(
        f"[bold]eval scaling[/]: {data.name}, {len(data.questions)} questions, "
        f"{len(data.paragraphs)} paragraphs, part {data.part}, sizes {list(sweep.sizes)}, "
        f"strategies {list(sweep.strategies)}, "
        f"llm {models.describe()}, seed {seed}, {jobs} job(s)"
        + (f", agents over {processes} processes" if processes > 1 else "")
        + (f" on Ray ({ray})" if ray else "")
        + f" -> {out}"
    )
    began = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bars:
        observer = _Bars(bars, len(sweep.sizes) * len(sweep.strategies))
        results = await run_sweep(
            data, sweep, out, models=models, embedder=embedder, settings=settings, observer=observer
        )
    console.print((out / "results.md").read_text(encoding="utf-8"), markup=False, highlight=False)
    console.print(
        f"{len(results['rows'])} runs in {time.perf_counter() - began:.0f} s; wrote {out}/results.json, "
        "results.md and the plots (*.png)"
    )
    console.print(f"rerun (cached runs are reused): {command}")
