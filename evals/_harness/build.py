"""The swarm for one run: the strategy's router over the nodes, and one specialist per part of the
corpus, each having learnt its paragraphs (with their titles) and joined its node."""

from __future__ import annotations

from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatModel
from synthswarm.agents.memory import TITLE, AgentMemory, Document
from synthswarm.agents.specialist import Specialist
from synthswarm.evals._harness.embedder import CachedEmbedder
from synthswarm.evals._harness.settings import ORACLE, Progress, RunSettings
from synthswarm.evals.datasets import Dataset
from synthswarm.swarm.dht import DHTNode
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.routers import Router, make_router
from synthswarm.swarm.semantic import SemanticHasher

__all__ = ["agent_identity", "build_agents", "inbox_limit", "router_for"]


def inbox_limit(dataset: Dataset) -> int:
    """Packets each agent's inbox keeps in a run on ``dataset``: every finding, and the queries and
    replies its questions bring."""
    return len(dataset.paragraphs) + 8 * len(dataset.questions)


def router_for(strategy: str, nodes: list[DHTNode], embedder: Embedder, s: RunSettings) -> Router:
    """The strategy's router (the oracle shares nothing: it is one agent holding everything)."""
    name = "isolated" if strategy == ORACLE else strategy
    return make_router(
        name, nodes, hasher=SemanticHasher(embedder.dims), m=s.m, gossip_budget=s.gossip_budget
    )


async def build_agents(
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
    *,
    first: int = 0,
) -> list[Specialist]:
    """One specialist per part, on its node, with a seeded identity (the same agents for the same seed).
    ``first``: the run's number of the first of them (a shard of a swarm spread over processes builds
    the agents ``first``, ``first + 1``, ... of the run)."""
    agents = []
    for i, (part, node) in enumerate(zip(parts, nodes, strict=True), start=first):
        paragraphs = [dataset.paragraphs[j] for j in part]
        agent = Specialist(
            f"agent-{i:03d}",
            "; ".join(p.title for p in paragraphs[:8]),
            chat=chat,
            embedder=embedder,
            memory=AgentMemory.in_memory(embedder, inbox_limit=inbox_limit),
            identity=agent_identity(seed, i),
            settings=settings.agent,
            synthesis=settings.synthesis_bounds,
            instructions=settings.instructions,
        )
        await agent.learn(
            [Document(p.text, p.id, {TITLE: p.title} if settings.titles else {}) for p in paragraphs]
        )
        await agent.join(router, node)
        agents.append(agent)
        report("agents", i + 1 - first, len(parts))
    return agents


def agent_identity(seed: int, i: int) -> Identity:
    """The identity of the run's agent number ``i``: seeded, so every process of a run knows every
    agent's id without asking."""
    return Identity.from_seed(seed.to_bytes(8, "big") + i.to_bytes(24, "big"))
