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
   unordered agent pairs {i, j} where j's context used a finding of i) against N(N-1)/2. With a
   model, the answering agents then answer every question from its context (EM, F1, contains).

``oracle`` is one agent holding every paragraph, retrieving the way a swarm agent does (its best
passage, then a second search with the question and that passage) into as many paragraphs as a swarm
agent's context can hold; ``isolated`` shares nothing. Inboxes are sized to hold the whole corpus, so
no strategy loses packets to eviction (the row counts any that happen). Paragraph embeddings are
computed once per dataset and reused (:class:`CachedEmbedder`), so runs differ only in the swarm.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

from agents.embeddings import Embedder, Vectors
from agents.llm import ChatModel, ScriptedChat
from agents.memory import AgentMemory, Document
from agents.specialist import Context, Evidence, Specialist, SpecialistSettings
from evals.datasets import Dataset, Question
from evals.partition import partition
from swarm.answers import contains_answer, exact_match, f1_score
from swarm.dht import DHTNode
from swarm.dht.testing import launch_swarm
from swarm.errors import ConfigError
from swarm.identity import Identity
from swarm.routers import STRATEGIES, Router, make_router
from swarm.semantic import SemanticHasher

__all__ = ["ALL_STRATEGIES", "CachedEmbedder", "Row", "RunResult", "RunSettings", "run_once"]

ORACLE = "oracle"
#: HotpotQA answers are short spans; a small model left to itself answers in sentences, which EM
#: and F1 punish (on 20 sample questions with the oracle's context, SmolLM2-135M scored F1 0.063 with
#: this prompt against 0.043 with the agents' default one).
ANSWER_INSTRUCTIONS = "Answer with only the answer (a name, a number, a date, or yes or no), not a sentence."
ALL_STRATEGIES = (*STRATEGIES, ORACLE)
_CONCURRENT_ANSWERS = 32
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
            share_answers=False, synthesize=False, ask_timeout_s=0.5, reply_quiet_s=0.1
        )
    )
    """How each specialist retrieves, asks and answers. Replies in one process take milliseconds, so
    the wait is short: it only runs out when a promised reply never reaches the asker (gossip)."""
    instructions: str = ANSWER_INSTRUCTIONS
    """The answering agents' system prompt when a model answers."""


@dataclass
class Row:
    """One (size, strategy) result, as ``results.json`` holds it."""

    n: int
    strategy: str
    evidence_recall: float
    em: float | None
    f1: float | None
    contains: float | None
    """The lenient check: the share of answers that contain the normalised gold answer."""
    messages_per_question: float
    """Routing requests for the query packets and their replies."""
    bytes_per_question: float
    """Every byte the nodes sent while the questions were asked (routing and subscriptions)."""
    subscribe_messages_per_question: float
    """Requests that stored the askers' open-task interest rows (dht and hub subscribe over the
    network; the other strategies keep subscriptions in process)."""
    hops_mean: float
    llm_calls: int
    tokens: int
    synthesis_pairs: int
    possible_pairs: int
    publish_messages: int
    inbox_evicted: int
    wall_s: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class RunResult:
    row: Row
    edges: list[tuple[int, int, int]]
    """The synthesis graph: ``(i, j, count)`` when agent j's context used a finding of agent i."""


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
    chat: ChatModel | None = None,
    seed: int = 0,
    settings: RunSettings | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run the protocol once; ``vectors`` are the paragraph embeddings, in dataset order. With
    ``chat``, the answering agents also answer each question from its context (EM and F1); without,
    only evidence is scored and no model is called."""
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
        inbox = len(dataset.paragraphs) + 8 * len(dataset.questions)  # findings, queries, replies
        model = chat or ScriptedChat()  # ScriptedChat: a model call without --llm would raise
        agents = await _agents(dataset, parts, nodes, router, embedder, model, s, inbox, seed, report)
        publish_before = router.stats().messages
        for i, agent in enumerate(agents):
            await agent.share_knowledge()
            report("publish", i + 1, len(agents))
        for agent in agents:
            await agent.drain()
        publish_messages = router.stats().messages - publish_before
        gather = _oracle_gather if strategy == ORACLE else _swarm_gather
        row, edges = await _ask(dataset, agents, nodes, router, gather, report, answer=chat is not None)
        row.inbox_evicted = sum(a.memory.evicted for a in agents)
    row.n, row.strategy, row.publish_messages = n, strategy, publish_messages
    row.possible_pairs = n * (n - 1) // 2
    row.wall_s = round(time.perf_counter() - began, 2)
    return RunResult(row, edges)


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
    chat: ChatModel,
    settings: RunSettings,
    inbox_limit: int,
    seed: int,
    report: Progress,
) -> list[Specialist]:
    agents = []
    for i, (part, node) in enumerate(zip(parts, nodes, strict=True)):
        paragraphs = [dataset.paragraphs[j] for j in part]
        agent = Specialist(
            f"agent-{i:03d}",
            "; ".join(p.title for p in paragraphs[:8]),
            chat=chat,
            embedder=embedder,
            memory=AgentMemory.in_memory(embedder, inbox_limit=inbox_limit),
            identity=Identity.from_seed(seed.to_bytes(8, "big") + i.to_bytes(24, "big")),
            settings=settings.agent,
            instructions=settings.instructions,
        )
        await agent.learn([Document(p.text, p.id) for p in paragraphs])
        await agent.join(router, node)
        agents.append(agent)
        report("agents", i + 1, len(parts))
    return agents


Gather = Callable[[Specialist, str], Awaitable[Context]]


async def _swarm_gather(agent: Specialist, question: str) -> Context:
    return await agent.gather(question)


async def _oracle_gather(agent: Specialist, question: str) -> Context:
    """The ceiling: the two-hop retrieval a swarm agent does (its best passage, then the passages
    that best match the question with that passage, as its query packet carries), over the whole
    corpus, into as many paragraphs as a swarm agent's context can hold (its best passage and
    ``context_k - 1`` replies of two passages each)."""
    s = agent.settings
    budget = 2 * s.context_k - 1
    [vector] = await agent.embedder.embed([question])
    first = [h for h in await agent.memory.search_knowledge(vector, s.top_k) if h.score >= s.relevance]
    second = []
    if first:
        [bridge] = await agent.embedder.embed([f"{question} {first[0].text}"])
        second = await agent.memory.search_knowledge(bridge, budget)
        second = [h for h in second if h.score >= s.relevance]
    # As a swarm agent's context: the best passage, then what the second search found beyond the
    # first one's passages (replies come from other agents, so never repeat one's own), then the rest.
    found_first = {h.id for h in first}
    beyond = [h for h in second if h.id not in found_first]
    chosen = (first[:1] + beyond + first[1:])[:budget]
    sources = [str(h.metadata.get("source", "")) for h in chosen]
    evidence = tuple(Evidence(h.text, s, h.score, refs=(s,)) for h, s in zip(chosen, sources, strict=True))
    return Context(evidence, 0, 0)


async def _ask(
    dataset: Dataset,
    agents: list[Specialist],
    nodes: list[DHTNode],
    router: Router,
    gather: Gather,
    report: Progress,
    *,
    answer: bool,
) -> tuple[Row, list[tuple[int, int, int]]]:
    profiles = [await a.interests() for a in agents]
    messages0, bytes0 = router.stats().messages, _bytes(nodes)
    subscribe0 = router.stats().subscribe_messages
    recalls: list[float] = []
    hops: list[int] = []
    index = {a.agent_id: i for i, a in enumerate(agents)}
    used: Counter[tuple[int, int]] = Counter()
    questions = dataset.questions
    asked: list[tuple[Specialist, Context]] = []
    for k, question in enumerate(questions):
        [vector] = await agents[0].embedder.embed([question.question])
        best = max(range(len(agents)), key=lambda i: float(np.max(profiles[i] @ vector)))
        me = agents[best].agent_id
        context = await gather(agents[best], question.question)
        asked.append((agents[best], context))
        found = {ref for e in context.evidence for ref in e.refs}
        recalls.append(sum(p in found for p in question.supporting) / len(question.supporting))
        hops.append(context.hops)
        used.update((index[e.origin], best) for e in context.evidence if e.origin in index and e.origin != me)
        report("ask", k + 1, len(questions))
    for agent in agents:
        await agent.drain()
    em = f1 = contains = None
    calls = tokens = 0
    if answer:
        answers = await _answers(questions, asked, report)
        scored = list(zip(answers, questions, strict=True))
        em = round(float(np.mean([exact_match(a, q.answer) for a, q in scored])), 4)
        f1 = round(float(np.mean([f1_score(a, q.answer) for a, q in scored])), 4)
        contains = round(float(np.mean([contains_answer(a, q.answer) for a, q in scored])), 4)
        calls = sum(a.stats.llm_calls for a in agents)
        tokens = sum(a.stats.tokens for a in agents)
    count = max(1, len(questions))
    n = len(agents)
    return Row(
        n=n,
        strategy="",
        evidence_recall=round(float(np.mean(recalls)), 4) if recalls else 0.0,
        em=em if questions else None,
        f1=f1 if questions else None,
        contains=contains if questions else None,
        messages_per_question=round((router.stats().messages - messages0) / count, 2),
        bytes_per_question=round((_bytes(nodes) - bytes0) / count, 1),
        subscribe_messages_per_question=round((router.stats().subscribe_messages - subscribe0) / count, 2),
        hops_mean=round(float(np.mean(hops)), 2) if hops else 0.0,
        llm_calls=calls,
        tokens=tokens,
        synthesis_pairs=len({frozenset(pair) for pair in used}),
        possible_pairs=0,
        publish_messages=0,
        inbox_evicted=0,
        wall_s=0.0,
    ), [(i, j, times) for (i, j), times in sorted(used.items())]


async def _answers(
    questions: Sequence[Question], asked: list[tuple[Specialist, Context]], report: Progress
) -> list[str]:
    """Every question answered from its gathered context, many at once, so that a local model
    generates them in padded batches (and a remote server is not sent them all together)."""
    done = 0
    limit = asyncio.Semaphore(_CONCURRENT_ANSWERS)

    async def one(question: Question, agent: Specialist, context: Context) -> str:
        nonlocal done
        async with limit:
            text, calls, tokens = await agent.respond(question.question, context.evidence)
        agent.stats.llm_calls += calls
        agent.stats.tokens += tokens
        done += 1
        report("answer", done, len(questions))
        return text

    return list(
        await asyncio.gather(*(one(q, agent, ctx) for q, (agent, ctx) in zip(questions, asked, strict=True)))
    )


def _bytes(nodes: list[DHTNode]) -> int:
    return sum(node.transport_stats().bytes_out for node in nodes)
