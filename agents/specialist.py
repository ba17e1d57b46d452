"""Specialist: an agent that owns a slice of knowledge, answers tasks in it, and trades findings.

- :meth:`Specialist.answer` gathers its context with :func:`synthswarm.agents.asking.ask` (its passages,
  its inbox and, when it asks the swarm, other agents' offers; :mod:`synthswarm.agents.sources`), calls
  the model, and returns an :class:`Answer` carrying the evidence and packet ids it used.
- :meth:`Specialist.distill` turns text into a signed :class:`~synthswarm.swarm.packet.OutcomePacket`;
  :meth:`Specialist.share_knowledge` distills and publishes every document it holds.
- :meth:`Specialist.on_packet` is how the router hands it packets: each is kept in the inbox; a query
  it can help with is answered straight to the asker's node with the passages it offers
  (:mod:`synthswarm.swarm.direct`); a finding that names an entity one of its own findings names is
  combined with it into a synthesis packet that states the link and cites both
  (:mod:`synthswarm.agents.synthesis`).

Its interest profile (the domain's embedding, centroids of what it knows, then one row per open task)
is what it subscribes to the router with. Answering opens no task: a task opened with
:meth:`Specialist.open_task` is for long-lived questions that want later findings, and its
subscription is counted by the router.

:class:`Specialist` is a thin composition: it is an :class:`~synthswarm.agents._specialist.core.AgentCore`
(who it is, what it runs on, its one :meth:`~Specialist.distill` and :meth:`~Specialist.publish`),
and each of its methods hands the work to a job, a private module of ``synthswarm.agents._specialist``:

==============  ==============================================================================
``knowledge``   its documents as a passage index, and the search tools over them
``interests``   the rows it subscribes with, and its open tasks
``sharing``     its documents as the findings it publishes, each once
``queries``     another agent's query: the passages it offers, and their texts when fetched
``relays``      a query it has nothing for, relayed to the author of a matching finding
``linking``     received findings combined with its own into syntheses
``answering``   an answer: its context gathered, then written by the model (``generation``),
                a follow-up searched with what it refers to (``follow_ups``), what it drew on
                collected (``evidence``)
==============  ==============================================================================

A query packet's way, from the asker to the answer: :meth:`~Specialist.answer` (or
:meth:`~Specialist.gather`) -> ``answering`` -> :mod:`synthswarm.agents.asking` (the rounds) ->
:mod:`synthswarm.agents.sources` (signs the query and publishes it with the core) -> the router ->
the other agent's :meth:`~Specialist.on_packet` (kept, counted) -> ``queries`` (offers; ``relays``
when it has none) -> its direct reply -> back in ``sources``, which fetches the texts ``asking``
keeps (served by ``queries``) -> ``answering``, where the model writes the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from synthswarm.agents._specialist import answering
from synthswarm.agents._specialist.answering import Answer, Context
from synthswarm.agents._specialist.core import AgentCore
from synthswarm.agents._specialist.evidence import Evidence, evidence_of
from synthswarm.agents._specialist.follow_ups import Turn, follow_up_query
from synthswarm.agents._specialist.generation import StreamCleaner, clean, generate
from synthswarm.agents._specialist.interests import Interests, centroids
from synthswarm.agents._specialist.knowledge import Knowledge
from synthswarm.agents._specialist.linking import Linking
from synthswarm.agents._specialist.queries import Queries
from synthswarm.agents._specialist.settings import DEFAULT_INSTRUCTIONS, SpecialistSettings, SpecialistStats
from synthswarm.agents._specialist.sharing import Sharing
from synthswarm.agents.approval import Approver
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatModel
from synthswarm.agents.memory import AgentMemory, Document
from synthswarm.agents.retrieval import PassageIndex
from synthswarm.agents.synthesis import SynthesisSettings, Synthesizer
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, PacketKind
from synthswarm.tools import AnyTool, agent_tools, as_tools

if TYPE_CHECKING:
    from synthswarm.swarm.dht import DHTNode
    from synthswarm.swarm.routers import DeliveryReport, Router

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "Answer",
    "Context",
    "Evidence",
    "Specialist",
    "SpecialistSettings",
    "SpecialistStats",
    "StreamCleaner",
    "Turn",
    "centroids",
    "evidence_of",
    "follow_up_query",
]

_clean = clean  # the answer cleaner's old name, for the tests that import it from here


class Specialist(AgentCore):
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
        super().__init__(
            name,
            domain,
            memory=memory or AgentMemory.in_memory(embedder),
            identity=identity or Identity.generate(),
            settings=settings or SpecialistSettings(),
            chat=chat,
            embedder=embedder,
            instructions=instructions,
        )
        self.tools = [*agent_tools(self), *as_tools(tools)]
        self.needs_approval = needs_approval
        self.synthesizer = Synthesizer(
            self.identity,
            chat=None if synthesize_with_llm is False else chat,
            settings=synthesis,
            embed=self.embed,
        )
        self.listeners: list[Callable[[OutcomePacket], None]] = []
        """Called with each packet this agent keeps (a live view of the swarm listens here)."""
        self._knowledge = Knowledge(self)
        self._interests = Interests(self)
        self._sharing = Sharing(self)
        self._queries = Queries(self, self._knowledge)
        self._linking = Linking(self, self.synthesizer, self._sharing)

    def __repr__(self) -> str:
        return f"Specialist({self.name!r}, domain={self.domain[:40]!r})"

    # -- knowledge -------------------------------------------------------------------------------

    async def learn(self, documents: Sequence[Document | str]) -> int:
        """Add documents to the agent's knowledge (plain strings get a ``<name>:<n>`` source ref)."""
        added = await self._knowledge.learn(documents)
        self._interests.forget_knowledge()  # recomputed at the next subscription
        return added

    async def passages(self) -> PassageIndex:
        """The agent's knowledge as a hybrid index (:mod:`synthswarm.agents.retrieval`), built on first
        use."""
        return await self._knowledge.passages()

    async def best_score(self, text: str, vector: npt.NDArray[np.float32]) -> float:
        """The score of the agent's best passage for a query (-inf when it knows nothing)."""
        return await self._knowledge.best_score(text, vector)

    async def search_knowledge(self, query: str, k: int) -> list[str]:
        return await self._knowledge.search_knowledge(query, k)

    async def search_inbox(self, query: str, k: int) -> list[str]:
        return await self._knowledge.search_inbox(query, k)

    # -- the router ------------------------------------------------------------------------------

    async def interests(self) -> npt.NDArray[np.float32]:
        """The rows the agent subscribes with: its domain description, up to ``knowledge_rows``
        centroids of what it knows, then each open task (:mod:`synthswarm.agents._specialist.interests`)."""
        return await self._interests.rows()

    async def join(self, router: Router, node: DHTNode) -> None:
        """Subscribe to ``router`` from ``node``; packets then arrive through :meth:`on_packet`."""
        self._router, self._node = router, node
        NodeHost.on(node).serve(self.agent_id, self._queries.texts, self._on_relayed)
        await router.subscribe(self.agent_id, await self.interests(), self.on_packet, node=node)

    async def leave(self) -> None:
        """Withdraw from the router (:meth:`Router.unsubscribe`): no packet reaches the agent from
        now on, and its interest rows are taken back at their rendezvous. Not joined: nothing."""
        if self.router is not None:
            await self.router.unsubscribe(self.agent_id)

    async def open_task(self, task: str, vector: npt.NDArray[np.float32] | None = None) -> bool:
        """Add ``task`` to the interest profile (re-subscribing); False if it was already open."""
        if not await self._interests.open(task, vector):
            return False
        await self._resubscribe()
        return True

    async def close_task(self, task: str) -> None:
        if self._interests.close(task):
            await self._resubscribe()

    async def _resubscribe(self) -> None:
        if self.router is not None and self.node is not None:
            await self.join(self.router, self.node)

    # -- packets ---------------------------------------------------------------------------------

    def own_packet(self, packet_id: bytes) -> OutcomePacket | None:
        """The finding packet ``packet_id`` if this agent distilled it from its own knowledge."""
        return self._sharing.own(packet_id)

    @property
    def _findings(self) -> dict[str, OutcomePacket]:
        """This agent's published findings, by the source of the passage each stands for."""
        return self._sharing.findings

    async def share_knowledge(self) -> list[DeliveryReport]:
        """Distill each document not shared before into a finding packet and publish it."""
        return await self._sharing.share()

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
            return await self._queries.on_query(packet, may_relay=not relayed)
        self._linking.received(packet)
        return False

    async def synthesize_received(self) -> int:
        """Combine every finding and synthesis received so far with this agent's own findings, where
        they connect (:func:`synthswarm.agents.synthesis.links_of`), the most specific links first, within the
        budget: what a swarm does after publishing to settle. Returns the syntheses made."""
        return await self._linking.synthesize_received()

    # -- answering -------------------------------------------------------------------------------

    async def ask_swarm(self, question: str) -> list[str]:
        """Ask the swarm (the ``ask_swarm`` tool): the texts of the best passages it and the agent hold."""
        return await answering.ask_swarm(self, self._knowledge, question)

    async def gather(self, task: str, *, ask_swarm: bool | None = None) -> Context:
        """What an answer to ``task`` would be built on, without calling the model: the best passages
        of its own, its inbox and (if ``ask_swarm``) the swarm, found by
        :func:`synthswarm.agents.asking.ask`. The eval harness scores evidence recall on this with no
        LLM at all."""
        return await answering.gather(self, self._knowledge, task, ask_swarm=ask_swarm)

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
        return await answering.answer(
            self,
            self._knowledge,
            task,
            ask_swarm=ask_swarm,
            on_token=on_token,
            history=history,
            approve=approve,
        )

    async def respond(self, task: str, context: Sequence[Evidence]) -> tuple[str, int, int]:
        """The model's answer to ``task`` from ``context`` (as :meth:`gather` returns it), with a tool
        loop where the backend supports tools: (text, model calls, tokens). The eval harness gathers
        every question's context first and then generates the answers together, so a local model
        batches them."""
        return await generate(self, task, context)
