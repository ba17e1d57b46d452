"""What an agent's asking searches (:class:`synthswarm.agents.asking.Sources`): its own passages, its
inbox, and, when it asks the swarm, the passages other agents offer in reply to its query packets.

One :class:`AgentSources` serves one question. It counts what the asker's node spent on it: query
routing as the router reports it, each reply that reached it from another node, and each text fetch.
What it needs of the agent asking is an :class:`Asker`, so it imports no agent: a
:class:`~synthswarm.agents.specialist.Specialist` is one.

Three rules keep what asking finds correct and independent of the machine's speed:

- Every agent scores the same query. A query packet carries the query's whole text (up to
  :data:`~synthswarm.swarm.packet.MAX_QUERY_BYTES`, far past the 1,024 bytes of a finding, so a later
  round's query, the question bridged with a whole passage, goes whole) and an int8 embedding. The
  asker scores its own passages with the text and vector as the packet carries them (:func:`as_sent`),
  so a passage scores the same wherever it is held; a text past even the query cap is cut for the
  asker and the packet alike, and logged.
- The floor sent with a query is the ``budget``-th best score over the distinct passages held
  (by key, each at its best score), syntheses excluded (:func:`context_floor`): a passage found twice,
  or a synthesis, would raise it and make remote agents hold back passages that would enter the
  context.
- The wait for replies ends when every agent that promised one has replied (the router reports who
  promised, :attr:`~synthswarm.swarm.routers.DeliveryReport.follow_ups`), or on ``ask_timeout_s``,
  which is counted (``reply_timeouts``, ``replies_missing`` in the agent's stats) so that a run
  says when it fired. There is no quiet period: a query no agent promised to answer is not waited on.
  Replies are taken once per responder and in the order of their ids, not of their arrival.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from synthswarm.agents.asking import AskSettings, Candidate, Holder
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.memory import AgentMemory
from synthswarm.agents.retrieval import PassageIndex
from synthswarm.swarm.direct import CLAIM_REF, Reply, floor_ref, passage_paths, reply_ref, source_refs
from synthswarm.swarm.errors import DHTError, SwarmError
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.packet import CompactEmbedding, OutcomePacket, PacketKind, finding_cap, fit_text

if TYPE_CHECKING:
    from synthswarm.swarm.dht import DHTNode
    from synthswarm.swarm.routers import DeliveryReport

__all__ = [
    "CLAIM_KEY",
    "AgentSources",
    "Asker",
    "AskerSettings",
    "AskerStats",
    "as_sent",
    "context_floor",
    "inbox_candidate",
    "is_claim",
    "passage_source",
    "scored_inbox",
]

_log = logging.getLogger(__name__)

CLAIM_KEY = "packet:"
"""The key prefix of a candidate that stands for a packet, not a passage (a claim): ``packet:<id hex>``."""


class AskerSettings(Protocol):
    """The settings of the asker that its sources read."""

    @property
    def asking(self) -> AskSettings: ...
    @property
    def ask_timeout_s(self) -> float:
        """Longest wait for the replies agents promised when the query reached them."""
        ...


class AskerStats(Protocol):
    """The asker's counters its sources add to."""

    reply_timeouts: int
    """Queries whose wait for promised replies ran out (``ask_timeout_s``) before all came."""
    replies_missing: int
    """Promised replies that had not come when those waits ran out."""


class Asker(Protocol):
    """What the sources of a question need of the agent asking it: its inbox, its settings, where it
    joined, and how it sends a query packet."""

    @property
    def name(self) -> str: ...
    @property
    def memory(self) -> AgentMemory: ...
    @property
    def settings(self) -> AskerSettings: ...
    @property
    def stats(self) -> AskerStats: ...
    @property
    def node(self) -> DHTNode | None:
        """The node replies come to; None before the agent joins a router."""
        ...

    @property
    def embedder(self) -> Embedder:
        """What embeds the texts it fetches by following a claim, to score them."""
        ...

    async def distill(
        self,
        text: str,
        *,
        kind: PacketKind,
        evidence: Sequence[str],
        embedding: npt.ArrayLike | None,
    ) -> OutcomePacket:
        """The signed packet of ``text``."""
        ...

    async def publish(self, packet: OutcomePacket) -> DeliveryReport | None:
        """Send ``packet`` through the router the agent joined."""
        ...


class AgentSources:
    """The sources of one question asked by ``agent`` with its passages ``index``; ``swarm`` says
    whether to query other agents."""

    def __init__(self, agent: Asker, index: PassageIndex, *, swarm: bool) -> None:
        self.agent, self.index, self.swarm = agent, index, swarm
        self.messages = 0
        """Requests the asker's node sent (query routing, fetches) and replies it got from other nodes."""
        self.hops = 0
        """Longest rendezvous path of its queries."""
        self.failed = 0
        """Query packets the router could not send (a dead hub, say): that round used what was at hand."""

    async def search(
        self, text: str, vector: npt.NDArray[np.float32], known: Mapping[str, float]
    ) -> list[Candidate]:
        sent, scored = as_sent(text, vector)
        if sent != text:
            _log.warning(
                "agent %s: a query of %d bytes was cut to the %d-byte query cap; it and every agent "
                "it reaches score the cut",
                self.agent.name, len(text.encode()), finding_cap(PacketKind.QUERY),
            )  # fmt: skip
        found = await self._local(sent, scored)
        if self.swarm:
            floor = context_floor(known, found, self.agent.settings.asking.budget)
            found += [c for reply in await self.query(sent, vector, floor) for c in _offered(reply)]
        return found

    async def _local(self, text: str, vector: npt.NDArray[np.float32]) -> list[Candidate]:
        """The asker's own passages, the received findings and the best received syntheses."""
        memory, index, asking = self.agent.memory, self.index, self.agent.settings.asking
        found = [
            Candidate(f.passage.source or f.passage.id, f.score, f.passage.title, f.passage.text,
                      passage_id=f.passage.id)
            for f in index.search(text, vector, asking.budget)
        ]  # fmt: skip
        findings = await scored_inbox(memory, index, text, vector, asking.budget)
        found += [inbox_candidate(p, score) for p, score in findings]
        if asking.syntheses:
            syntheses = await scored_inbox(
                memory, index, text, vector, asking.syntheses, PacketKind.SYNTHESIS
            )
            found += [inbox_candidate(p, score) for p, score in syntheses]
        return found

    async def query(self, text: str, vector: npt.NDArray[np.float32], floor: float) -> list[Reply]:
        """Publish a query packet naming the asker's node (and the least score worth offering, when
        the asker has a full context already), and collect the replies promised."""
        agent, node = self.agent, self.agent.node
        if node is None:
            raise SwarmError(f"agent {agent.name!r} has not joined a router, so it cannot ask the swarm")
        host = NodeHost.on(node)
        refs = [reply_ref(node.contact)] + ([floor_ref(floor)] if floor > float("-inf") else [])
        query = await agent.distill(text, kind=PacketKind.QUERY, embedding=vector, evidence=refs)
        if query.finding != text:
            _log.warning(
                "agent %s: a query packet cut its text further than %d bytes; remote agents score less",
                agent.name, finding_cap(PacketKind.QUERY),
            )  # fmt: skip
        inbox = host.expect(query.id)
        try:
            report = await self._send(query)
            replies = await self._collect(inbox, report) if report is not None else []
        finally:
            host.forget(query.id)
        self.messages += sum(1 for r in replies if r.holder is not None and r.holder != node.contact)
        return replies

    async def _send(self, query: OutcomePacket) -> DeliveryReport | None:
        """Publish ``query``, counting what routing it cost; the router's report, or None when no
        reply can come (it could not be sent, it reached no one, or none it reached can help)."""
        try:
            report = await self.agent.publish(query)
        except DHTError as exc:
            self.failed += 1
            _log.warning(
                "agent %s: a query could not be sent (%s); answering from what it has", self.agent.name, exc
            )
            return None
        if report is not None:
            self.messages += report.messages
            self.hops = max(self.hops, report.hops)
        if report is None or not report.follow_ups:
            return None  # it reached no one, or none it reached promised to help
        return report

    async def _collect(self, inbox: asyncio.Queue[Reply], report: DeliveryReport) -> list[Reply]:
        """The replies of the agents that promised one (an agent that relayed the query promised its
        author's), once each, in the order of the responders' ids. The wait ends when all have come,
        or after ``ask_timeout_s``, counted in the asker's stats."""
        expected = len(report.follow_ups)
        by: dict[bytes, Reply] = {}
        try:
            async with asyncio.timeout(self.agent.settings.ask_timeout_s):
                while len(by) < expected:
                    reply = await inbox.get()
                    by.setdefault(reply.responder, reply)  # a reply sent twice counts once
        except TimeoutError:
            stats = self.agent.stats
            stats.reply_timeouts += 1
            stats.replies_missing += expected - len(by)
            _log.warning(
                "agent %s: %d of %d promised replies had not come after %.1f s",
                self.agent.name, expected - len(by), expected, self.agent.settings.ask_timeout_s,
            )  # fmt: skip
        return [by[r] for r in sorted(by)]

    async def score(self, text: str, vector: npt.NDArray[np.float32], texts: Sequence[str]) -> list[float]:
        """Scores of fetched texts on this asker's scale: embedded here, then scored as received
        findings are (:meth:`~synthswarm.agents.retrieval.PassageIndex.score_texts`)."""
        if not texts:
            return []
        vectors = await self.agent.embedder.embed(list(texts))
        return self.index.score_texts(text, vector, texts, vectors)

    async def fetch(self, candidates: Sequence[Candidate]) -> dict[str, str]:
        """Whole texts of remote candidates, one request per holder, the holders asked at once."""
        node = self.agent.node
        if node is None:
            return {}
        host = NodeHost.on(node)
        by_holder: dict[Holder, list[Candidate]] = {}
        for c in candidates:
            if c.holder is not None:
                by_holder.setdefault(c.holder, []).append(c)
        self.messages += sum(1 for h in by_holder if h.contact != node.contact)
        fetched = await asyncio.gather(
            *(host.fetch(h.contact, h.agent_id, [c.passage_id for c in cs]) for h, cs in by_holder.items())
        )
        return {
            c.key: got[c.passage_id]
            for (_, wanted), got in zip(by_holder.items(), fetched, strict=True)
            for c in wanted
            if c.passage_id in got
        }


def as_sent(text: str, vector: npt.NDArray[np.float32]) -> tuple[str, npt.NDArray[np.float32]]:
    """``text`` and ``vector`` as a query packet carries them (the text whole up to the query cap, the
    embedding in int8), so that the asker scores what every agent the query reaches will score.

    A query packet has a text cap of its own (:func:`~synthswarm.swarm.packet.finding_cap`) so that a
    bridged query (the question and a whole passage), often past a finding's 1,024 bytes, is scored
    whole by every agent; only a text past that cap is cut, here and in the packet alike."""
    compact = CompactEmbedding.from_vector(vector).to_array()
    return fit_text(text, finding_cap(PacketKind.QUERY)), np.asarray(compact, np.float32)


def context_floor(known: Mapping[str, float], found: Sequence[Candidate], budget: int) -> float:
    """The score a passage must beat to enter a context of ``budget`` passages: the ``budget``-th best
    over the distinct passages held, ``known`` (by key) and ``found``, each at its best score,
    syntheses excluded (they ride beside the passages); -inf while fewer are held."""
    best = dict(known)
    for c in found:
        if not c.synthesis and c.score > best.get(c.key, float("-inf")):
            best[c.key] = c.score
    scores = sorted(best.values(), reverse=True)
    return scores[budget - 1] if len(scores) >= budget else float("-inf")


async def scored_inbox(
    memory: AgentMemory,
    index: PassageIndex,
    text: str,
    vector: npt.NDArray[np.float32],
    k: int,
    kind: PacketKind = PacketKind.FINDING,
) -> list[tuple[OutcomePacket, float]]:
    """The ``k`` packets of ``kind`` in ``memory``'s inbox nearest ``vector``, each with the score the
    passages of ``index`` get from the same query
    (:meth:`synthswarm.agents.retrieval.PassageIndex.score_texts`)."""
    hits = await memory.search_inbox(vector, k, where={"kind": str(kind)})
    if not hits:
        return []
    vectors = np.vstack([h.packet.embedding.to_array() for h in hits])
    scores = index.score_texts(text, vector, [h.packet.finding for h in hits], vectors)
    return [(h.packet, float(score)) for h, score in zip(hits, scores, strict=True)]


def inbox_candidate(packet: OutcomePacket, score: float) -> Candidate:
    """A received packet as a candidate: keyed by its one source when it stands for one passage (a
    finding), so a copy offered whole by its holder merges with it; its source counts only if whole."""
    source = passage_source(packet)
    key = source if source is not None else f"{CLAIM_KEY}{packet.id.hex()}"
    whole = source is not None and not packet.finding.endswith("…")
    claim = is_claim(packet)
    return Candidate(
        key,
        score,
        "",
        packet.finding,
        whole,
        packet_id=packet.id,
        origin=packet.origin,
        synthesis=claim,
        paths=tuple(passage_paths(packet.evidence)),
    )


def is_claim(packet: OutcomePacket) -> bool:
    """Whether ``packet`` states something other agents' passages must bear out: a synthesis, or a
    finding with parents or marked a claim (an answer shared, :data:`~synthswarm.swarm.direct.CLAIM_REF`).
    It is followed to its evidence, never used as evidence."""
    if packet.kind is PacketKind.SYNTHESIS:
        return True
    return packet.kind is PacketKind.FINDING and (bool(packet.parents) or CLAIM_REF in packet.evidence)


def passage_source(packet: OutcomePacket) -> str | None:
    """The source ref of the one passage a finding stands for; None for any other packet (a shared
    answer, a finding with parents, stands for no passage even when it cites one)."""
    sources = source_refs(packet.evidence)
    return (
        sources[0]
        if packet.kind is PacketKind.FINDING and not is_claim(packet) and len(sources) == 1
        else None
    )


def _offered(reply: Reply) -> list[Candidate]:
    """The passages a reply offers, as candidates to fetch from its holder, and the claims it offers,
    as paths to follow (a claim's key must be a packet key: another is not taken)."""
    holder = Holder(reply.responder, reply.holder) if reply.holder else None
    passages = [
        Candidate(o.source or o.passage_id, o.score, o.title, None, True, o.passage_id, holder,
                  origin=reply.responder)
        for o in reply.offers
        if not o.refs
    ]  # fmt: skip
    claims = [
        Candidate(
            o.source, o.score, packet_id=packet_id, origin=reply.responder, synthesis=True,
            paths=tuple(passage_paths(o.refs)),
        )
        for o in reply.offers
        if o.refs and (packet_id := _claim_id(o.source)) is not None
    ]  # fmt: skip
    return passages + claims


def _claim_id(key: str) -> bytes | None:
    """The packet id in a claim's key (``packet:<id hex>``); None for any other key, or a malformed one."""
    if not key.startswith(CLAIM_KEY):
        return None
    try:
        return bytes.fromhex(key[len(CLAIM_KEY) :])
    except ValueError:
        return None
