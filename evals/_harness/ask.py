"""The ask phase: each question enters the swarm at a seeded entry agent, which finds its answerer by the
run's rule (:mod:`synthswarm.agents.entry`: itself, the best bidder routed to and handed the question,
or the ``scan``/``profile`` oracle ablations, their look-ups counted apart); the answerer gathers its
context; what each context held is recorded, the swarm's traffic meanwhile counted (the entry step's
query, replies and handoff among it), and with a model every question then answered from its context."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthswarm.agents.entry import ENTRY, PROFILE, SCAN, choose, context_of, hand_off, scan, serve_handoffs
from synthswarm.agents.specialist import Context, Specialist
from synthswarm.evals._harness.answer import answer_all
from synthswarm.evals._harness.kinds import offered
from synthswarm.evals._harness.metrics import (
    Asked,
    Record,
    Traffic,
    edges,
    evidence_row,
    reply_timeouts,
    scores,
)
from synthswarm.evals._harness.rows import Row
from synthswarm.evals._harness.settings import Progress, RunSettings
from synthswarm.evals._harness.synthesis_metrics import Brought, figures, ledger
from synthswarm.evals.datasets import Dataset, Question
from synthswarm.swarm.dht import DHTNode, bytes_sent, requests_by_category
from synthswarm.swarm.dht.upkeep import measured
from synthswarm.swarm.errors import SwarmError

__all__ = ["ask_all", "ask_at", "entry_index", "entry_of"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Rule:
    """How the ask phase chooses answerers: the rule, the seed of the entry agents, and how long a
    handed question may take to come back."""

    name: str
    seed: int
    handoff_timeout_s: float


async def ask_all(
    dataset: Dataset,
    agents: list[Specialist],
    live: list[Specialist],
    nodes: list[DHTNode],
    settings: RunSettings,
    report: Progress,
    holders: dict[str, int],
    *,
    answer: bool,
    seed: int = 0,
    rule: str | None = None,
) -> tuple[Row, list[tuple[int, int, int]]]:
    """Ask every question. ``holders``: the agent holding each paragraph, by id (for the synthesis
    figures, :mod:`.synthesis_metrics`). ``rule``: who answers (default: ``settings.answerer``);
    ``seed`` picks each question's entry."""
    how = _Rule(rule or settings.answerer, seed, settings.handoff_timeout_s)
    for agent in live:
        if agent.node is not None:
            serve_handoffs(agent)
    sent0, bytes0, began = requests_by_category(nodes), bytes_sent(nodes), time.perf_counter()
    index = {a.agent_id: i for i, a in enumerate(agents)}
    questions = dataset.questions
    asked: list[Asked] = []
    for k, question in enumerate(questions):
        asked.append(await _ask_one(question, agents, live, index, holders, how))
        report("ask", k + 1, len(questions))
    for agent in live:
        await agent.drain()
    sent = requests_by_category(nodes)
    upkeep = measured(sent0, sent, len(nodes), (time.perf_counter() - began) / 60)
    answered, texts = None, None
    if answer:
        texts = await answer_all(questions, [(a.agent, a.context) for a in asked], report)
        candidates = [
            offered(q.question, a.context, a.agent.settings) for q, a in zip(questions, asked, strict=True)
        ]
        answered = scores(texts, questions, agents, candidates)
    # Bytes are read after the answers, requests before them, as the harness always has.
    traffic = Traffic(sent0, sent, bytes_sent(nodes) - bytes0, len(questions))
    records = [a.record() for a in asked]
    row = evidence_row(records, len(agents), traffic, answered, reply_timeouts=reply_timeouts(asked))
    row.upkeep_per_node_min = upkeep.as_dict()
    made = await ledger(agents)
    gold = [q.supporting for q in questions]
    brought = [a.brought for a in asked]
    found = figures(made, gold, brought, [a.answerer for a in asked], holders, texts)
    row.synthesis_useful, row.synthesis_ceiling = found.useful, found.ceiling
    row.synthesis_pairs, row.synthesis_used, row.synthesis_used_own = found.pairs, found.used, found.used_own
    row.answerer = how.name
    return row, edges(records)


def entry_of(question_id: str, live: list[Specialist], seed: int) -> Specialist:
    """The agent ``question_id`` enters the swarm at: a seeded choice among ``live`` (the same seed
    gives the same entry), independent of what the agents hold."""
    return live[entry_index(question_id, len(live), seed)]


def entry_index(question_id: str, count: int, seed: int) -> int:
    """:func:`entry_of` as a position among ``count`` agents, for a driver that does not hold them."""
    digest = hashlib.sha256(f"entry:{seed}:{question_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


async def ask_at(
    question: Question,
    entry: Specialist,
    index: Mapping[bytes, int],
    *,
    rule: str,
    handoff_timeout_s: float,
    alone: bool = False,
) -> Record:
    """``question`` asked at ``entry``, by ``rule`` (``entry`` or ``routed``: no free read of other
    agents), its answerer wherever it lives (``index``: every agent's position, in any process); the
    record as plain data. For a swarm spread over processes (:mod:`.spread`), where only the entry's
    own process holds it. ``alone``: the entry is the only live agent."""
    text = question.question
    [vector] = await entry.embedder.embed([text])
    choice = await choose(ENTRY if alone else rule, entry, text, vector)
    responder, failed = entry.agent_id, False
    if choice.holder is None or choice.agent_id == entry.agent_id:
        context = await entry.gather(text)
    else:
        try:
            handed = await hand_off(
                entry, choice.holder, choice.agent_id, text, answer=False, timeout_s=handoff_timeout_s
            )
            responder, context = handed.responder, context_of(handed)
        except SwarmError as exc:
            _log.warning("question %s: %s; the entry agent answers it", question.id, exc)
            context, failed = await entry.gather(text), True
    if responder not in index:
        raise SwarmError(f"question {question.id}: a handoff was answered by an agent this run never made")
    best = index[responder]
    found = {ref for e in context.evidence for ref in e.refs}
    origins = [e.origin for e in context.evidence]
    used = [(index[o], best) for o in origins if o is not None and o in index and o != responder]
    return Record(
        recall=sum(p in found for p in question.supporting) / len(question.supporting),
        used=used, answerer=best, hops=context.hops, rounds=context.rounds, handoff_failed=failed,
    )  # fmt: skip


async def _ask_one(
    question: Question,
    agents: list[Specialist],
    live: list[Specialist],
    index: dict[bytes, int],
    holders: dict[str, int],
    rule: _Rule,
) -> Asked:
    """One question asked of its answerer, and the record of what its context held."""
    [vector] = await agents[0].embedder.embed([question.question])
    agent, context, lookups, failed = await _answerer(question, vector, agents, live, index, rule)
    best, me = index[agent.agent_id], agent.agent_id
    found = {ref for e in context.evidence for ref in e.refs}
    used = [(index[e.origin], best) for e in context.evidence if e.origin in index and e.origin != me]
    brought = tuple(Brought(e.via, e.refs, e.text) for e in context.evidence if e.via is not None)
    return Asked(
        agent,
        context,
        recall=sum(p in found for p in question.supporting) / len(question.supporting),
        used=used,
        answerer=best,
        brought=brought,
        lookups=lookups,
        handoff_failed=failed,
    )


async def _answerer(
    question: Question,
    vector: npt.NDArray[np.float32],
    agents: list[Specialist],
    live: list[Specialist],
    index: dict[bytes, int],
    rule: _Rule,
) -> tuple[Specialist, Context, int, bool]:
    """The agent that answers ``question``, the context it gathered, the scan look-ups that found it,
    and whether a handoff failed (the entry then answered from what it has)."""
    text = question.question
    if rule.name in (SCAN, PROFILE):  # the oracle ablations: no entry, a free read of every agent
        agent, choice = await scan(text, vector, live, profile=rule.name == PROFILE)
        return agent, await agent.gather(text), choice.lookups, False
    entry = live[0] if len(live) == 1 else entry_of(question.id, live, rule.seed)
    choice = await choose(ENTRY if len(live) == 1 else rule.name, entry, text, vector)
    if choice.holder is None or choice.agent_id == entry.agent_id:
        return entry, await entry.gather(text), 0, False
    try:
        handed = await hand_off(
            entry, choice.holder, choice.agent_id, text, answer=False, timeout_s=rule.handoff_timeout_s
        )
    except SwarmError as exc:
        _log.warning("question %s: %s; the entry agent answers it", question.id, exc)
        return entry, await entry.gather(text), 0, True
    if handed.responder not in index:
        raise SwarmError(f"question {question.id}: a handoff was answered by an agent this run never made")
    return agents[index[handed.responder]], context_of(handed), 0, False
