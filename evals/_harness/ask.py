"""The ask phase: each question goes to its answerer (the live agent holding the best-matching passage,
or with the ``profile`` ablation the closest interest profile), which gathers its context; what each
context held is recorded, the swarm's traffic meanwhile counted, and with a model every question then
answered from its context."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from synthswarm.agents.asking import best_holders
from synthswarm.agents.specialist import Specialist
from synthswarm.evals._harness.answer import answer_all
from synthswarm.evals._harness.kinds import offered
from synthswarm.evals._harness.metrics import Asked, Traffic, edges, evidence_row, scores
from synthswarm.evals._harness.rows import Row
from synthswarm.evals._harness.settings import Progress, RunSettings
from synthswarm.evals._harness.synthesis_metrics import Brought, figures, ledger
from synthswarm.evals.datasets import Dataset, Question
from synthswarm.swarm.dht import DHTNode, bytes_sent, requests_by_category

__all__ = ["ask_all"]


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
) -> tuple[Row, list[tuple[int, int, int]]]:
    """Ask every question. ``holders``: the agent holding each paragraph, by id (for the synthesis
    figures, :mod:`.synthesis_metrics`)."""
    sent0, bytes0 = requests_by_category(nodes), bytes_sent(nodes)
    index = {a.agent_id: i for i, a in enumerate(agents)}
    questions = dataset.questions
    asked: list[Asked] = []
    for k, question in enumerate(questions):
        asked.append(await _ask_one(question, agents, live, index, holders, settings.answerer))
        report("ask", k + 1, len(questions))
    for agent in live:
        await agent.drain()
    sent = requests_by_category(nodes)
    answered, texts = None, None
    if answer:
        texts = await answer_all(questions, [(a.agent, a.context) for a in asked], report)
        candidates = [
            offered(q.question, a.context, a.agent.settings) for q, a in zip(questions, asked, strict=True)
        ]
        answered = scores(texts, questions, agents, candidates)
    # Bytes are read after the answers, requests before them, as the harness always has.
    traffic = Traffic(sent0, sent, bytes_sent(nodes) - bytes0, len(questions))
    row = evidence_row(asked, len(agents), traffic, answered)
    made = await ledger(agents)
    gold = [q.supporting for q in questions]
    brought = [a.brought for a in asked]
    found = figures(made, gold, brought, [a.answerer for a in asked], holders, texts)
    row.synthesis_useful, row.synthesis_ceiling = found.useful, found.ceiling
    row.synthesis_pairs, row.synthesis_used, row.synthesis_used_own = found.pairs, found.used, found.used_own
    return row, edges(asked)


async def _ask_one(
    question: Question,
    agents: list[Specialist],
    live: list[Specialist],
    index: dict[bytes, int],
    holders: dict[str, int],
    rule: str,
) -> Asked:
    """One question asked of its answerer, and the record of what its context held."""
    [vector] = await agents[0].embedder.embed([question.question])
    agent = await _choose(question.question, vector, live, rule)
    best, me = index[agent.agent_id], agent.agent_id
    context = await agent.gather(question.question)
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
    )


async def _choose(
    question: str, vector: npt.NDArray[np.float32], live: Sequence[Specialist], rule: str
) -> Specialist:
    if rule == "profile":
        profiles = [await a.interests() for a in live]
        return live[max(range(len(live)), key=lambda i: float(np.max(profiles[i] @ vector)))]
    best, _ = (await best_holders(question, vector, live))[0]
    return live[best]
