"""The scaling sweep: every (size, strategy) run of :mod:`synthswarm.evals.harness`, cached, and its report.

Each run's row is cached in ``OUT/runs/`` under a key of everything that decides it (dataset, its
questions, seed, model, size, strategy, gossip budget, harness version), so an interrupted sweep
resumes where it stopped and a finished one is re-reported for free. ``dht`` runs before ``gossip`` at
each size, so gossip gets the message budget dht measured there. Runs are independent processes'
work when ``jobs`` > 1 (each worker builds its own models from a :class:`ModelSpec`); the results do
not depend on ``jobs``, only the wall times do. ``OUT/results.json`` and ``OUT/results.md`` are
rewritten after every run; the plots and the synthesis graph (:mod:`synthswarm.evals.plots`) at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import multiprocessing
import os
import queue
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from synthswarm.agents.embeddings import make_embedder
from synthswarm.agents.llm import ChatModel, make_chat_model
from synthswarm.evals.datasets import Dataset
from synthswarm.evals.harness import (
    ALL_STRATEGIES,
    CachedEmbedder,
    Row,
    RunResult,
    RunSettings,
    paragraph_texts,
    run_once,
)
from synthswarm.evals.llm_cache import CachedChat
from synthswarm.evals.plots import draw_synthesis_graph, plot_results
from synthswarm.swarm.config import EmbedderConfig, LLMConfig
from synthswarm.swarm.errors import ConfigError

__all__ = ["LLM_CHOICES", "ModelSpec", "SweepObserver", "SweepSettings", "markdown", "run_sweep"]

#: Bumped when the harness changes what a run measures, so older cached runs are not reused.
HARNESS_VERSION = 5
LLM_CHOICES = ("none", "local", "openai")
PROTOCOLS = ("split", "growing")


@dataclass(frozen=True)
class SweepSettings:
    sizes: tuple[int, ...]
    strategies: tuple[str, ...]
    seed: int = 0
    llm: str = "none"
    jobs: int = 1
    """Runs at once, each in its own process (one per core is the most that helps)."""
    protocol: str = "split"
    """``split``: the whole corpus split among N agents. ``growing``: N agents of ``share`` paragraphs
    each, the corpus and its questions growing with N (:meth:`synthswarm.evals.datasets.Dataset.growing`)."""
    share: int = 30
    """Paragraphs per agent in the growing protocol."""
    ray: str | None = None
    """Run each run as a Ray task on this cluster (``auto``, ``local`` or a cluster's address, as
    :func:`synthswarm.swarm.cluster.ray_shards.connect` takes it), ``jobs`` at once, instead of in a pool of
    this machine's processes. Results come back to this process, which writes ``OUT``; with a model,
    each worker machine keeps its own response cache under the same ``OUT`` path."""

    def __post_init__(self) -> None:
        unknown = [s for s in self.strategies if s not in ALL_STRATEGIES]
        if unknown:
            raise ConfigError(
                "eval.strategies", f"unknown {', '.join(unknown)}: use {', '.join(ALL_STRATEGIES)}"
            )
        if not self.strategies:
            raise ConfigError("eval.strategies", "name at least one strategy")
        if not self.sizes or min(self.sizes) < 2:
            raise ConfigError("eval.sizes", f"sizes must be 2 or more, got {list(self.sizes)}")
        if self.llm not in LLM_CHOICES:
            raise ConfigError("eval.llm", f"unknown model {self.llm!r}: use {', '.join(LLM_CHOICES)}")
        if self.jobs < 1:
            raise ConfigError("eval.jobs", f"must be at least 1, got {self.jobs}")
        if self.protocol not in PROTOCOLS:
            raise ConfigError("eval.protocol", f"unknown {self.protocol!r}: use {', '.join(PROTOCOLS)}")
        if self.share < 1:
            raise ConfigError("eval.share", f"must be at least 1, got {self.share}")


@dataclass(frozen=True)
class ModelSpec:
    """The models a run uses, as configuration (so a worker process can build its own)."""

    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    llm: LLMConfig | None = None
    """None: no model answers (evidence metrics only)."""

    def describe(self) -> str:
        """The model, as the results name it (answers are capped by the agents' ``max_tokens``)."""
        if self.llm is None:
            return "none"
        default = "embedded SmolLM2-135M" if self.llm.backend == "local" else "default"
        return f"{self.llm.backend}:{self.llm.model or default}"

    def key(self) -> str:
        """What of the model decides a run's figures, for the run cache."""
        if self.llm is None:
            return "none"
        return f"{self.llm.backend}:{self.llm.model or 'default'}:max_tokens={self.llm.max_tokens}"


class SweepObserver(Protocol):
    """What a sweep reports as it goes (the CLI draws progress bars from it)."""

    def run_started(self, label: str, index: int, total: int) -> None: ...

    def stage(self, label: str, stage: str, done: int, total: int) -> None: ...

    def run_finished(self, label: str, row: Row, cached: bool) -> None: ...


class _Quiet:
    def run_started(self, label: str, index: int, total: int) -> None:
        pass

    def stage(self, label: str, stage: str, done: int, total: int) -> None:
        pass

    def run_finished(self, label: str, row: Row, cached: bool) -> None:
        pass


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
    vectors = await _paragraph_vectors(dataset, local, out, titles=base.titles)
    with _Workers(sweep.jobs, sweep.ray) as workers:
        plan = _Plan(dataset, sweep, spec, out, base, observer or _Quiet())
        while plan.pending or plan.running:
            plan.start_ready(workers, vectors, local)
            if not plan.running:
                break
            finished, _ = await asyncio.wait(plan.running, timeout=0.25, return_when=asyncio.FIRST_COMPLETED)
            workers.relay(plan.watch)
            for future in finished:
                plan.finish(future)
    results = plan.results
    final = _results(dataset, sweep, spec, base, [r.row for r in results.values()])
    plot_results(final, out)
    graph = _graph_run(results)
    if graph is not None:
        row = graph.row
        draw_synthesis_graph(graph.edges, row.n, f"{row.strategy}, N={row.n}", out / "synthesis_graph.png")
    return final


_Outcome = tuple[dict[str, Any], list[list[int]]]


class _Plan:
    """Which runs are left, which are running, and what the finished ones measured."""

    def __init__(
        self,
        dataset: Dataset,
        sweep: SweepSettings,
        spec: ModelSpec,
        out: Path,
        base: RunSettings,
        watch: SweepObserver,
    ) -> None:
        self.dataset, self.sweep, self.spec, self.out, self.base, self.watch = (
            dataset, sweep, spec, out, base, watch,
        )  # fmt: skip
        order = sorted(sweep.strategies, key=lambda s: s != "dht")  # dht first: gossip takes its budget
        self.pending = [(n, s) for n in sweep.sizes for s in order]
        self.total = len(self.pending)
        self.results: dict[tuple[int, str], RunResult] = {}
        self.running: dict[asyncio.Future[_Outcome], tuple[int, str, Path]] = {}
        self._started = 0
        self._chat: ChatModel | None = None  # for runs in this process, built on first use

    def start_ready(self, workers: _Workers, vectors: npt.NDArray[np.float32], local: CachedEmbedder) -> None:
        """Start runs while a worker is free and a run is ready; cached runs finish at once."""
        while self.pending and len(self.running) < self.sweep.jobs:
            ready = next((p for p in self.pending if _ready(p, self.sweep, self.results)), None)
            if ready is None:
                return
            self.pending.remove(ready)
            n, strategy = ready
            data, vecs = self.dataset, vectors
            if self.sweep.protocol == "growing":
                data, positions = self.dataset.growing(n, self.sweep.share)
                vecs = vectors[positions]
            run_settings = _settings_for(n, strategy, self.base, data, self.results)
            run_settings = replace(run_settings, protocol=self.sweep.protocol)
            path = self.out / "runs" / f"{_key(data, self.sweep, self.spec, n, strategy, run_settings)}.json"
            label = f"N={n} {strategy}"
            self.watch.run_started(label, self._started, self.total)
            self._started += 1
            if path.exists():
                data = json.loads(path.read_text(encoding="utf-8"))
                self._record(n, strategy, data["row"], data["edges"], cached=True)
                continue
            job = _Job(data, vecs, n, strategy, self.sweep.seed, run_settings)
            future: asyncio.Future[_Outcome]
            if workers.pool is not None:
                loop = asyncio.get_running_loop()
                future = loop.run_in_executor(
                    workers.pool, _work, job, self.spec, self.out, label, workers.messages
                )
            elif workers.remote is not None:
                ref = workers.remote.remote(job, self.spec, self.out, label, workers.messages)
                future = asyncio.wrap_future(ref.future())
            else:
                if self._chat is None and self.spec.llm is not None:
                    self._chat = _chat(self.spec.llm, self.out)
                future = asyncio.ensure_future(_run_here(job, local, self._chat, label, self.watch))
            self.running[future] = (n, strategy, path)

    def finish(self, future: asyncio.Future[_Outcome]) -> None:
        n, strategy, path = self.running.pop(future)
        row, edges = future.result()  # a run that failed ends the sweep with its error
        path.write_text(json.dumps({"row": row, "edges": edges}, indent=1), encoding="utf-8")
        self._record(n, strategy, row, edges, cached=False)

    def _record(
        self, n: int, strategy: str, row: dict[str, Any], edges: list[list[int]], *, cached: bool
    ) -> None:
        result = RunResult(Row.from_dict(row), [(e[0], e[1], e[2]) for e in edges])
        self.results[n, strategy] = result
        self.watch.run_finished(f"N={n} {strategy}", result.row, cached)
        _write(self.dataset, self.sweep, self.spec, self.base, self.results, self.out)


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


def _graph_run(results: dict[tuple[int, str], RunResult]) -> RunResult | None:
    """The run whose synthesis graph is drawn: dht at the largest size that stays legible (<= 32)."""
    dht = sorted((n, r) for (n, s), r in results.items() if s == "dht")
    small = [r for n, r in dht if n <= 32]
    return small[-1] if small else (dht[0][1] if dht else None)


@dataclass(frozen=True)
class _Job:
    """One run's configuration, as it travels to a worker process."""

    dataset: Dataset
    vectors: npt.NDArray[np.float32]
    n: int
    strategy: str
    seed: int
    settings: RunSettings


async def _run_here(
    job: _Job, embedder: CachedEmbedder, chat: ChatModel | None, label: str, watch: SweepObserver
) -> tuple[dict[str, Any], list[list[int]]]:
    result = await run_once(
        job.dataset, job.vectors, job.n, job.strategy, embedder=embedder, chat=chat, seed=job.seed,
        settings=job.settings, progress=lambda stage, done, total: watch.stage(label, stage, done, total),
    )  # fmt: skip
    return result.row.as_dict(), [list(e) for e in result.edges]


class _Workers:
    """Where runs go: a pool of worker processes (none when ``jobs`` is 1), or Ray tasks on a
    cluster (``ray``), and the queue their progress comes back on."""

    def __init__(self, jobs: int, ray: str | None = None) -> None:
        self.jobs = jobs
        self.ray = ray
        self.pool: ProcessPoolExecutor | None = None
        self.remote: Any = None
        """``_work`` as a Ray remote function, with ``ray``."""
        self.messages: Any = None
        self._manager: Any = None
        self._cluster = contextlib.ExitStack()

    def __enter__(self) -> _Workers:
        if self.ray is not None:
            from synthswarm.swarm.cluster.ray_shards import connect

            ray = self._cluster.enter_context(connect(self.ray, cpus=self.jobs))
            from ray.util.queue import Queue

            self.remote = ray.remote(_work).options(num_cpus=1)
            self.messages = Queue()
        elif self.jobs > 1:
            # spawn, not fork: the parent has torch and ZeroMQ threads running, which fork does not copy.
            context = multiprocessing.get_context("spawn")
            self._manager = context.Manager()
            self.messages = self._manager.Queue()
            threads = max(1, (os.cpu_count() or 1) // self.jobs)
            self.pool = ProcessPoolExecutor(
                self.jobs, mp_context=context, initializer=_init_worker, initargs=(threads,)
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self._manager is not None:
            self._manager.shutdown()
        self._cluster.close()

    def relay(self, watch: SweepObserver) -> None:
        """Pass on the progress the workers reported since the last call."""
        while self.messages is not None:
            try:
                label, stage, done, total = self.messages.get_nowait()
            except queue.Empty:
                return
            watch.stage(label, stage, done, total)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _work(
    job: _Job, spec: ModelSpec, out: Path, label: str, messages: Any
) -> tuple[dict[str, Any], list[list[int]]]:
    """One run in a worker process (models are built once per worker)."""
    embedder, chat = _worker_models(spec, out)
    embedder.remember(paragraph_texts(job.dataset, titles=job.settings.titles), job.vectors)
    return asyncio.run(_run_here(job, embedder, chat, label, _Relay(messages)))


class _Relay(_Quiet):
    """Progress from a worker process, put on the queue the parent reads (about 50 updates a stage)."""

    def __init__(self, messages: Any) -> None:
        self.messages = messages

    def stage(self, label: str, stage: str, done: int, total: int) -> None:
        if done == total or done % max(1, total // 50) == 0:
            self.messages.put((label, stage, done, total))


@functools.cache
def _worker_models(spec: ModelSpec, out: Path) -> tuple[CachedEmbedder, ChatModel | None]:
    embedder = CachedEmbedder(make_embedder(spec.embedder))
    return embedder, (_chat(spec.llm, out) if spec.llm is not None else None)


def _chat(llm: LLMConfig, out: Path) -> ChatModel:
    return CachedChat(make_chat_model(llm), out / "llm-cache.sqlite")


def _write(
    dataset: Dataset,
    sweep: SweepSettings,
    spec: ModelSpec,
    base: RunSettings,
    results: dict[tuple[int, str], RunResult],
    out: Path,
) -> None:
    data = _results(dataset, sweep, spec, base, [r.row for r in results.values()])
    (out / "results.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (out / "results.md").write_text(markdown(data), encoding="utf-8")


def markdown(results: dict[str, Any]) -> str:
    """The results as a markdown table, with synthesis gain and closure per size."""
    rows = results["rows"]
    lines = [
        f"# Scaling sweep: {results['dataset']} (seed {results['seed']}, llm {results['model']})",
        "",
        f"{results['questions']} questions over {results['paragraphs']} paragraphs. Evidence recall is the",
        "share of the gold paragraphs whose whole text is in the answering agent's context; complete, the",
        "share of questions with every gold paragraph there (evidence-complete); ceiling, the",
        "share present in the corpus at all. Messages are every request the questions caused, counted",
        "at the socket: routing the queries, replies, text fetches, relays and subscriptions (the",
        "parts). Upkeep: the DHT's other requests meanwhile (refreshes, replication, pings), per",
        "question. Bytes: everything the nodes sent meanwhile. Publish messages route the corpus",
        "before. Synthesis: whether agents settled with synthesis before the questions; syntheses, the",
        "packets they made; synth msgs, the requests routing them (at the socket); used, the share of",
        "questions whose context held a synthesis built from a gold paragraph. Synthesis pairs: agent",
        "pairs joined by a synthesis a context held; provenance pairs: pairs where one's passage was in",
        "the other's context; both of N(N-1)/2.",
        "",
        f"Asking: {_asking(results.get('asking', {}))}.",
        "",
        "| N | strategy | evidence recall | complete | ceiling | EM | F1 | contains | messages/q | route "
        "| reply | fetch | relay | subscribe | upkeep | rounds | bytes/q | hops | publish msgs | synthesis "
        "| syntheses | synth msgs | used | synthesis pairs | provenance pairs | killed | wall s |",
        "|" + " --- |" * 27,
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['strategy']} | {r['evidence_recall']:.3f} | {r.get('complete_share', 0.0):.3f} "
            f"| {r['ceiling']:.3f} "
            f"| {_opt(r['em'])} | {_opt(r['f1'])} | {_opt(r['contains'])} "
            f"| {r['messages_per_question']:.1f} | {r['route_messages_per_question']:.1f} "
            f"| {r['reply_messages_per_question']:.1f} | {r['fetch_messages_per_question']:.1f} "
            f"| {r['relay_messages_per_question']:.1f} | {r['subscribe_messages_per_question']:.1f} "
            f"| {r.get('upkeep_messages_per_question', 0.0):.1f} "
            f"| {r['rounds_mean']:.2f} | {r['bytes_per_question']:,.0f} | {r['hops_mean']:.2f} "
            f"| {r['publish_messages']:,} | {r.get('synthesis', 'off')} | {r.get('syntheses', 0):,} "
            f"| {r.get('synthesis_messages', 0):,} | {r.get('synthesis_used', 0.0):.3f} "
            f"| {r['synthesis_pairs']}/{r['possible_pairs']} "
            f"| {r.get('provenance_pairs', 0)}/{r['possible_pairs']} "
            f"| {r['killed_fraction']:.2f} | {r['wall_s']:.1f} |"
        )
    evicted = sum(r["inbox_evicted"] for r in rows)
    if evicted:
        lines += ["", f"Inboxes evicted {evicted:,} packets in all; recall may be lower for it."]
    lines += ["", _gain_table(rows, "evidence_recall")]
    if all("complete_share" in r for r in rows):
        lines += ["", _gain_table(rows, "complete_share")]
    if any(r["em"] is not None for r in rows):
        lines += ["", _gain_table(rows, "f1"), "", _gain_table(rows, "contains")]
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
        # Closure is a share of the oracle's lead; where the oracle does not lead, there is none.
        closure = f"{gain / (ora - iso):.2f}" if ora is not None and ora > iso else "n/a"
        out.append(f"| {n} | {dht:.3f} | {iso:.3f} | {_opt(ora)} | {gain:+.3f} | {closure} |")
    return "\n".join(out)


def _asking(asking: dict[str, Any]) -> str:
    """The asking settings of a sweep, as one line of the report."""
    if not asking:
        return "not recorded"
    return (
        f"{asking['rounds']} rounds, a budget of {asking['budget']} passages, "
        f"{asking['bridges']} bridge(s), {asking.get('relays', 0)} relay(s), "
        f"lexical weight {asking['lexical_weight']}, titles {'on' if asking['titles'] else 'off'}, "
        f"answerer by {asking['answerer']}, {asking['kill']:.0%} of nodes killed"
    )


def _opt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _results(
    dataset: Dataset, sweep: SweepSettings, spec: ModelSpec, base: RunSettings, rows: list[Row]
) -> dict[str, Any]:
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


def _key(
    dataset: Dataset, sweep: SweepSettings, spec: ModelSpec, n: int, strategy: str, settings: RunSettings
) -> str:
    what = json.dumps(
        [HARNESS_VERSION, dataset.name, [q.id for q in dataset.questions], len(dataset.paragraphs),
         sweep.seed, spec.key(), spec.embedder.backend, spec.embedder.model, n, strategy, settings.m,
         settings.gossip_budget if strategy == "gossip" else 0, repr(settings.agent), settings.instructions,
         settings.titles, settings.answerer, settings.kill, settings.protocol, settings.synthesis]
    )  # fmt: skip
    return f"n{n:04d}-{strategy}-{hashlib.sha256(what.encode()).hexdigest()[:16]}"


async def _paragraph_vectors(dataset: Dataset, embedder: CachedEmbedder, out: Path, *, titles: bool) -> Any:
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
