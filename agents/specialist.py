"""Specialist: an agent that owns a slice of knowledge, answers tasks in it, and trades findings.

- :meth:`Specialist.answer` gathers its context with :func:`synthswarm.agents.asking.ask` (its passages, its
  inbox and, when it asks the swarm, other agents' offers; :mod:`synthswarm.agents.sources`), calls the model,
  and returns an :class:`Answer` carrying the evidence and packet ids it used.
- :meth:`Specialist.distill` turns text into a signed :class:`~synthswarm.swarm.packet.OutcomePacket`;
  :meth:`Specialist.share_knowledge` distills and publishes every document it holds.
- :meth:`Specialist.on_packet` is how the router hands it packets: each is kept in the inbox; a query
  it can help with is answered straight to the asker's node with the passages it offers
  (:mod:`synthswarm.swarm.direct`); a finding that names an entity one of its own findings names is combined
  with it into a synthesis packet that states the link and cites both (:mod:`synthswarm.agents.synthesis`).

Its interest profile (the domain's embedding, centroids of what it knows, then one row per open task)
is what it subscribes to the router with. Answering opens no task: a task opened with
:meth:`Specialist.open_task` is for long-lived questions that want later findings, and its
subscription is counted by the router.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from synthswarm.agents.answers import contains_answer
from synthswarm.agents.approval import KIND_TOOL, ApprovalRequest, Approver, Decision
from synthswarm.agents.asking import AskResult, AskSettings, Candidate, ask
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatMessage, ChatModel, ChatResult, GenerationOptions
from synthswarm.agents.memory import TITLE, AgentMemory, Document, MemoryHit, check_agent_name
from synthswarm.agents.reading import context_for, extraction, focus
from synthswarm.agents.retrieval import LEXICAL_WEIGHT, Passage, PassageIndex
from synthswarm.agents.sources import AgentSources, passage_source, scored_inbox
from synthswarm.agents.synthesis import SynthesisSettings, Synthesizer, link_of
from synthswarm.agents.text import names
from synthswarm.swarm.dht import Contact
from synthswarm.swarm.direct import (
    DirectHost,
    Offer,
    Reply,
    holder_ref,
    parse_floor_ref,
    parse_holder_ref,
    parse_reply_ref,
    source_refs,
)
from synthswarm.swarm.errors import ConfigError, ModelError, SwarmError, ToolError
from synthswarm.swarm.identity import ID_BYTES, Identity
from synthswarm.swarm.packet import OutcomePacket, PacketKind, make_packet
from synthswarm.swarm.tasks import TaskSet
from synthswarm.swarm.telemetry import GEN_AI_OPERATION_NAME, span
from synthswarm.tools import AnyTool, Tool, agent_tools, as_tools

if TYPE_CHECKING:
    from synthswarm.swarm.dht import DHTNode
    from synthswarm.swarm.routers import DeliveryReport, Router

__all__ = [
    "Answer",
    "Context",
    "Evidence",
    "Specialist",
    "SpecialistSettings",
    "SpecialistStats",
    "Turn",
    "centroids",
    "follow_up_query",
]


#: Packets an agent combines with what it knows.
_SYNTHESIZABLE = (PacketKind.FINDING, PacketKind.SYNTHESIS)

#: Measured best of four prompts for SmolLM2-135M on the demo's questions (a plain system line).
DEFAULT_INSTRUCTIONS = "Answer with a short phrase taken from the text."


@dataclass(frozen=True)
class SpecialistSettings:
    asking: AskSettings = field(default_factory=AskSettings)
    """Rounds, context budget and bridging of :func:`synthswarm.agents.asking.ask`."""
    relevance: float = 0.3
    """Least score (:mod:`synthswarm.agents.retrieval`) for a passage to be offered in reply to a query, and
    least
    cosine for a packet to bear on an open task."""
    ask_swarm: bool = True
    """Whether :meth:`Specialist.answer` sends query packets and waits for replies."""
    ask_timeout_s: float = 5.0
    """Longest wait for the replies agents promised when the query reached them."""
    reply_quiet_s: float = 0.5
    """Where the router cannot say who got a query (gossip): stop waiting once this long passes
    after a reply with no further one."""
    lexical_weight: float = LEXICAL_WEIGHT
    """Weight of lexical (BM25) coverage beside the cosine in passage scores (0: dense only)."""
    max_open_tasks: int = 4
    """Open tasks kept in the interest profile (the oldest is dropped)."""
    share_answers: bool = True
    """Publish each answer as a finding packet."""
    synthesize: bool = True
    """Combine each received finding or synthesis that names what one of its own findings names with
    that finding (:mod:`synthswarm.agents.synthesis`), and publish the synthesis."""
    knowledge_rows: int = 3
    """Centroids of the agent's knowledge added to its interest profile (0: the description only)."""
    max_tool_rounds: int = 3
    max_tokens: int = 32
    extractive: bool = True
    """Short answers are chosen among phrases of the evidence (:mod:`synthswarm.agents.reading`) when the
    model
    supports it (``ChatModel.supports_extract``); a question that asks for explanation is still
    written freely."""
    focus_sentences: int = 3
    """Extractive answers: the sentences of the evidence the model reads and chooses from (for
    SmolLM2-135M on the HotpotQA sample, 3 read better than 2, 4 or all: evals/README.md)."""
    context_words: int = 400
    """Extractive answers: the words of the evidence, best first, whose sentences are focused on."""

    def __post_init__(self) -> None:
        if self.knowledge_rows < 0:
            raise ConfigError("agent.knowledge_rows", f"must be 0 or more, got {self.knowledge_rows}")
        for name in ("max_open_tasks", "max_tokens", "context_words", "focus_sentences"):
            if getattr(self, name) < 1:
                raise ConfigError(f"agent.{name}", f"must be at least 1, got {getattr(self, name)}")
        if not -1.0 <= self.relevance <= 1.0 + self.lexical_weight:
            raise ConfigError(
                "agent.relevance", f"must be a score in [-1, 1 + lexical_weight], got {self.relevance}"
            )
        if self.lexical_weight < 0:
            raise ConfigError("agent.lexical_weight", f"must be 0 or more, got {self.lexical_weight}")


@dataclass(frozen=True)
class Evidence:
    """One thing an answer was built on: a passage of the agent's own, or a packet it received."""

    text: str
    source: str
    """The document's source ref, or ``packet:<id hex>``."""
    score: float
    packet_id: bytes | None = None
    origin: bytes | None = None
    """For packets: the agent that signed it."""
    refs: tuple[str, ...] = ()
    """The source refs it stands on: the document's own, or the packet's evidence refs."""


@dataclass(frozen=True)
class Answer:
    agent: str
    task: str
    text: str
    evidence: tuple[Evidence, ...]
    packets: tuple[bytes, ...]
    """Ids of the received packets the answer used."""
    origins: tuple[bytes, ...]
    """Agents whose packets the answer used (not this agent)."""
    llm_calls: int = 0
    tokens: int = 0
    messages: int = 0
    """Routing requests this answer cost (its query and its shared finding)."""
    shared: bytes | None = None
    """Id of the finding packet the answer was published as."""
    cited: tuple[str, ...] = ()
    """Sources (``packet:<id>`` for packets) of the evidence the answer is found in, best first:
    where a short answer was copied from."""


@dataclass(frozen=True)
class Context:
    """What :meth:`Specialist.gather` found, and what finding it cost."""

    evidence: tuple[Evidence, ...]
    messages: int
    """Requests the asker's node sent for it (routing its queries, fetching texts) and replies it got."""
    hops: int
    """Longest rendezvous path of its queries."""
    rounds: int = 0
    """Search rounds it took (:func:`synthswarm.agents.asking.ask`)."""


@dataclass
class SpecialistStats:
    received: dict[str, int] = field(default_factory=dict)
    replies_sent: int = 0
    relays_sent: int = 0
    """Queries this agent relayed to the author of a matching finding, having nothing to offer itself."""
    copies_offered: int = 0
    """Copies of findings it offered for authors a relay could not reach."""
    syntheses: int = 0
    """Link syntheses this agent made and published (:meth:`Specialist.synthesize_received`)."""
    synthesis_messages: int = 0
    """Routing requests its syntheses cost, as the router reported them."""
    syntheses_refused: int = 0
    """Links it found but did not synthesize, the budget being spent."""
    published: int = 0
    llm_calls: int = 0
    tokens: int = 0
    failed_queries: int = 0
    """Query packets the router could not send (a dead hub, say): that round used what was at hand."""


@dataclass
class _Trace:
    """What one answer drew on, collected across retrieval and tool calls."""

    evidence: dict[str, Evidence] = field(default_factory=dict)
    messages: int = 0
    hops: int = 0
    rounds: int = 0

    def add(self, item: Evidence) -> None:
        key = item.packet_id.hex() if item.packet_id else f"{item.source}\x00{item.text}"
        if key not in self.evidence or self.evidence[key].score < item.score:
            self.evidence[key] = item


_trace: contextvars.ContextVar[_Trace | None] = contextvars.ContextVar("synthswarm_trace", default=None)


@contextlib.contextmanager
def _tracing() -> Iterator[_Trace]:
    """Collect what retrieval and tool calls inside the block draw on (one answer's trace)."""
    trace = _Trace()
    token = _trace.set(trace)
    try:
        yield trace
    finally:
        _trace.reset(token)


class Specialist:
    """An agent with a domain. Build it, :meth:`learn` documents, :meth:`join` a router, then ask it."""

    def __init__(
        self,
        name: str,
        domain: str,
        *,
        chat: ChatModel,
        embedder: Embedder,
        memory: AgentMemory | None = None,
        identity: Identity | None = None,
        instructions: str = DEFAULT_INSTRUCTIONS,
        tools: Sequence[AnyTool] = (),
        settings: SpecialistSettings | None = None,
        synthesis: SynthesisSettings | None = None,
        synthesize_with_llm: bool | None = None,
        needs_approval: bool = False,
    ) -> None:
        """``tools``: besides the built-ins, ours or langchain-core's (``@tool``, ``BaseTool``).
        ``synthesize_with_llm``: whether ``chat`` writes synthesis claims (None: when it supports
        structured output; otherwise they are built deterministically, :mod:`synthswarm.agents.synthesis`).
        ``needs_approval``: the dispatcher asks a person before asking this agent
        (:mod:`synthswarm.agents.approval`)."""
        self.name = check_agent_name(name)
        self.domain = domain
        self.chat = chat
        self.embedder = embedder
        self.memory = memory or AgentMemory.in_memory(embedder)
        self.identity = identity or Identity.generate()
        self.instructions = instructions
        self.settings = settings or SpecialistSettings()
        self.tools: list[Tool] = [*agent_tools(self), *as_tools(tools)]
        self.needs_approval = needs_approval
        self.synthesizer = Synthesizer(
            self.identity,
            chat=None if synthesize_with_llm is False else chat,
            settings=synthesis,
            embed=self._embed,
        )
        self._findings: dict[str, OutcomePacket] = {}
        """This agent's published findings, by the source of the passage each stands for."""
        self._names: dict[bytes, frozenset[str]] = {}
        self._name_counts: Counter[str] = Counter()
        """In how many of the findings this agent has seen (its own and received) each name occurs."""
        self._counted: set[bytes] = set()
        self.stats = SpecialistStats()
        self._domain_vector: npt.NDArray[np.float32] | None = None
        self._knowledge_rows: list[npt.NDArray[np.float32]] | None = None
        self._open: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        # Each open task keeps one interest row slot while it is open, so opening a task when the
        # list is full replaces one row at the router instead of shifting (and re-storing) them all.
        self._slot: dict[str, int] = {}
        self._index: PassageIndex | None = None
        self.listeners: list[Callable[[OutcomePacket], None]] = []
        """Called with each packet this agent keeps (a live view of the swarm listens here)."""
        self._router: Router | None = None
        self._node: DHTNode | None = None
        self._tasks = TaskSet(f"agent:{name}")

    def __repr__(self) -> str:
        return f"Specialist({self.name!r}, domain={self.domain[:40]!r})"

    @property
    def agent_id(self) -> bytes:
        return self.identity.id

    @property
    def router(self) -> Router | None:
        return self._router

    @property
    def node(self) -> DHTNode | None:
        """The DHT node the agent joined from (None before :meth:`join`)."""
        return self._node

    # -- knowledge -------------------------------------------------------------------------------

    async def learn(self, documents: Sequence[Document | str]) -> int:
        """Add documents to the agent's knowledge (plain strings get a ``<name>:<n>`` source ref)."""
        docs = [
            d if isinstance(d, Document) else Document(d, f"{self.name}:{i}") for i, d in enumerate(documents)
        ]
        added = len(await self.memory.add_knowledge(docs))
        self._knowledge_rows = None  # recomputed at the next subscription
        self._index = None  # rebuilt at the next search
        return added

    async def passages(self) -> PassageIndex:
        """The agent's knowledge as a hybrid index (:mod:`synthswarm.agents.retrieval`), built on first
        use."""
        if self._index is None:
            hits, vectors = await self.memory.knowledge_items()
            passages = [
                Passage(h.id, str(h.metadata.get(TITLE, "")), h.text, str(h.metadata.get("source", "")))
                for h in hits
            ]
            self._index = PassageIndex(passages, vectors, lexical_weight=self.settings.lexical_weight)
        return self._index

    async def best_score(self, text: str, vector: npt.NDArray[np.float32]) -> float:
        """The score of the agent's best passage for a query (-inf when it knows nothing)."""
        found = (await self.passages()).search(text, vector, 1)
        return found[0].score if found else float("-inf")

    async def search_knowledge(self, query: str, k: int) -> list[str]:
        hits = await self.memory.search_knowledge(query, k)
        trace = _trace.get()
        for h in hits:
            if trace is not None and h.score >= self.settings.relevance:
                trace.add(_own_evidence(h))
        return [h.text for h in hits]

    async def search_inbox(self, query: str, k: int) -> list[str]:
        hits = await self.memory.search_inbox(query, k)
        trace = _trace.get()
        for h in hits:
            if trace is not None and h.score >= self.settings.relevance:
                trace.add(_packet_evidence(h.packet, h.score))
        return [h.packet.finding for h in hits]

    # -- the router ------------------------------------------------------------------------------

    async def interests(self) -> npt.NDArray[np.float32]:
        """The rows the agent subscribes with: its domain description, up to ``knowledge_rows``
        centroids of what it knows, then each open task. The knowledge rows make routing follow
        content, not only the one-line description (which rarely shares words with a packet)."""
        if self._domain_vector is None:
            self._domain_vector = await self._embed(self.domain)
        if self._knowledge_rows is None:
            vectors = await self.memory.knowledge_vectors()
            self._knowledge_rows = centroids(vectors, self.settings.knowledge_rows)
        tasks = sorted(self._open, key=self._slot.__getitem__)
        rows = [self._domain_vector, *self._knowledge_rows, *(self._open[t] for t in tasks)]
        return np.vstack(rows).astype(np.float32)

    async def join(self, router: Router, node: DHTNode) -> None:
        """Subscribe to ``router`` from ``node``; packets then arrive through :meth:`on_packet`."""
        self._router, self._node = router, node
        DirectHost.on(node).serve(self.agent_id, self._texts, self._on_relayed)
        await router.subscribe(self.agent_id, await self.interests(), self.on_packet, node=node)

    async def publish(self, packet: OutcomePacket) -> DeliveryReport | None:
        """Send ``packet`` through the router (None when the agent has not joined one)."""
        if self._router is None:
            return None
        report = await self._router.publish(packet, publisher=self.agent_id)
        self.stats.published += 1
        return report

    def own_packet(self, packet_id: bytes) -> OutcomePacket | None:
        """The finding packet ``packet_id`` if this agent distilled it from its own knowledge."""
        return next((p for p in self._findings.values() if p.id == packet_id), None)

    async def share_knowledge(self) -> list[DeliveryReport]:
        """Distill each document not shared before into a finding packet and publish it."""
        if self._router is None:
            raise SwarmError(f"agent {self.name!r} has not joined a router, so it cannot share")
        reports = []
        hits = await self.memory.unshared_knowledge()
        # The holder ref tells whoever receives a finding where its author answers (see _relay).
        where = [holder_ref(self._node.contact)] if self._node is not None else []
        for hit in hits:
            packet = await self.distill(
                hit.text, topic=self.domain, evidence=[str(hit.metadata.get("source", "")), *where]
            )
            report = await self.publish(packet)
            if report is not None:
                reports.append(report)
            self._findings[str(hit.metadata.get("source", "")) or packet.id.hex()] = packet
        await self.memory.mark_shared(hits)
        return reports

    async def open_task(self, task: str, vector: npt.NDArray[np.float32] | None = None) -> bool:
        """Add ``task`` to the interest profile (re-subscribing); False if it was already open."""
        if task in self._open:
            self._open.move_to_end(task)
            return False
        self._open[task] = vector if vector is not None else await self._embed(task)
        while len(self._open) > self.settings.max_open_tasks:
            oldest, _ = self._open.popitem(last=False)
            self._slot.pop(oldest)
        self._slot[task] = min(set(range(self.settings.max_open_tasks)) - set(self._slot.values()))
        if self._router is not None and self._node is not None:
            await self.join(self._router, self._node)
        return True

    async def close_task(self, task: str) -> None:
        self._slot.pop(task, None)
        if self._open.pop(task, None) is not None and self._router is not None and self._node is not None:
            await self.join(self._router, self._node)

    # -- packets ---------------------------------------------------------------------------------

    async def distill(
        self,
        text: str,
        *,
        kind: PacketKind = PacketKind.FINDING,
        topic: str | None = None,
        evidence: Sequence[str] = (),
        parents: Sequence[bytes] = (),
        embedding: npt.ArrayLike | None = None,
        confidence: float = 1.0,
    ) -> OutcomePacket:
        """A signed packet of ``text`` (cut to fit the packet cap), embedded unless ``embedding`` is given."""
        vector = embedding if embedding is not None else await self._embed(text)
        return make_packet(
            self.identity,
            kind=kind,
            topic=topic or self.domain,
            finding=text,
            embedding=vector,
            confidence=confidence,
            parents=parents,
            evidence=evidence,
            shrink_to_fit=True,
        )

    async def on_packet(self, packet: OutcomePacket) -> bool:
        """Keep a delivered packet and react to it. Reactions run as owned tasks, so the delivery is
        answered at once (:meth:`drain` waits for them). Returns True for a query this agent will
        reply to, so the asker knows whom to wait for."""
        return await self._receive(packet, relayed=False)

    async def _on_relayed(self, query: OutcomePacket) -> bool:
        """A query another agent relayed here (never relayed on: ttl 1)."""
        return await self._receive(query, relayed=True)

    async def _receive(self, packet: OutcomePacket, *, relayed: bool) -> bool:
        if packet.origin == self.agent_id or not await self.memory.store_packet(packet):
            return False
        kind = str(packet.kind)
        self.stats.received[kind] = self.stats.received.get(kind, 0) + 1
        for listener in self.listeners:
            listener(packet)
        if packet.kind is PacketKind.QUERY:
            return await self._on_query(packet, may_relay=not relayed)
        self.synthesizer.seen(packet)
        if self.settings.synthesize and packet.kind in _SYNTHESIZABLE:
            self._tasks.spawn(self._synthesize([packet]), name="synthesize")
        return False

    @property
    def busy(self) -> bool:
        """Whether a reaction to a delivered packet (a reply, a synthesis) is still running."""
        return len(self._tasks) > 0

    async def drain(self) -> None:
        """Wait until every reaction to delivered packets has finished (replies sent, syntheses made)."""
        await self._tasks.join()

    async def aclose(self) -> None:
        await self._tasks.close()

    async def _on_query(self, query: OutcomePacket, *, may_relay: bool) -> bool:
        """Offer the passages that match a query, straight to the asker's node; True if there are any
        (the asker then waits for this reply). With none to offer, relay it (see :meth:`_relay`)."""
        to = parse_reply_ref(query.evidence)
        if to is None or self._node is None:
            return False
        vector = query.embedding.to_array()
        index = await self.passages()
        found = index.search(query.finding, vector, self.settings.asking.budget)
        floor = parse_floor_ref(query.evidence)
        offers = tuple(
            Offer(f.passage.id, f.passage.source, f.passage.title, f.score)
            for f in found
            if f.score >= self.settings.relevance and f.score > floor
        )
        if not offers:
            return may_relay and await self._relay(query, vector, floor)
        host = DirectHost.on(self._node)
        self._tasks.spawn(host.send_reply(to, Reply(query.id, self.agent_id, offers)), name="reply")
        self.stats.replies_sent += 1
        return True

    async def _relay(self, query: OutcomePacket, vector: npt.NDArray[np.float32], floor: float) -> bool:
        """Relay a query this agent cannot help with to the authors of the received findings that
        match it above ``floor`` (best first, at most ``asking.relays`` tried), until one promises the
        asker a reply; True when one did, so the asker waits for that reply as if it were ours. An
        author that cannot be reached (dead, say) is spoken for: this agent offers its own whole
        copies of that author's matching findings, and serves their texts."""
        tries = self.settings.asking.relays
        if tries == 0 or self._node is None:
            return False
        scored = [
            (packet, score)
            for packet, score in await scored_inbox(self, query.finding, vector, self.settings.asking.budget)
            if packet.kind is PacketKind.FINDING and packet.origin not in (self.agent_id, query.origin)
        ]
        authors: dict[bytes, Contact] = {}
        copies: dict[bytes, list[Offer]] = {}
        for packet, score in sorted(scored, key=lambda pair: -pair[1]):
            where = parse_holder_ref(packet.evidence)
            if where is None or where == self._node.contact:
                continue
            if score < self.settings.relevance or score <= floor:
                continue
            authors.setdefault(packet.origin, where)
            source = passage_source(packet)
            if source is not None and not packet.finding.endswith("…"):  # a whole copy of one passage
                copies.setdefault(packet.origin, []).append(Offer(_copy_id(packet.id), source, "", score))
        host = DirectHost.on(self._node)
        stranded: list[Offer] = []
        for author, where in list(authors.items())[:tries]:
            self.stats.relays_sent += 1
            promised = await host.relay(where, author, query)
            if promised:
                return True
            if promised is None:
                stranded += copies.get(author, [])
        to = parse_reply_ref(query.evidence)
        if not stranded or to is None:
            return False
        self._tasks.spawn(host.send_reply(to, Reply(query.id, self.agent_id, tuple(stranded))), name="reply")
        self.stats.replies_sent += 1
        self.stats.copies_offered += len(stranded)
        return True

    async def _texts(self, passage_ids: Sequence[str]) -> dict[str, str]:
        """Texts of the passages asked for by id (what a fetch from another agent is served with): its
        own passages, and the findings it offered copies of (see :meth:`_relay`)."""
        index = await self.passages()
        out = {i: p.text for i in passage_ids if (p := index.get(i)) is not None}
        wanted = {packet_id: i for i in passage_ids if i not in out and (packet_id := _parse_copy_id(i))}
        for packet in await self.memory.packets(list(wanted)) if wanted else []:
            out[wanted[packet.id]] = packet.finding
        return out

    async def synthesize_received(self) -> int:
        """Combine every finding and synthesis received so far with this agent's own findings, where
        they connect (:func:`synthswarm.agents.synthesis.link_of`), strongest links first, within the budget:
        what a swarm does after publishing to settle. Returns the syntheses made."""
        received = [p for kind in _SYNTHESIZABLE for p in await self.memory.received(str(kind))]
        return await self._synthesize(received)

    async def _synthesize(self, packets: Sequence[OutcomePacket]) -> int:
        """Link syntheses of ``packets`` with own findings, published; the number made. A finding with
        parents (an answer, distilled from what it used) is not linked: it restates its sources."""
        own = list(self._findings.values())
        received: dict[bytes, frozenset[str]] = {}  # each received packet's names, found once

        def names_of(packet: OutcomePacket) -> frozenset[str]:
            if packet.id not in received:
                received[packet.id] = self._names_of(packet)
            return received[packet.id]

        for packet in [*own, *packets]:
            self._count_names(packet, names_of)
        if not own:
            return 0
        common = self._common_names()
        links = [
            (found, packet)
            for packet in packets
            if packet.origin != self.agent_id
            and not (packet.kind is PacketKind.FINDING and packet.parents)
            and (found := link_of(packet, own, common=common, names_of=names_of))
        ]
        links.sort(key=lambda pair: (-len(pair[0][1].entity.split()), -len(pair[0][1].entity)))
        made = 0
        for (mine, link), packet in links:
            refused = self.synthesizer.refused
            synthesis = await self.synthesizer.link(mine, packet, link)
            self.stats.syntheses_refused += self.synthesizer.refused - refused
            if synthesis is None:
                continue
            made += 1
            self.stats.syntheses += 1
            await self.memory.store_packet(synthesis)
            report = await self.publish(synthesis)
            self.stats.synthesis_messages += report.messages if report else 0
        return made

    def _names_of(self, packet: OutcomePacket) -> frozenset[str]:
        found = self._names.get(packet.id)
        if found is None:
            found = frozenset(names(packet.finding))
            if packet.origin == self.agent_id:  # own findings are asked about again and again
                self._names[packet.id] = found
        return found

    def _count_names(
        self, packet: OutcomePacket, names_of: Callable[[OutcomePacket], frozenset[str]]
    ) -> None:
        if packet.kind is PacketKind.FINDING and not packet.parents and packet.id not in self._counted:
            self._counted.add(packet.id)
            self._name_counts.update(names_of(packet))

    def _common_names(self) -> frozenset[str]:
        """Names in more than a twentieth (and at least 3) of the findings this agent has seen: too
        common to link by ("England", a city every other finding mentions)."""
        floor = max(3, len(self._counted) // 20)
        return frozenset(n for n, c in self._name_counts.items() if c > floor)

    # -- answering -------------------------------------------------------------------------------

    async def ask_swarm(self, question: str) -> list[str]:
        """Ask the swarm (the ``ask_swarm`` tool): the texts of the best passages it and the agent hold."""
        if self._router is None:
            raise SwarmError(f"agent {self.name!r} has not joined a router, so it cannot ask the swarm")
        vector = await self._embed(question)
        return [e.text for e in await self._gather(question, vector, ask_swarm=True)]

    async def gather(self, task: str, *, ask_swarm: bool | None = None) -> Context:
        """What an answer to ``task`` would be built on, without calling the model: the best passages
        of its own, its inbox and (if ``ask_swarm``) the swarm, found by
        :func:`synthswarm.agents.asking.ask`. The
        eval harness scores evidence recall on this with no LLM at all."""
        with _tracing() as trace:
            context = await self._gather(task, await self._embed(task), self._asks(ask_swarm))
        return Context(tuple(context), trace.messages, trace.hops, trace.rounds)

    async def answer(
        self,
        task: str,
        *,
        ask_swarm: bool | None = None,
        on_token: Callable[[str], None] | None = None,
        history: Sequence[Turn] = (),
        approve: Approver | None = None,
    ) -> Answer:
        """Answer ``task`` from own knowledge, the inbox and (if ``ask_swarm``) the swarm's offers.
        With ``on_token``, the answer is streamed to it as the model writes it: the pieces add up to
        exactly ``Answer.text``. ``history`` is the conversation so far: a follow-up that refers back
        to it ("and where was he born?") is searched for with the last turn in front of it, and the
        model sees the earlier turns (see :func:`follow_up_query`). ``approve`` is asked before a tool
        that needs approval runs; without it such a tool does not run."""
        # The agent span of the GenAI conventions: the asking rounds, the swarm's replies and the
        # model calls of this answer are its children, in this process and in the ones it asks.
        attributes = {
            GEN_AI_OPERATION_NAME: "invoke_agent",
            "gen_ai.agent.name": self.name,
            "gen_ai.agent.id": self.agent_id.hex(),
        }
        with span(f"invoke_agent {self.name}", attributes=attributes) as current:
            answer = await self._answer(
                task, ask_swarm=ask_swarm, on_token=on_token, history=history, approve=approve
            )
            current.set_attributes(
                {"synthswarm.llm_calls": answer.llm_calls, "synthswarm.tokens": answer.tokens}
            )
            return answer

    async def _answer(
        self,
        task: str,
        *,
        ask_swarm: bool | None,
        on_token: Callable[[str], None] | None,
        history: Sequence[Turn],
        approve: Approver | None,
    ) -> Answer:
        search = follow_up_query(task, history)
        with _tracing() as trace:
            vector = await self._embed(search)
            context = await self._gather(search, vector, self._asks(ask_swarm))
            earlier = history[-_HISTORY_TURNS:] if search != task else ()
            text, calls, tokens = await self._generate(task, context, on_token, earlier, search, approve)
        evidence = tuple(sorted(trace.evidence.values(), key=lambda e: -e.score))
        packets = tuple(dict.fromkeys(e.packet_id for e in evidence if e.packet_id))
        origins = tuple(dict.fromkeys(e.origin for e in evidence if e.origin and e.origin != self.agent_id))
        shared = None
        messages = trace.messages
        if self.settings.share_answers and text and self._router is not None:
            packet = await self.distill(
                f"{task} {text}",
                parents=packets[:8],
                evidence=[e.source for e in evidence[:4]],
                embedding=vector,
            )
            report = await self.publish(packet)
            shared, messages = packet.id, messages + (report.messages if report else 0)
        self.stats.llm_calls += calls
        self.stats.tokens += tokens
        cited = tuple(dict.fromkeys(e.source for e in evidence if text and contains_answer(e.text, text)))
        return Answer(
            self.name, task, text, evidence, packets, origins, calls, tokens, messages, shared, cited
        )

    async def _embed(self, text: str) -> npt.NDArray[np.float32]:
        vectors = await self.embedder.embed([text])
        vector: npt.NDArray[np.float32] = vectors[0]
        return vector

    def _asks(self, ask_swarm: bool | None) -> bool:
        return self.settings.ask_swarm if ask_swarm is None else ask_swarm

    async def _gather(self, task: str, vector: npt.NDArray[np.float32], ask_swarm: bool) -> list[Evidence]:
        trace = _trace.get()
        assert trace is not None
        sources = AgentSources(self, swarm=ask_swarm and self._router is not None)
        result: AskResult = await ask(task, vector, sources, self._embed, self.settings.asking)
        trace.messages += sources.messages
        trace.hops = max(trace.hops, sources.hops)
        trace.rounds = max(trace.rounds, result.rounds)
        context = [evidence_of(c) for c in result.context]
        for item in context:
            trace.add(item)
        return context

    async def respond(self, task: str, context: Sequence[Evidence]) -> tuple[str, int, int]:
        """The model's answer to ``task`` from ``context`` (as :meth:`gather` returns it), with a tool
        loop where the backend supports tools: (text, model calls, tokens). The eval harness gathers
        every question's context first and then generates the answers together, so a local model
        batches them."""
        return await self._generate(task, context)

    async def _generate(
        self,
        task: str,
        context: Sequence[Evidence],
        on_token: Callable[[str], None] | None = None,
        history: Sequence[Turn] = (),
        search: str | None = None,
        approve: Approver | None = None,
    ) -> tuple[str, int, int]:
        """The model's answer, with a tool loop where the backend supports tools: (text, calls, tokens).
        With ``on_token``, every round is streamed and the answer's text goes to it as it comes, cleaned
        (the first line, without an "Answer:" prefix); the answer is then exactly what was streamed.

        The evidence is shown best first. A model that supports extraction answers a question that
        wants a short answer by choosing among phrases of the ``focus_sentences`` sentences that bear
        most on it (``search``: the question as searched, a follow-up with its referent), found in
        the best ``context_words`` of the evidence, and reads only those
        (:mod:`synthswarm.agents.reading`)."""
        passages = [e.text for e in sorted(context, key=lambda e: -e.score)]
        extract = None
        if self.settings.extractive and self.chat.supports_extract and passages:
            best = context_for([(e.text, e.score) for e in context], self.settings.context_words)
            focused = focus(search or task, best, self.settings.focus_sentences)
            extract = extraction(task, focused)
            if extract is not None:
                passages = focused
        text = " ".join(passages) or "(nothing found)"
        messages = [
            ChatMessage.system(self.instructions),
            *(
                m
                for turn in history
                for m in (ChatMessage.user(turn.question), ChatMessage.assistant(turn.answer))
            ),
            ChatMessage.user(f"Text: {text}\nQuestion: {task}"),
        ]
        use_tools = self.chat.supports_tools and bool(self.tools) and extract is None
        options = GenerationOptions(
            max_tokens=self.settings.max_tokens,
            tools=tuple(t.spec for t in self.tools) if use_tools else (),
            extract=extract,
        )
        calls = tokens = 0
        streamed = ""
        for _ in range(self.settings.max_tool_rounds + 1):
            try:
                if on_token is None:
                    result = await self.chat.complete(messages, options=options)
                else:
                    result, piece = await self._stream(messages, options, on_token)
                    streamed += piece
            except ModelError as exc:
                raise type(exc)(f"agent {self.name!r}: {exc}") from exc
            calls += 1
            tokens += result.usage.total_tokens
            if not result.tool_calls:
                return (_clean(result.text) if on_token is None else streamed), calls, tokens
            messages.append(ChatMessage.assistant(result.text, result.tool_calls))
            for call in result.tool_calls:
                result_text = await self._run_tool(call.name, call.arguments, task, approve)
                messages.append(ChatMessage.tool(call.id, result_text))
        return streamed, calls, tokens

    async def _stream(
        self, messages: list[ChatMessage], options: GenerationOptions, on_token: Callable[[str], None]
    ) -> tuple[ChatResult, str]:
        """One streamed completion: its result, and the cleaned text passed to ``on_token`` (a round
        that ends in tool calls usually streams none)."""
        cleaner = StreamCleaner()
        result = None
        async for chunk in self.chat.stream(messages, options=options):
            if chunk.text and (piece := cleaner.feed(chunk.text)):
                on_token(piece)
            result = chunk.result or result
        if piece := cleaner.finish():
            on_token(piece)
        if result is None:
            raise ModelError(f"{self.chat.name}: the stream ended without a result")
        return result, cleaner.text

    async def _run_tool(self, name: str, arguments: str, task: str, approve: Approver | None) -> str:
        tool = next((t for t in self.tools if t.name == name), None)
        if tool is None:
            return f"error: no tool named {name!r}; the tools are {', '.join(t.name for t in self.tools)}"
        if tool.needs_approval:
            request = ApprovalRequest(KIND_TOOL, self.name, task, tool=name, arguments=arguments)
            decision = await approve(request) if approve is not None else Decision(False, "no one to ask")
            if not decision.approved:
                return f"error: a person denied running {name}" + (
                    f" ({decision.reason})" if decision.reason else ""
                )
        try:
            return await tool.call(arguments)
        except ToolError as exc:
            return f"error: {exc}"


def centroids(
    vectors: npt.NDArray[np.float32], k: int, *, iterations: int = 10
) -> list[npt.NDArray[np.float32]]:
    """Up to ``k`` unit-length centroids of ``vectors`` (spherical k-means, seeded: same input, same
    rows). With ``k`` or fewer vectors, the vectors themselves."""
    if k <= 0 or len(vectors) == 0:
        return []
    if len(vectors) <= k:
        return [v / (np.linalg.norm(v) or 1.0) for v in vectors]
    rng = np.random.default_rng(0)
    centres = vectors[rng.choice(len(vectors), k, replace=False)]
    for _ in range(iterations):
        nearest = np.argmax(vectors @ centres.T, axis=1)
        for j in range(k):
            members = vectors[nearest == j]
            if len(members):
                mean = members.mean(axis=0)
                centres[j] = mean / (np.linalg.norm(mean) or 1.0)
    return list(centres.astype(np.float32))


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation: what was asked, and what was answered."""

    question: str
    answer: str


_HISTORY_TURNS = 2
"""Earlier turns a follow-up's prompt shows the model (the search uses the last one)."""
_REFERRING = frozenset(
    [
        "he",
        "she",
        "him",
        "her",
        "his",
        "hers",
        "it",
        "its",
        "they",
        "them",
        "their",
        "theirs",
        "there",
        "then",
        "that",
        "this",
        "those",
        "these",
    ]
)


_OPENERS = frozenset(["the", "a", "an", "in", "on", "at", "of", "by", "for", "and", "but", "or", "yes", "no"])


def follow_up_query(question: str, history: Sequence[Turn]) -> str:
    """What to search with for ``question`` asked after ``history``: the question alone, unless it
    refers back (a pronoun such as "he" or "there", or an opening "and"). Then the names the last
    answer brought that its question did not ask about go in front of it: what "she" most likely
    stands for ("Who described Halvia rubra?" "... the naturalist Ilse Korrin." "And which observatory
    did she found?" searches for "Ilse Korrin And which ..."). Without such names, the last answer
    goes in front. A question that names its own subject changes the topic and is searched alone."""
    if not history:
        return question
    words = re.findall(r"[a-z]+", question.lower())
    if not words or not (words[0] == "and" or _REFERRING.intersection(words)):
        return question
    last = history[-1]
    asked = set(re.findall(r"[a-z]+", last.question.lower())) | _REFERRING | _OPENERS
    names = [w for w in re.findall(r"\b[A-Z][\w'-]*", last.answer) if w.lower() not in asked]
    return f"{' '.join(dict.fromkeys(names)) or last.answer} {question}"


_COPY_PREFIX = "copy:"


def _copy_id(packet_id: bytes) -> str:
    """The passage id under which an agent offers its copy of a received finding."""
    return f"{_COPY_PREFIX}{packet_id.hex()}"


def _parse_copy_id(passage_id: str) -> bytes | None:
    if not passage_id.startswith(_COPY_PREFIX):
        return None
    try:
        packet_id = bytes.fromhex(passage_id[len(_COPY_PREFIX) :])
    except ValueError:
        return None
    return packet_id if len(packet_id) == ID_BYTES else None


def evidence_of(c: Candidate) -> Evidence:
    """A context passage as answers cite it; only a whole text counts its source."""
    source = c.key if c.packet_id is None else f"packet:{c.packet_id.hex()}"
    return Evidence(c.text or "", source, c.score, c.packet_id, c.origin, (c.key,) if c.whole else ())


def _packet_evidence(packet: OutcomePacket, score: float) -> Evidence:
    return Evidence(
        packet.finding,
        f"packet:{packet.id.hex()}",
        score,
        packet.id,
        packet.origin,
        tuple(source_refs(packet.evidence)),
    )


def _own_evidence(hit: MemoryHit) -> Evidence:
    source = str(hit.metadata.get("source", ""))
    return Evidence(hit.text, source, hit.score, refs=(source,))


_PREFIXES = ("the answer is:", "answer:", "a:")


class StreamCleaner:
    """:func:`_clean` applied to a stream: ``feed`` raw pieces, get back the cleaned text's new part.
    The pieces given out add up to exactly ``_clean`` of everything fed."""

    _HOLD = max(len(p) for p in _PREFIXES)

    def __init__(self) -> None:
        self._raw = ""
        self.text = ""
        """What has been given out so far."""
        self._done = False

    def feed(self, piece: str) -> str:
        if self._done:
            return ""
        self._raw += piece
        line_ended = "\n" in self._raw.lstrip()
        if not line_ended and len(self._raw.strip()) < self._HOLD:
            return ""  # a prefix to strip may still be arriving
        self._done = line_ended
        return self._advance(_clean(self._raw))

    def finish(self) -> str:
        """The rest, once the stream has ended."""
        if self._done:
            return ""
        self._done = True
        return self._advance(_clean(self._raw))

    def _advance(self, cleaned: str) -> str:
        if not cleaned.startswith(self.text):  # cannot happen: cleaning only trims a growing line's end
            return ""
        new, self.text = cleaned[len(self.text) :], cleaned
        return new


def _clean(text: str) -> str:
    """The first line of an answer, without a leading "Answer:" that small models like to add."""
    first = next((line.strip() for line in text.strip().splitlines() if line.strip()), "")
    for prefix in _PREFIXES:
        if first.lower().startswith(prefix):
            first = first[len(prefix) :].strip()
    return first
