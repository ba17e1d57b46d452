"""What a run measures: the request categories, the record of each question asked, the message and byte
counts while they were asked, the answers' scores, and the :class:`~.rows.Row` all of them make.

Every figure is rounded where it is made, as the rows have always been, so a row is the same for the
same seed whichever way it is read back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from synthswarm.agents.answers import contains_answer, exact_match, f1_score
from synthswarm.agents.specialist import Context, Specialist
from synthswarm.evals._harness.kinds import by_kind, judge
from synthswarm.evals._harness.rows import Row
from synthswarm.evals._harness.synthesis_metrics import Brought
from synthswarm.evals.datasets import Dataset, Question

__all__ = [
    "FETCH",
    "HANDOFF",
    "QUESTION",
    "RELAY",
    "REPLY",
    "ROUTE",
    "SUBSCRIBE",
    "Asked",
    "Record",
    "Scores",
    "Traffic",
    "ceiling",
    "edges",
    "evidence_row",
    "reply_timeouts",
    "scores",
]

#: Request categories (:class:`synthswarm.swarm.dht.node.NodeStats`) by what they did for a question.
ROUTE = frozenset({"semantic", "deliver", "hub", "gossip"})
SUBSCRIBE = frozenset({"store"})
REPLY, FETCH, RELAY = frozenset({"reply"}), frozenset({"fetch"}), frozenset({"relay"})
#: Handing a question to the agent the entry step chose, and its context sent back
#: (:mod:`synthswarm.agents.entry`).
HANDOFF = frozenset({"handoff"})
#: Everything a question causes; any other request sent meanwhile is the DHT's upkeep (bucket
#: refreshes, replication, liveness pings), reported apart as ``upkeep_messages_per_question``.
QUESTION = ROUTE | SUBSCRIBE | REPLY | FETCH | RELAY | HANDOFF


@dataclass(frozen=True)
class Asked:
    """One question as it was asked: who answered, the context it gathered, and what that held."""

    agent: Specialist
    context: Context
    recall: float
    """The share of the question's gold paragraphs whose whole text is in the context."""
    used: list[tuple[int, int]]
    """``(i, j)`` for each passage or packet of agent i in the context of agent j, the answerer."""
    answerer: int = -1
    """The answering agent's index."""
    brought: tuple[Brought, ...] = ()
    """The context's passages a claim (a synthesis) led the asker to (:mod:`.synthesis_metrics`)."""
    lookups: int = 0
    """Agents an oracle scan read for free to choose the answerer (``scan``, ``profile``)."""
    handoff_failed: bool = False
    """The answerer the entry step chose did not send its context back; the entry agent answered."""

    def record(self) -> Record:
        """What the row needs of it, as plain data (what a shard in another process sends back)."""
        return Record(
            self.recall, self.used, self.answerer, self.context.hops, self.context.rounds,
            self.lookups, self.handoff_failed,
        )  # fmt: skip


@dataclass(frozen=True)
class Record:
    """One question's figures for the row: :class:`Asked` as plain data, wherever it was asked."""

    recall: float
    used: list[tuple[int, int]]
    answerer: int
    hops: int
    rounds: int
    lookups: int = 0
    handoff_failed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        fields = dict(data)
        fields["used"] = [(int(i), int(j)) for i, j in fields["used"]]
        return cls(**fields)


@dataclass(frozen=True)
class Traffic:
    """The requests the nodes sent by category, before and after the questions, and the bytes."""

    before: Counter[str]
    after: Counter[str]
    bytes: int
    questions: int

    def per_question(self, categories: frozenset[str] | None) -> float:
        """Requests of ``categories`` (None: all) per question."""
        sent = self.after.items()
        total = sum(v - self.before.get(c, 0) for c, v in sent if categories is None or c in categories)
        return round(total / self._count, 2)

    @property
    def bytes_per_question(self) -> float:
        return round(self.bytes / self._count, 1)

    @property
    def _count(self) -> int:
        return max(1, self.questions)


@dataclass(frozen=True)
class Scores:
    """The answers' scores, and what the models answering them cost."""

    em: float
    f1: float
    contains: float
    llm_calls: int
    tokens: int
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    """EM per answer kind with its count and chance baseline (:func:`.kinds.by_kind`)."""


def scores(
    answers: Sequence[str],
    questions: Sequence[Question],
    agents: Sequence[Specialist],
    offered: Sequence[Sequence[str]] | None = None,
) -> Scores:
    """EM, F1 and contains of ``answers`` to ``questions``; the calls and tokens of every agent. With
    ``offered`` (each question's candidates, :func:`.kinds.offered`), EM by kind beside its chance."""
    scored = list(zip(answers, questions, strict=True))
    kinds = {}
    if offered is not None:
        kinds = by_kind([judge(q, a, c) for (a, q), c in zip(scored, offered, strict=True)])
    return Scores(
        em=round(float(np.mean([exact_match(a, q.answer) for a, q in scored])), 4),
        f1=round(float(np.mean([f1_score(a, q.answer) for a, q in scored])), 4),
        contains=round(float(np.mean([contains_answer(a, q.answer) for a, q in scored])), 4),
        llm_calls=sum(a.stats.llm_calls for a in agents),
        tokens=sum(a.stats.tokens for a in agents),
        by_kind=kinds,
    )


def evidence_row(
    asked: Sequence[Record], n: int, traffic: Traffic, answered: Scores | None, *, reply_timeouts: int
) -> Row:
    """The row of ``n`` agents' records: evidence, messages, pairs and (with ``answered``) scores. The
    run fills in what the ask phase does not know (strategy, publishing, wall time).
    ``reply_timeouts``: :func:`reply_timeouts` of the agents that asked."""
    recalls = [a.recall for a in asked]
    hops = [a.hops for a in asked]
    rounds = [a.rounds for a in asked]
    used = _used(asked)
    return Row(
        n=n,
        strategy="",
        evidence_recall=round(float(np.mean(recalls)), 4) if recalls else 0.0,
        em=answered.em if answered is not None and asked else None,
        f1=answered.f1 if answered is not None and asked else None,
        contains=answered.contains if answered is not None and asked else None,
        messages_per_question=traffic.per_question(QUESTION),
        bytes_per_question=traffic.bytes_per_question,
        subscribe_messages_per_question=traffic.per_question(SUBSCRIBE),
        hops_mean=round(float(np.mean(hops)), 2) if hops else 0.0,
        llm_calls=answered.llm_calls if answered is not None else 0,
        tokens=answered.tokens if answered is not None else 0,
        synthesis_pairs=0,  # the synthesis figures are the ask phase's (.synthesis_metrics)
        possible_pairs=0,
        publish_messages=0,
        inbox_evicted=0,
        wall_s=0.0,
        route_messages_per_question=traffic.per_question(ROUTE),
        reply_messages_per_question=traffic.per_question(REPLY),
        fetch_messages_per_question=traffic.per_question(FETCH),
        relay_messages_per_question=traffic.per_question(RELAY),
        rounds_mean=round(float(np.mean(rounds)), 2) if rounds else 0.0,
        complete_share=round(float(np.mean([r == 1.0 for r in recalls])), 4) if recalls else 0.0,
        upkeep_messages_per_question=max(
            0.0, round(traffic.per_question(None) - traffic.per_question(QUESTION), 2)
        ),
        provenance_pairs=len({frozenset(pair) for pair in used}),
        reply_timeouts=reply_timeouts,
        em_by_kind=answered.by_kind if answered is not None and asked else {},
        handoff_messages_per_question=traffic.per_question(HANDOFF),
        scan_lookups_per_question=round(sum(a.lookups for a in asked) / max(1, len(asked)), 2),
        handoffs_failed=sum(a.handoff_failed for a in asked),
    )


def reply_timeouts(asked: Sequence[Asked]) -> int:
    """Waits for promised replies that ran out, over the agents that asked (each counted once)."""
    return sum(agent.stats.reply_timeouts for agent in {id(a.agent): a.agent for a in asked}.values())


def edges(asked: Sequence[Record]) -> list[tuple[int, int, int]]:
    """The synthesis graph: ``(i, j, count)`` when agent j's context used a finding of agent i."""
    return [(i, j, times) for (i, j), times in sorted(_used(asked).items())]


def _used(asked: Sequence[Record]) -> Counter[tuple[int, int]]:
    return Counter(pair for a in asked for pair in a.used)


def ceiling(dataset: Dataset) -> float:
    """The share of the questions' gold paragraphs present in the corpus at all."""
    ids = dataset.index()
    gold = [p for q in dataset.questions for p in q.supporting]
    return round(sum(p in ids for p in gold) / max(1, len(gold)), 4)
