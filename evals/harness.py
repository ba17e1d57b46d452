"""One run of the scaling protocol (GUIDE section 5): N specialists over a dataset, one strategy.

1. The corpus is split among N agents by topic (:func:`synthswarm.evals.partition.partition`). Each paragraph
is
   learnt with its title (embedded as ``"title: text"`` and searched lexically).
2. Publish: every agent distills each of its paragraphs into a finding packet and publishes it
   through the strategy's router. With ``kill``, that fraction of the nodes then dies (for hub, the
   hub's node among them).
3. Ask: each question goes to the live agent holding the best-matching passage
   (:func:`synthswarm.agents.asking.best_holders`, the dispatcher's rule too), which gathers its context with
   :func:`synthswarm.agents.asking.ask`: rounds of queries (the question, then the question bridged by the
   best
   new passages), every passage it holds, received or was offered ranked in one list, texts fetched
   for the final ``budget``.
4. Scored per question: evidence recall (the share of the question's supporting paragraphs whose
   whole text is in the answering agent's context), rounds, and every request the nodes sent while
   it was asked, counted at the socket by category (routing the queries, replies, text fetches,
   subscriptions). Per run: provenance pairs (distinct unordered agent pairs {i, j} where j's context
   used a passage of i) and synthesis pairs (pairs joined by a synthesized packet in a final context),
   against N(N-1)/2. With a model, the answering agents then answer every question from its context
   (EM, F1, contains).

With ``synthesis``, a settle phase runs between 2 and 3: every agent combines the findings it received
with its own where they name the same entity
(:meth:`synthswarm.agents.specialist.Specialist.synthesize_received`),
publishes the syntheses, and reacts to the others' until the swarm is quiet; what that costs is
counted at the socket (``synthesis_messages``), and ``synthesis_used`` is the share of questions whose
final context held a synthesis built from a gold paragraph.

``oracle`` is one agent holding every paragraph and asking the same way (same retrieval, rounds and
budget), so oracle minus dht is what routing loses; ``isolated`` asks the same way with nothing
shared. ``ceiling`` is the share of gold paragraphs present in the corpus at all. Inboxes are sized
to hold the whole corpus, so no strategy loses packets to eviction (the row counts any that happen).
Paragraph embeddings are computed once per dataset and reused (:class:`CachedEmbedder`), so runs
differ only in the swarm.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt
from synthswarm.agents.answers import contains_answer, exact_match, f1_score
from synthswarm.agents.asking import best_holders
from synthswarm.agents.embeddings import Embedder, Vectors
from synthswarm.agents.llm import ChatModel, ScriptedChat
from synthswarm.agents.memory import TITLE, AgentMemory, Document
from synthswarm.agents.retrieval import titled
from synthswarm.agents.specialist import Context, Specialist, SpecialistSettings
from synthswarm.evals.datasets import Dataset, Question
from synthswarm.evals.partition import partition
from synthswarm.swarm.dht import DHTNode, bytes_sent, requests_by_category, requests_sent
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.direct import source_refs
from synthswarm.swarm.errors import ConfigError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import PacketKind
from synthswarm.swarm.routers import STRATEGIES, Router, make_router
from synthswarm.swarm.semantic import SemanticHasher

__all__ = [
    "ALL_STRATEGIES",
    "CachedEmbedder",
    "Row",
    "RunResult",
    "RunSettings",
    "paragraph_texts",
    "run_once",
]

ORACLE = "oracle"
#: HotpotQA answers are short spans; a small model left to itself answers in sentences, which EM
#: and F1 punish (on 20 sample questions with the oracle's context, SmolLM2-135M scored F1 0.063 with
#: this prompt against 0.043 with the agents' default one).
ANSWER_INSTRUCTIONS = "Answer with only the answer (a name, a number, a date, or yes or no), not a sentence."
ALL_STRATEGIES = (*STRATEGIES, ORACLE)
_CONCURRENT_ANSWERS = 32
#: Called as a run advances: (stage, done, total).
Progress = Callable[[str, int, int], None]
#: Request categories (:class:`synthswarm.swarm.dht.node.NodeStats`) by what they did for a question.
ROUTE = frozenset({"semantic", "deliver", "hub", "gossip"})
SUBSCRIBE = frozenset({"store"})
REPLY, FETCH, RELAY = frozenset({"reply"}), frozenset({"fetch"}), frozenset({"relay"})
#: Everything a question causes; any other request sent meanwhile is the DHT's upkeep (bucket
#: refreshes, replication, liveness pings), reported apart as ``upkeep_messages_per_question``.
QUESTION = ROUTE | SUBSCRIBE | REPLY | FETCH | RELAY
_PARTS = (
    "route_messages_per_question",
    "subscribe_messages_per_question",
    "reply_messages_per_question",
    "fetch_messages_per_question",
    "relay_messages_per_question",
)


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
    titles: bool = True
    """Learn paragraphs with their titles (embedded and searched); False is the ablation."""
    answerer: str = "passage"
    """Who answers: ``passage`` (the agent holding the best-matching passage) or ``profile`` (the agent
    whose interest profile is closest, the ablation)."""
    kill: float = 0.0
    """Fraction of the nodes killed after publishing and before asking."""
    protocol: str = "split"
    """``split`` (one corpus split among N) or ``growing`` (the corpus grows with N); rows say which."""
    synthesis: bool = False
    """Settle after publishing: every agent combines what it received with what it knows
    (:meth:`~synthswarm.agents.specialist.Specialist.synthesize_received`) before the questions are asked."""


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
    """Every request the questions caused, counted at the socket: routing the queries, replies, text
    fetches, relays and subscriptions (the parts below)."""
    bytes_per_question: float
    """Every byte the nodes sent while the questions were asked."""
    subscribe_messages_per_question: float
    """Of ``messages_per_question``: requests that stored subscriptions (DHT puts)."""
    hops_mean: float
    llm_calls: int
    tokens: int
    synthesis_pairs: int
    """Agent pairs joined by a synthesized packet that an answer used: the two agents holding the
    passages the synthesis combined, where a final context held it."""
    possible_pairs: int
    publish_messages: int
    inbox_evicted: int
    wall_s: float
    route_messages_per_question: float = 0.0
    """Of ``messages_per_question``: routing the query packets (rendezvous walks and deliveries,
    hub and gossip requests)."""
    reply_messages_per_question: float = 0.0
    """Of ``messages_per_question``: replies sent straight to the askers."""
    fetch_messages_per_question: float = 0.0
    """Of ``messages_per_question``: requests fetching passage texts."""
    relay_messages_per_question: float = 0.0
    """Of ``messages_per_question``: queries relayed by agents that had nothing good."""
    rounds_mean: float = 0.0
    ceiling: float = 1.0
    """The share of the questions' gold paragraphs present in the corpus at all."""
    killed_fraction: float = 0.0
    protocol: str = "split"
    complete_share: float = 0.0
    """The share of questions whose every gold paragraph is in the context (evidence-complete)."""
    questions: int = 0
    paragraphs: int = 0
    upkeep_messages_per_question: float = 0.0
    """Every other request the nodes sent while the questions were asked (the DHT's own upkeep:
    bucket refreshes, replication, liveness pings), per question. Not caused by the questions, but
    paid while they were asked, so it is reported rather than left out."""
    provenance_pairs: int = 0
    """Agent pairs where one agent's passage or packet was in the other's final context (retrieval
    provenance; harness 4 called this ``synthesis_pairs``)."""
    synthesis: str = "off"
    """``on`` when the run settled with synthesis (:attr:`RunSettings.synthesis`)."""
    syntheses: int = 0
    """Synthesis packets the agents made while settling (and after, reacting to each other's)."""
    synthesis_messages: int = 0
    """Requests routing them, counted at the socket while settling."""
    synthesis_used: float = 0.0
    """The share of questions whose final context held a synthesized packet built from one of the
    question's gold paragraphs."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        """A row as ``results.json`` and the run cache hold it. Rows of harness 4 written before the
        upkeep was split out counted it in ``messages_per_question``; the same counts are split here."""
        data = dict(data)
        if "provenance_pairs" not in data:  # harness 4: synthesis_pairs counted provenance
            data["provenance_pairs"], data["synthesis_pairs"] = data.get("synthesis_pairs", 0), 0
        if "upkeep_messages_per_question" not in data:
            parts = round(sum(float(data.get(k, 0.0)) for k in _PARTS), 2)
            total = float(data["messages_per_question"])
            data["upkeep_messages_per_question"] = max(0.0, round(total - parts, 2))
            data["messages_per_question"] = parts
        return cls(**data)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class RunResult:
    row: Row
    edges: list[tuple[int, int, int]]
    """The synthesis graph: ``(i, j, count)`` when agent j's context used a finding of agent i."""


class CachedEmbedder:
    """An :class:`~synthswarm.agents.embeddings.Embedder` that remembers every text it embedded (or was
    given)."""

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
    if not 0.0 <= s.kill < 1.0:
        raise ConfigError("eval.kill", f"must be in [0, 1), got {s.kill}")
    parts = [list(range(len(dataset.paragraphs)))] if strategy == ORACLE else partition(vectors, n, seed=seed)
    async with launch_swarm(len(parts), seed=seed, seeded_ids=True) as nodes:
        router = _router(strategy, nodes, embedder, s)
        inbox = len(dataset.paragraphs) + 8 * len(dataset.questions)  # findings, queries, replies
        model = chat or ScriptedChat()  # ScriptedChat: a model call without --llm would raise
        agents = await _agents(dataset, parts, nodes, router, embedder, model, s, inbox, seed, report)
        publish_before = requests_sent(nodes, ROUTE)
        for i, agent in enumerate(agents):
            await agent.share_knowledge()
            report("publish", i + 1, len(agents))
        for agent in agents:
            await agent.drain()
        publish_messages = requests_sent(nodes, ROUTE) - publish_before
        synthesis_messages = 0
        if s.synthesis:
            synthesis_messages = requests_sent(nodes, ROUTE)
            await _settle(agents, report)
            synthesis_messages = requests_sent(nodes, ROUTE) - synthesis_messages
        live = await _kill(nodes, agents, strategy, s.kill, seed) if strategy != ORACLE else agents
        holders = {dataset.paragraphs[j].id: i for i, part in enumerate(parts) for j in part}
        row, edges = await _ask(dataset, agents, live, nodes, s, report, holders, answer=chat is not None)
        row.synthesis = "on" if s.synthesis else "off"
        row.syntheses = sum(a.stats.syntheses for a in agents)
        row.synthesis_messages = synthesis_messages
        row.inbox_evicted = sum(a.memory.evicted for a in agents)
    row.n, row.strategy, row.publish_messages = n, strategy, publish_messages
    row.killed_fraction = 0.0 if strategy == ORACLE else s.kill
    row.ceiling = _ceiling(dataset)
    row.protocol, row.questions, row.paragraphs = s.protocol, len(dataset.questions), len(dataset.paragraphs)
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
        await agent.learn(
            [Document(p.text, p.id, {TITLE: p.title} if settings.titles else {}) for p in paragraphs]
        )
        await agent.join(router, node)
        agents.append(agent)
        report("agents", i + 1, len(parts))
    return agents


def paragraph_texts(dataset: Dataset, *, titles: bool = True) -> list[str]:
    """The texts the paragraphs are embedded as (what :class:`CachedEmbedder` should be primed with)."""
    return [titled(p.title, p.text) if titles else p.text for p in dataset.paragraphs]


def _ceiling(dataset: Dataset) -> float:
    ids = dataset.index()
    gold = [p for q in dataset.questions for p in q.supporting]
    return round(sum(p in ids for p in gold) / max(1, len(gold)), 4)


async def _kill(
    nodes: list[DHTNode], agents: list[Specialist], strategy: str, fraction: float, seed: int
) -> list[Specialist]:
    """Kill ``fraction`` of the nodes (seeded; the hub's node first for hub); the agents left alive."""
    count = round(fraction * len(nodes))
    if count == 0:
        return agents
    order = list(range(len(nodes)))
    np.random.default_rng(seed).shuffle(order)
    if strategy == "hub":
        order.remove(0)
        order.insert(0, 0)  # the hub lives on the first node
    dead = set(order[:count])
    for i in sorted(dead):
        await nodes[i].kill()
    return [a for i, a in enumerate(agents) if i not in dead]


async def _choose(
    question: str, vector: npt.NDArray[np.float32], live: list[Specialist], rule: str
) -> Specialist:
    if rule == "profile":
        profiles = [await a.interests() for a in live]
        return live[max(range(len(live)), key=lambda i: float(np.max(profiles[i] @ vector)))]
    best, _ = (await best_holders(question, vector, live))[0]
    return live[best]


async def _settle(agents: list[Specialist], report: Progress) -> None:
    """The settle phase: synthesis turned on, every agent combines its inbox with what it knows, and
    the swarm runs until no agent is still reacting (syntheses of syntheses, within their bounds)."""
    for agent in agents:
        agent.settings = replace(agent.settings, synthesize=True)
    for i, agent in enumerate(agents):
        await agent.synthesize_received()
        report("settle", i + 1, len(agents))
    while any(a.busy for a in agents):
        for agent in agents:
            await agent.drain()


async def _ask(
    dataset: Dataset,
    agents: list[Specialist],
    live: list[Specialist],
    nodes: list[DHTNode],
    settings: RunSettings,
    report: Progress,
    holders: dict[str, int],
    *,
    answer: bool,
) -> tuple[Row, list[tuple[int, int, int]]]:
    """Ask every question. ``holders``: the agent holding each paragraph, by id (for synthesis pairs)."""
    sent0, bytes0 = requests_by_category(nodes), bytes_sent(nodes)
    recalls: list[float] = []
    hops: list[int] = []
    rounds: list[int] = []
    index = {a.agent_id: i for i, a in enumerate(agents)}
    used: Counter[tuple[int, int]] = Counter()
    joined: set[frozenset[int]] = set()
    synthesis_used = 0
    questions = dataset.questions
    asked: list[tuple[Specialist, Context]] = []
    for k, question in enumerate(questions):
        [vector] = await agents[0].embedder.embed([question.question])
        agent = await _choose(question.question, vector, live, settings.answerer)
        best, me = index[agent.agent_id], agent.agent_id
        context = await agent.gather(question.question)
        asked.append((agent, context))
        found = {ref for e in context.evidence for ref in e.refs}
        recalls.append(sum(p in found for p in question.supporting) / len(question.supporting))
        hops.append(context.hops)
        rounds.append(context.rounds)
        used.update((index[e.origin], best) for e in context.evidence if e.origin in index and e.origin != me)
        synthesized = [
            p
            for p in await agent.memory.packets([e.packet_id for e in context.evidence if e.packet_id])
            if p.kind is PacketKind.SYNTHESIS
        ]
        for packet in synthesized:
            agents_joined = frozenset(holders[r] for r in source_refs(packet.evidence) if r in holders)
            if len(agents_joined) >= 2:
                joined.add(agents_joined)
        gold = set(question.supporting)
        synthesis_used += any(gold.intersection(source_refs(p.evidence)) for p in synthesized)
        report("ask", k + 1, len(questions))
    for agent in live:
        await agent.drain()
    sent = requests_by_category(nodes)
    count = max(1, len(questions))

    def per_question(categories: frozenset[str] | None) -> float:
        total = sum(v - sent0.get(c, 0) for c, v in sent.items() if categories is None or c in categories)
        return round(total / count, 2)

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
    return Row(
        n=len(agents),
        strategy="",
        evidence_recall=round(float(np.mean(recalls)), 4) if recalls else 0.0,
        em=em if questions else None,
        f1=f1 if questions else None,
        contains=contains if questions else None,
        messages_per_question=per_question(QUESTION),
        bytes_per_question=round((bytes_sent(nodes) - bytes0) / count, 1),
        subscribe_messages_per_question=per_question(SUBSCRIBE),
        hops_mean=round(float(np.mean(hops)), 2) if hops else 0.0,
        llm_calls=calls,
        tokens=tokens,
        synthesis_pairs=len({frozenset(pair) for group in joined for pair in combinations(sorted(group), 2)}),
        possible_pairs=0,
        publish_messages=0,
        inbox_evicted=0,
        wall_s=0.0,
        route_messages_per_question=per_question(ROUTE),
        reply_messages_per_question=per_question(REPLY),
        fetch_messages_per_question=per_question(FETCH),
        relay_messages_per_question=per_question(RELAY),
        rounds_mean=round(float(np.mean(rounds)), 2) if rounds else 0.0,
        complete_share=round(float(np.mean([r == 1.0 for r in recalls])), 4) if recalls else 0.0,
        upkeep_messages_per_question=max(0.0, round(per_question(None) - per_question(QUESTION), 2)),
        provenance_pairs=len({frozenset(pair) for pair in used}),
        synthesis_used=round(synthesis_used / count, 4),
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
