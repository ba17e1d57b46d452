"""What an agent's asking searches (:class:`synthswarm.agents.asking.Sources`): its own passages, its
inbox, and, when it asks the swarm, the passages other agents offer in reply to its query packets.

One :class:`AgentSources` serves one question. It counts what the asker's node spent on it: query
routing as the router reports it, each reply that reached it from another node, and each text fetch.
What it needs of the agent asking is an :class:`Asker`, so it imports no agent: a
:class:`~synthswarm.agents.specialist.Specialist` is one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
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
from synthswarm.swarm.packet import OutcomePacket, PacketKind

if TYPE_CHECKING:
    from synthswarm.swarm.dht import DHTNode
    from synthswarm.swarm.routers import DeliveryReport

__all__ = [
    "AgentSources",
    "Asker",
    "AskerSettings",
    "inbox_candidate",
    "is_claim",
    "passage_source",
    "scored_inbox",
]

_log = logging.getLogger(__name__)


class AskerSettings(Protocol):
    """The settings of the asker that its sources read."""

    @property
    def asking(self) -> AskSettings: ...
    @property
    def ask_timeout_s(self) -> float:
        """Longest wait for the replies agents promised when the query reached them."""
        ...

    @property
    def reply_quiet_s(self) -> float:
        """Where the router cannot say who got a query: how long after a reply to wait for another."""
        ...


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
        self, text: str, vector: npt.NDArray[np.float32], known: Sequence[float]
    ) -> list[Candidate]:
        found = await self._local(text, vector)
        if self.swarm:
            budget = self.agent.settings.asking.budget
            scores = sorted([*known, *(c.score for c in found)], reverse=True)
            floor = scores[budget - 1] if len(scores) >= budget else float("-inf")
            found += [c for reply in await self.query(text, vector, floor) for c in _offered(reply)]
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
        if report is None or not (report.delivered_to or report.messages):
            return None  # it reached no one
        if report.delivered_to and not report.follow_ups:
            return None  # it reached agents, and none of them can help
        return report

    async def _collect(self, inbox: asyncio.Queue[Reply], report: DeliveryReport) -> list[Reply]:
        """Wait for every agent that promised a reply; when the router cannot say who got the query,
        wait until replies stop coming."""
        settings = self.agent.settings
        expected = len(report.follow_ups) or None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.ask_timeout_s
        replies: list[Reply] = []
        while expected is None or len(replies) < expected:
            wait = deadline - loop.time()
            if replies and not report.follow_ups:
                wait = min(wait, settings.reply_quiet_s)
            if wait <= 0:
                break
            try:
                replies.append(await asyncio.wait_for(inbox.get(), wait))
            except TimeoutError:
                break
        return replies

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
    key = source if source is not None else f"packet:{packet.id.hex()}"
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
    """The passages a reply offers, as candidates to fetch from its holder."""
    holder = Holder(reply.responder, reply.holder) if reply.holder else None
    return [
        Candidate(o.source or o.passage_id, o.score, o.title, None, True, o.passage_id, holder,
                  origin=reply.responder)
        for o in reply.offers
    ]  # fmt: skip
