"""The swarm demo: eight specialists over a shipped corpus, questions that need two of them.

:func:`run_demo` starts the swarm, lets every agent distill and publish its documents, then asks each
question through the dispatcher, which hands it to one specialist; that specialist has only half of
what the question needs and must get the other half from the swarm. Events go to ``on_event`` as they
happen, so a terminal (``synthswarm demo``) can show the loop live.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from synthswarm.agents.answers import contains_answer
from synthswarm.agents.dispatcher import EVENT_ANSWER, EVENT_FINAL, EVENT_ROUTE
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatModel
from synthswarm.swarm.app.runtime import AgentSpec, Swarm
from synthswarm.swarm.config import SwarmConfig
from synthswarm.swarm.dht import requests_sent
from synthswarm.swarm.errors import ConfigError

__all__ = ["DemoCorpus", "DemoQuestion", "DemoResult", "DemoSummary", "load_demo_corpus", "run_demo"]

#: Called with each event: ``{"type": "stage"|"route"|"answer"|"final"|"result", ...}``.
OnEvent = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class DemoQuestion:
    question: str
    answer: str
    facts: tuple[tuple[str, int], ...]
    """The documents the question needs, as (agent, index of the document in its list)."""


@dataclass(frozen=True)
class DemoCorpus:
    agents: tuple[AgentSpec, ...]
    questions: tuple[DemoQuestion, ...]


@dataclass(frozen=True)
class DemoResult:
    question: str
    expected: str
    answer: str
    correct: bool
    specialists: tuple[str, ...]
    agents_used: tuple[str, ...]
    facts_reached: bool
    """Whether every document the question needs was in the answering agent's context: its own
    (by source ref) or carried by a packet it used (by text)."""
    messages: int
    llm_calls: int
    wall_s: float


@dataclass
class DemoSummary:
    results: list[DemoResult] = field(default_factory=list)
    agents: int = 0
    packets_shared: int = 0
    start_s: float = 0.0
    share_s: float = 0.0
    ask_s: float = 0.0
    share_messages: int = 0
    """Requests every node sent while the agents shared their documents and made the syntheses they
    prompted (until the swarm was idle), counted at the socket."""
    syntheses_at_start: int = 0
    """Syntheses made while sharing: findings that name what another agent's findings name."""
    subscribe_messages: int = 0
    """Requests spent subscribing the agents' domains at start."""
    task_subscribe_messages: int = 0
    """Requests spent adding open tasks to interest profiles while answering."""
    ask_messages: int = 0
    """Requests every node sent while the questions were answered, counted at the socket: routing
    queries, replies, text fetches and shared answers."""
    deliveries: int = 0
    syntheses: int = 0
    replies: int = 0

    @property
    def answer_rate(self) -> float:
        return sum(r.correct for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def facts_rate(self) -> float:
        return sum(r.facts_reached for r in self.results) / len(self.results) if self.results else 0.0


def load_demo_corpus(path: str | Path | None = None) -> DemoCorpus:
    """The corpus at ``path``, or the one shipped in the package."""
    try:
        text = (
            Path(path).read_text(encoding="utf-8")
            if path is not None
            else resources.files("synthswarm.swarm.app")
            .joinpath("data/demo_corpus.json")
            .read_text(encoding="utf-8")
        )
        data = json.loads(text)
        agents = tuple(
            AgentSpec(a["name"], a["domain"], documents=tuple(a["documents"])) for a in data["agents"]
        )
        questions = tuple(
            DemoQuestion(q["question"], q["answer"], tuple((str(a), int(i)) for a, i in q["facts"]))
            for q in data["questions"]
        )
        documents = {a.name: a.documents for a in agents}
        for q in questions:
            for agent, index in q.facts:
                documents[agent][index]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            "demo.corpus", f"cannot read the demo corpus {path or '(packaged)'}: {exc}"
        ) from exc
    return DemoCorpus(agents, questions)


async def run_demo(
    swarm: Swarm, corpus: DemoCorpus, *, questions: int | None = None, on_event: OnEvent | None = None
) -> DemoSummary:
    """Add the corpus's agents to ``swarm``, run it, ask the questions; the swarm is stopped after."""
    emit = on_event or (lambda event: None)
    summary = DemoSummary(agents=len(corpus.agents))
    for spec in corpus.agents:
        swarm.add_specialist(spec.name, spec.domain, documents=spec.documents)
    started = time.perf_counter()
    share = swarm.config.share_knowledge
    # The demo shares knowledge itself, after start, to time it and show it.
    swarm.config = dataclasses.replace(swarm.config, share_knowledge=False)
    try:
        await swarm.start(progress=lambda stage, done, total: _stage(emit, stage, done, total))
        summary.start_s = time.perf_counter() - started
        router = swarm.stats()
        summary.subscribe_messages = router.subscribe_messages
        if share:
            began, before = time.perf_counter(), requests_sent(swarm.nodes)
            summary.packets_shared = await swarm.share_knowledge(
                progress=lambda stage, done, total: _stage(emit, stage, done, total, swarm.stats().packets)
            )
            await swarm.wait_idle()  # the syntheses the shared findings prompted
            summary.share_s = time.perf_counter() - began
            summary.share_messages = requests_sent(swarm.nodes) - before
            summary.syntheses_at_start = sum(s.stats.syntheses for s in swarm.specialists)
        began, before = time.perf_counter(), requests_sent(swarm.nodes)
        for q in corpus.questions[:questions]:
            summary.results.append(await _ask(swarm, q, emit, corpus))
            emit({"type": "result", "result": summary.results[-1]})
        await swarm.wait_idle()
        summary.ask_s = time.perf_counter() - began
        summary.ask_messages = requests_sent(swarm.nodes) - before
        stats = swarm.stats()
        summary.deliveries = stats.deliveries
        summary.task_subscribe_messages = stats.subscribe_messages - summary.subscribe_messages
        summary.syntheses = sum(s.stats.syntheses for s in swarm.specialists)
        summary.replies = sum(s.stats.replies_sent for s in swarm.specialists)
    finally:
        await swarm.stop()
    return summary


async def _ask(swarm: Swarm, q: DemoQuestion, emit: OnEvent, corpus: DemoCorpus) -> DemoResult:
    began = time.perf_counter()
    final: dict[str, Any] = {}
    config = {"configurable": {"thread_id": f"demo-{q.question}"}}
    async for event in swarm.dispatcher.astream(
        {"messages": [("user", q.question)]}, config, stream_mode="custom"
    ):
        if event.get("type") in (EVENT_ROUTE, EVENT_ANSWER, EVENT_FINAL):
            emit(event)
        if event.get("type") == EVENT_FINAL:
            final = event
    provenance = final.get("provenance", {})
    answer = str(final.get("answer", ""))
    asked = tuple(provenance.get("specialists", ()))
    used = tuple(provenance.get("agents_used", ()))
    return DemoResult(
        question=q.question,
        expected=q.answer,
        answer=answer,
        correct=contains_answer(answer, q.answer),
        specialists=asked,
        agents_used=used,
        facts_reached=all(_reached(provenance, corpus, agent, index) for agent, index in q.facts),
        messages=int(provenance.get("messages", 0)),
        llm_calls=int(provenance.get("llm_calls", 0)),
        wall_s=time.perf_counter() - began,
    )


def _reached(provenance: dict[str, Any], corpus: DemoCorpus, agent: str, index: int) -> bool:
    text = next(a.documents[index] for a in corpus.agents if a.name == agent)
    if f"{agent}:{index}" in provenance.get("sources", ()):
        return True
    return any(text in p.get("finding", "") for p in provenance.get("packets", ()))


def _stage(emit: OnEvent, stage: str, done: int, total: int, packets: int | None = None) -> None:
    event: dict[str, Any] = {"type": "stage", "stage": stage, "done": done, "total": total}
    if packets is not None:
        event["packets"] = packets
    emit(event)


def swarm_of(
    agents_path: Path | None,
    *,
    chat: ChatModel,
    embedder: Embedder,
    config: SwarmConfig,
    data_dir: Path,
) -> Swarm:
    """The swarm of the ``[[agents]]`` in the TOML file ``agents_path``, or without one the demo's
    eight specialists: what ``chat``, ``serve`` and ``mcp`` talk to. ``config`` is the caller's (the
    CLI reads the agents file's own ``[swarm]`` table into it, under the environment and flags)."""
    if agents_path is not None:
        return Swarm.from_config_file(
            agents_path, chat=chat, embedder=embedder, config=config, data_dir=data_dir
        )
    swarm = Swarm(chat=chat, embedder=embedder, config=config, data_dir=data_dir)
    for spec in load_demo_corpus().agents:
        swarm.add_specialist(spec.name, spec.domain, documents=spec.documents)
    return swarm
