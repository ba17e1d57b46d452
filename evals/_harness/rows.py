"""What one run reports: its :class:`Row` (as ``results.json`` and the run cache hold it, older
harness versions' rows read too) and its synthesis graph (:class:`RunResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Row", "RunResult"]

#: The parts of ``messages_per_question``, which rows of harness 4 did not split from the upkeep.
_PARTS = (
    "route_messages_per_question",
    "subscribe_messages_per_question",
    "reply_messages_per_question",
    "fetch_messages_per_question",
    "relay_messages_per_question",
    "handoff_messages_per_question",
)


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
    """Agent pairs joined by the two direct parents of a synthesis that brought a passage into a
    final context (the agents that published each parent; :mod:`.synthesis_metrics`)."""
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
    upkeep_per_node_min: dict[str, float] = field(default_factory=dict)
    """The same upkeep by kind (:mod:`synthswarm.swarm.dht.upkeep`), per node per minute of wall time
    while the questions were asked. The DHT's timers run on the machine's clock, so unlike every other
    figure this one moves with the machine's speed and a run's length (empty in rows cached before it)."""
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
    """The share of questions where another agent's synthesis brought a gold paragraph into the final
    context (followed to it: the passage's ``via``), or brought the passage the chosen answer is in."""
    synthesis_used_own: float = 0.0
    """The same for the answering agent's own syntheses, counted apart."""
    synthesis_useful: int = 0
    """Distinct gold pairs (one question's two supporting paragraphs, held by different agents) that
    a synthesis made in the run has as its two direct parents."""
    synthesis_ceiling: int = 0
    """How many such cross-agent gold pairs the split holds: the most ``synthesis_useful`` can be."""
    reply_timeouts: int = 0
    """Queries whose wait for promised replies ran out (the agents' ``ask_timeout_s``) before every
    reply came. 0 in a sound run: the waits end on events, so the figures do not depend on the
    machine's speed; any other value says a run's figures may."""
    part: str = "all"
    """Which part of the dataset's questions were asked: ``tune`` (settings were chosen on it),
    ``report`` (held out) or ``all`` (:meth:`synthswarm.evals.datasets.Dataset.split`)."""
    em_by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    """With a model: per kind of answer wanted, ``{"n": questions, "em": ..., "chance": ...}``, the
    chance being a uniform pick among the candidates the reading rules offered
    (:mod:`synthswarm.evals._harness.kinds`)."""

    answerer: str = "scan"
    """Who answered (:mod:`synthswarm.agents.entry`): ``entry``, ``routed``, or the oracle ablations
    ``scan`` and ``profile``. Rows written before the entry step was routed were ``scan``."""
    handoff_messages_per_question: float = 0.0
    """Of ``messages_per_question``: handing questions to the answerer the entry step chose, and
    its context sent back."""
    scan_lookups_per_question: float = 0.0
    """Agents an oracle scan read for free per question to choose the answerer (``scan``,
    ``profile``: one per live agent). Not messages, so not in ``messages_per_question``."""
    handoffs_failed: int = 0
    """Questions whose chosen answerer sent nothing back in time; the entry agent answered them."""
    processes: int = 1
    """Processes the run's agents were spread over (``--processes``; their requests summed over
    every process's sockets). One: every node in this process, on ``inproc://``."""

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
