"""One run's swarm spread over several processes that share one DHT (``synthswarm eval scaling
--processes P``), as :func:`synthswarm.swarm.cluster.shards.launch_shards` spreads the benchmarks'.

This process (the driver) hosts the first slice of the agents, each of ``P - 1`` child processes
(:mod:`.shard`) the next, their DHT nodes on one transport host per process over TCP loopback, every
node joined to the one DHT; with ``ray``, each of the ``P - 1`` is a Ray actor instead, wherever the
cluster places it, reached over TCP at its machine's address. The phases are the one-process run's
(:func:`synthswarm.evals.harness.run_once`), each run where the agents live: every process builds its
agents and publishes their findings at once;
then each question is asked, one at a time, at its seeded entry agent in whichever process holds it,
and its answerer (by the run's rule, ``entry`` or ``routed``) may be in another. Requests are counted
at every process's sockets, by category, and summed (``Shards.stats``) before and after each phase, so
the row counts what the one-process row counts.

What it cannot do, and says so (:class:`~synthswarm.swarm.errors.ConfigError`): strategies other than
``dht`` (the oracle is one agent and runs in one process; hub, broadcast and gossip routers hold
in-process state; isolated answers by a free read of every agent), the ``scan`` and ``profile``
answerers (the same free read), ``--kill``, synthesis and model answers (the synthesis ledger and the
answering read agents of every process).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from synthswarm.agents.entry import serve_handoffs
from synthswarm.agents.llm import ScriptedChat
from synthswarm.agents.specialist import Specialist
from synthswarm.evals._harness.ask import ask_at, entry_index
from synthswarm.evals._harness.build import agent_identity, build_agents, inbox_limit, router_for
from synthswarm.evals._harness.embedder import CachedEmbedder
from synthswarm.evals._harness.metrics import ROUTE, Record, Traffic, edges, evidence_row
from synthswarm.evals._harness.publish import publish
from synthswarm.evals._harness.rows import RunResult
from synthswarm.evals._harness.settings import Progress, RunSettings
from synthswarm.evals._harness.shard import MODULE, ShardJob, first_of
from synthswarm.evals._harness.synthesis_metrics import figures
from synthswarm.evals.datasets import Dataset
from synthswarm.evals.partition import partition
from synthswarm.swarm.cluster.shards import Shards, launch_shards, shard_sizes
from synthswarm.swarm.config import EmbedderConfig
from synthswarm.swarm.dht.upkeep import measured
from synthswarm.swarm.errors import ConfigError

__all__ = ["SPREAD_ANSWERERS", "check_spread", "run_spread"]

_log = logging.getLogger(__name__)

#: How often the ask phase logs its rate and every process's requests by category meanwhile.
TIMELINE_S = 30.0

#: The answerers a spread run can use: both find the answerer through the router.
SPREAD_ANSWERERS = ("entry", "routed")


def check_spread(strategy: str, n: int, processes: int, settings: RunSettings, *, answer: bool) -> None:
    """Refuse what a spread run cannot do (see the module docstring)."""
    if processes < 2:
        raise ConfigError("eval.processes", f"a spread run needs 2 processes or more, got {processes}")
    if n < processes:
        raise ConfigError("eval.processes", f"{processes} processes for {n} agents: at least one agent each")
    if strategy != "dht":
        raise ConfigError(
            "eval.processes", f"only dht spreads over processes (the oracle runs in one), not {strategy}"
        )
    if settings.answerer not in SPREAD_ANSWERERS:
        use = ", ".join(SPREAD_ANSWERERS)
        raise ConfigError("eval.processes", f"answerer {settings.answerer!r} reads every agent: use {use}")
    if settings.kill or settings.synthesis or answer:
        raise ConfigError(
            "eval.processes", "--kill, --synthesis on and --llm are not spread over processes yet"
        )


async def run_spread(
    dataset: Dataset,
    vectors: npt.NDArray[np.float32],
    n: int,
    strategy: str,
    *,
    processes: int,
    embedder: CachedEmbedder,
    embedder_config: EmbedderConfig,
    seed: int,
    settings: RunSettings,
    report: Progress,
    ray: str | None = None,
) -> RunResult:
    """The run's row with its agents over ``processes`` processes (with ``ray``, a cluster's address as
    :func:`synthswarm.swarm.cluster.ray_shards.connect` takes it: all but this process's slice in Ray
    actors wherever Ray places them); the caller fills in what :func:`synthswarm.evals.harness.run_once`
    fills in for every run (size, corpus, wall time)."""
    check_spread(strategy, n, processes, settings, answer=False)
    s = settings
    parts = partition(vectors, n, seed=seed)
    sizes = shard_sizes(n, processes)
    inbox = inbox_limit(dataset)
    job = pickle.dumps(ShardJob(dataset, vectors, parts, strategy, seed, s, inbox, embedder_config))
    with tempfile.TemporaryDirectory(prefix="synthswarm-spread-") as folder:
        # A child process reads the job from a file (its arguments are a JSON line); a Ray actor is
        # handed the bytes, for it may be on a machine that cannot see this one's files.
        told: dict[str, object] = {"job_pickle": job}
        if ray is None:
            path = Path(folder) / "job.pickle"
            path.write_bytes(job)
            told = {"job": str(path)}
        async with launch_shards(
            n, processes=processes, settings=s.dht, seed=seed, progress=_lines(report), module=MODULE,
            extra=told | {"sizes": sizes}, ray=ray,
        ) as shards:  # fmt: skip
            router = router_for(strategy, shards.local, embedder, s)
            agents, _ = await asyncio.gather(
                build_agents(
                    dataset, parts[: sizes[0]], shards.local, router, embedder, ScriptedChat(), s, inbox,
                    seed, report,
                ),
                shards.command_all(cmd="build"),
            )  # fmt: skip
            publish_messages = await _publish(agents, shards, report)
            index = {agent_identity(seed, i).id: i for i in range(n)}
            records, traffic, minutes = await _ask(dataset, agents, shards, index, sizes, s, seed, report)
            counts = await shards.command_all(cmd="counts")
    timeouts = sum(a.stats.reply_timeouts for a in agents) + sum(int(c["reply_timeouts"]) for c in counts)
    row = evidence_row(records, n, traffic, None, reply_timeouts=timeouts)
    row.upkeep_per_node_min = measured(traffic.before, traffic.after, n, minutes).as_dict()
    holders = {dataset.paragraphs[j].id: i for i, part in enumerate(parts) for j in part}
    gold = [q.supporting for q in dataset.questions]
    found = figures({}, gold, [() for _ in gold], [r.answerer for r in records], holders)
    row.synthesis_useful, row.synthesis_ceiling = found.useful, found.ceiling
    row.answerer, row.synthesis, row.publish_messages = s.answerer, "off", publish_messages
    row.inbox_evicted = sum(a.memory.evicted for a in agents) + sum(int(c["evicted"]) for c in counts)
    row.processes = processes
    return RunResult(row, edges(records))


async def _publish(agents: list[Specialist], shards: Shards, report: Progress) -> int:
    """Every process's agents publish at once, then every process drains; the routing requests, summed
    over the processes."""
    before = (await shards.stats()).requests
    await asyncio.gather(publish(agents, shards.local, report), shards.command_all(cmd="publish"))
    await asyncio.gather(*(a.drain() for a in agents), shards.command_all(cmd="drain"))
    after = (await shards.stats()).requests
    return sum(after[c] - before.get(c, 0) for c in ROUTE)


async def _ask(
    dataset: Dataset,
    agents: list[Specialist],
    shards: Shards,
    index: dict[bytes, int],
    sizes: list[int],
    s: RunSettings,
    seed: int,
    report: Progress,
) -> tuple[list[Record], Traffic, float]:
    """Every question at its entry, one at a time, in the process that holds it; the records, the
    traffic meanwhile (every process's), and the minutes it took."""
    for agent in agents:
        serve_handoffs(agent)
    await shards.command_all(cmd="serve")
    before, began = await shards.stats(), time.perf_counter()
    window, window_at, window_done = before, began, 0
    records = []
    questions = dataset.questions
    for k, question in enumerate(questions):
        entry = entry_index(question.id, len(index), seed)
        shard = _shard_of(entry, sizes)
        if shard == 0:
            record = await ask_at(
                question, agents[entry], index, rule=s.answerer, handoff_timeout_s=s.handoff_timeout_s
            )
        else:
            answer = await shards.command(shard, cmd="ask", question=k, entry=entry)
            record = Record.from_dict(answer["record"])
        records.append(record)
        report("ask", k + 1, len(questions))
        if time.perf_counter() - window_at >= TIMELINE_S:
            now, at = await shards.stats(), time.perf_counter()
            sent = {c: now.requests[c] - window.requests.get(c, 0) for c in now.requests}
            _log.info(
                "ask %d/%d at %.0f s: %.2f questions/s; requests/s by category %s",
                k + 1, len(questions), at - began, (k + 1 - window_done) / (at - window_at),
                {c: round(v / (at - window_at), 1) for c, v in sorted(sent.items()) if v},
            )  # fmt: skip
            window, window_at, window_done = now, at, k + 1
    await asyncio.gather(*(a.drain() for a in agents), shards.command_all(cmd="drain"))
    after = await shards.stats()
    minutes = (time.perf_counter() - began) / 60
    traffic = Traffic(before.requests, after.requests, after.bytes_out - before.bytes_out, len(questions))
    return records, traffic, minutes


def _shard_of(agent: int, sizes: list[int]) -> int:
    for shard in range(len(sizes)):
        if agent < first_of(sizes, shard + 1):
            return shard
    raise ValueError(f"agent {agent} is past the run's {sum(sizes)}")


_COUNT = re.compile(r"^(?P<stage>.*?)\s*(?P<done>\d+)/(?P<total>\d+)(?: \w+)?$")


def _lines(report: Progress) -> Callable[[str], None]:
    """The other processes' progress lines (``shard 2: publish 40/256``) as stages of the run's."""

    def line(text: str) -> None:
        match = _COUNT.match(text)
        if match is None:
            report(text, 0, 1)
        else:
            report(match["stage"], int(match["done"]), int(match["total"]))

    return line
