"""One run of the scaling protocol (GUIDE section 5): N specialists over a dataset, one strategy.

1. The corpus is split among N agents by topic (:func:`evals.partition.partition`).
2. Publish: every agent distills each of its paragraphs into a finding packet and publishes it
   through the strategy's router.
3. Ask: each question goes to the agent whose knowledge is closest to it (the best of its profile
   rows, as the dispatcher would pick with knowledge-aware profiles); that agent gathers its context
   from its own paragraphs, its inbox and the swarm's replies to its query packet.
4. Scored per question: evidence recall (the share of the question's supporting paragraphs that the
   answering agent's context holds, as its own or as the source refs of packets it used); per run:
   routing requests and bytes per question, rendezvous hops, and realized synthesis pairs (distinct
   ordered agent pairs (i, j) where j's context used a finding of i) against N(N-1)/2.

``oracle`` is one agent holding every paragraph; ``isolated`` shares nothing. Paragraph embeddings are
computed once per dataset and reused (:class:`CachedEmbedder`), so runs differ only in the swarm.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

from agents.embeddings import Embedder, Vectors
from agents.llm import ScriptedChat
from agents.memory import AgentMemory, Document
from agents.specialist import Specialist, SpecialistSettings
from evals.datasets import Dataset
from evals.partition import partition
from swarm.dht import DHTNode
from swarm.dht.testing import launch_swarm
from swarm.errors import ConfigError
from swarm.identity import Identity
from swarm.routers import STRATEGIES, Router, make_router
from swarm.semantic import SemanticHasher

__all__ = ["ALL_STRATEGIES", "CachedEmbedder", "Row", "RunSettings", "run_once"]

ORACLE = "oracle"
ALL_STRATEGIES = (*STRATEGIES, ORACLE)
#: Called as a run advances: (stage, done, total).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RunSettings:
    m: int = 4
    """Agents each packet is delivered to (dht, hub)."""
    gossip_budget: int = 12
    """Forwards per gossip packet; the sweep sets it to the messages dht measured at the same N."""
    agent: SpecialistSettings = field(
        default_factory=lambda: SpecialistSettings(
            share_answers=False, synthesize=False, ask_timeout_s=1.0, reply_quiet_s=0.1
        )
    )
    """How each specialist retrieves, asks and answers. Replies in one process take milliseconds, so
    the waits are short; they only matter for gossip, which cannot say who got a query."""


@dataclass
class Row:
    """One (size, strategy) result, as ``results.json`` holds it."""

    n: int
    strategy: str
    evidence_recall: float
    em: float | None
    f1: float | None
    messages_per_question: float
    bytes_per_question: float
    hops_mean: float
    llm_calls: int
    tokens: int
    synthesis_pairs: int
    possible_pairs: int
    publish_messages: int
    wall_s: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class CachedEmbedder:
    """An :class:`~agents.embeddings.Embedder` that remembers every text it embedded (or was given)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._cache: dict[str, npt.NDArray[np.float32]] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dims(self) -> int:
        return self.inner.dims

    def remember(self, texts: Sequence[str], vectors: Vectors) -> None:
        for text, vector in zip(texts, vectors, strict=True):
            self._cache[text] = vector

    async def embed(self, texts: Sequence[str]) -> Vectors:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self.remember(missing, await self.inner.embed(missing))
        if not texts:
            return np.zeros((0, self.dims), np.float32)
        return np.vstack([self._cache[t] for t in texts]).astype(np.float32)


async def run_once(
    dataset: Dataset,
    vectors: Vectors,
    n: int,
    strategy: str,
    *,
    embedder: CachedEmbedder,
    seed: int = 0,
    settings: RunSettings | None = None,
    progress: Progress | None = None,
) -> Row:
    """Run the protocol once; ``vectors`` are the paragraph embeddings, in dataset order."""
    if strategy not in ALL_STRATEGIES:
        raise ConfigError(
            "eval.strategies", f"unknown strategy {strategy!r}: use {', '.join(ALL_STRATEGIES)}"
        )
    s = settings or RunSettings()
    report = progress or (lambda stage, done, total: None)
    began = time.perf_counter()
    parts = [list(range(len(dataset.paragraphs)))] if strategy == ORACLE else partition(vectors, n, seed=seed)
    async with launch_swarm(len(parts), seed=seed, seeded_ids=True) as nodes:
        router = _router(strategy, nodes, embedder, s)
        agent_settings = s.agent
        if strategy == ORACLE:
            # The oracle's context may hold as many paragraphs as any swarm agent's can: a reply
            # packet carries two passages in one of its context_k slots.
            budget = 2 * s.agent.context_k
            agent_settings = dataclasses.replace(s.agent, top_k=budget, context_k=budget)
        agents = await _agents(dataset, parts, nodes, router, embedder, agent_settings, seed, report)
        publish_before = router.stats().messages
        for i, agent in enumerate(agents):
            await agent.share_knowledge()
            report("publish", i + 1, len(agents))
        for agent in agents:
            await agent.drain()
        publish_messages = router.stats().messages - publish_before
        row = await _ask(dataset, agents, nodes, router, report)
    row.n, row.strategy, row.publish_messages = n, strategy, publish_messages
    row.possible_pairs = n * (n - 1) // 2
    row.wall_s = round(time.perf_counter() - began, 2)
    return row


def _router(strategy: str, nodes: list[DHTNode], embedder: Embedder, s: RunSettings) -> Router:
    name = "isolated" if strategy == ORACLE else strategy
    return make_router(
        name, nodes, hasher=SemanticHasher(embedder.dims), m=s.m, gossip_budget=s.gossip_budget
    )


async def _agents(
    dataset: Dataset,
    parts: list[list[int]],
    nodes: list[DHTNode],
    router: Router,
    embedder: CachedEmbedder,
    settings: SpecialistSettings,
    seed: int,
    report: Progress,
) -> list[Specialist]:
    agents = []
    for i, (part, node) in enumerate(zip(parts, nodes, strict=True)):
        paragraphs = [dataset.paragraphs[j] for j in part]
        agent = Specialist(
            f"agent-{i:03d}",
            "; ".join(p.title for p in paragraphs[:8]),
            chat=ScriptedChat(),  # --llm none: gather() never calls a model; a call would raise
            embedder=embedder,
            memory=AgentMemory.in_memory(embedder),
            identity=Identity.from_seed(seed.to_bytes(8, "big") + i.to_bytes(24, "big")),
            settings=settings,
        )
        await agent.learn([Document(p.text, p.id) for p in paragraphs])
        await agent.join(router, node)
        agents.append(agent)
        report("agents", i + 1, len(parts))
    return agents


async def _ask(
    dataset: Dataset, agents: list[Specialist], nodes: list[DHTNode], router: Router, report: Progress
) -> Row:
    profiles = [await a.interests() for a in agents]
    messages0, bytes0 = router.stats().messages, _bytes(nodes)
    recalls: list[float] = []
    hops: list[int] = []
    pairs: set[frozenset[bytes]] = set()
    questions = dataset.questions
    for k, question in enumerate(questions):
        [vector] = await agents[0].embedder.embed([question.question])
        best = max(range(len(agents)), key=lambda i: float(np.max(profiles[i] @ vector)))
        context = await agents[best].gather(question.question)
        found = {ref for e in context.evidence for ref in e.refs}
        recalls.append(sum(p in found for p in question.supporting) / len(question.supporting))
        hops.append(context.hops)
        me = agents[best].agent_id
        pairs.update(frozenset((e.origin, me)) for e in context.evidence if e.origin not in (None, me))
        report("ask", k + 1, len(questions))
    for agent in agents:
        await agent.drain()
    count = max(1, len(questions))
    n = len(agents)
    return Row(
        n=n,
        strategy="",
        evidence_recall=round(float(np.mean(recalls)), 4) if recalls else 0.0,
        em=None,
        f1=None,
        messages_per_question=round((router.stats().messages - messages0) / count, 2),
        bytes_per_question=round((_bytes(nodes) - bytes0) / count, 1),
        hops_mean=round(float(np.mean(hops)), 2) if hops else 0.0,
        llm_calls=0,
        tokens=0,
        synthesis_pairs=len(pairs),
        possible_pairs=0,
        publish_messages=0,
        wall_s=0.0,
    )


def _bytes(nodes: list[DHTNode]) -> int:
    return sum(node.transport_stats().bytes_out for node in nodes)
