"""A shard of an eval swarm spread over processes (:mod:`.spread`): the network's shard
(:class:`synthswarm.swarm.cluster._shard.Shard`: DHT nodes on one transport host, joined to the one DHT)
with the run's agents on its nodes, answering the eval's commands besides the network's own.

It runs as ``python -m synthswarm.evals._harness.shard ARGS_JSON``, started by
:func:`synthswarm.swarm.cluster.shards.launch_shards` (``module=``). Besides the shard's arguments it is
told ``job`` (the path of a pickled :class:`ShardJob`, written by the driver for this run; on Ray,
``job_pickle``, its bytes, since the actor may be on another machine) and ``sizes`` (agents per
process, the driver's first). A Ray actor hosts its ``SHARD`` instead of running the module. Its
commands, in the order a run sends them:

- ``build``: one specialist per part on its nodes (the run's agents ``first`` .. ``first + size - 1``).
- ``publish``: its agents share their knowledge; ``drain``: every reaction finished.
- ``serve``: its agents take handed questions over.
- ``ask`` (``question``, ``entry``): the question asked at its agent ``entry``; the
  :class:`~.metrics.Record` as plain data.
- ``counts``: its agents' reply timeouts and inbox evictions.
- ``stats``, ``quit``: the network shard's (requests counted at its nodes' sockets).

The layering holds: this module is on the applications floor and imports the network's shard; the
network floor never imports it, it only runs the module it is named.
"""

from __future__ import annotations

import functools
import json
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthswarm.agents.embeddings import make_embedder
from synthswarm.agents.entry import serve_handoffs
from synthswarm.agents.llm import ScriptedChat
from synthswarm.agents.specialist import Specialist
from synthswarm.evals._harness.ask import ask_at
from synthswarm.evals._harness.build import agent_identity, build_agents, router_for
from synthswarm.evals._harness.embedder import CachedEmbedder, paragraph_texts
from synthswarm.evals._harness.publish import publish
from synthswarm.evals._harness.settings import RunSettings
from synthswarm.evals.datasets import Dataset
from synthswarm.swarm import tasks
from synthswarm.swarm.cluster._shard import Shard, main
from synthswarm.swarm.config import EmbedderConfig
from synthswarm.swarm.dht import DHTSettings

__all__ = ["MODULE", "EvalShard", "ShardJob", "first_of"]

#: What a child process of a spread run runs (``python -m``).
MODULE = "synthswarm.evals._harness.shard"


@dataclass(frozen=True)
class ShardJob:
    """What every process of a spread run is told, written once by the driver (pickled: it only
    travels between the processes of one run, in a temporary folder, and is never kept)."""

    dataset: Dataset
    vectors: npt.NDArray[np.float32]
    """The paragraph embeddings, in dataset order (each shard primes its embedder with its agents')."""
    parts: list[list[int]]
    """The paragraphs of every agent of the run, by the run's agent number."""
    strategy: str
    seed: int
    settings: RunSettings
    inbox: int
    """Each agent's inbox limit."""
    embedder: EmbedderConfig
    """The embedding model each process builds for itself (questions and queries are embedded where
    they are asked)."""


def first_of(sizes: list[int], shard: int) -> int:
    """The run's number of the first agent shard ``shard`` hosts."""
    return sum(sizes[:shard])


class EvalShard(Shard):
    """The network's shard with the run's agents of this process on its nodes."""

    def __init__(self, args: dict[str, Any]) -> None:
        super().__init__(args)
        job = args["job_pickle"] if "job_pickle" in args else Path(args["job"]).read_bytes()
        self.job: ShardJob = pickle.loads(job)
        self.first = first_of(list(args["sizes"]), int(args["index"]))
        self.agents: list[Specialist] = []
        count = len(self.job.parts)
        self.index = {agent_identity(self.job.seed, i).id: i for i in range(count)}

    def dht_settings(self) -> DHTSettings:
        return self.job.settings.dht

    async def command(
        self, command: dict[str, Any], progress: Callable[[str], None] = lambda _: None
    ) -> dict[str, Any]:
        name = command["cmd"]
        if name == "build":
            await self._build(progress)
            return {"agents": len(self.agents)}
        if name == "publish":
            await publish(self.agents, self.nodes, functools.partial(_every, progress))
            return {}
        if name == "drain":
            for agent in self.agents:
                await agent.drain()
            return {}
        if name == "serve":
            for agent in self.agents:
                serve_handoffs(agent)
            return {}
        if name == "ask":
            return {"record": (await self._ask(int(command["question"]), int(command["entry"]))).as_dict()}
        if name == "counts":
            return {
                "reply_timeouts": sum(a.stats.reply_timeouts for a in self.agents),
                "evicted": sum(a.memory.evicted for a in self.agents),
            }
        return await super().command(command, progress)

    async def _build(self, progress: Callable[[str], None]) -> None:
        job = self.job
        parts = job.parts[self.first : self.first + len(self.nodes)]
        embedder = CachedEmbedder(make_embedder(job.embedder))
        texts = paragraph_texts(job.dataset, titles=job.settings.titles)
        mine = sorted({j for part in parts for j in part})
        embedder.remember([texts[j] for j in mine], job.vectors[mine])
        router = router_for(job.strategy, self.nodes, embedder, job.settings)
        self.agents = await build_agents(
            job.dataset, parts, self.nodes, router, embedder, ScriptedChat(), job.settings, job.inbox,
            job.seed, functools.partial(_every, progress), first=self.first,
        )  # fmt: skip

    async def _ask(self, question: int, entry: int) -> Any:
        job = self.job
        return await ask_at(
            job.dataset.questions[question], self.agents[entry - self.first], self.index,
            rule=job.settings.answerer, handoff_timeout_s=job.settings.handoff_timeout_s,
        )  # fmt: skip


def _every(progress: Callable[[str], None], stage: str, done: int, total: int) -> None:
    """Progress lines, about 20 a stage (each is a line on the pipe to the driver)."""
    if done == total or done % max(1, total // 20) == 0:
        progress(f"{stage} {done}/{total}")


#: The class this module hosts, for a Ray actor (:func:`synthswarm.swarm.cluster.ray_shards.shard_class`).
SHARD = EvalShard

if __name__ == "__main__":
    arguments = json.loads(sys.argv[1])
    tasks.run(main(arguments, EvalShard(arguments)))
