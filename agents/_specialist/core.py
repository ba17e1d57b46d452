"""What every job of a specialist shares: who it is, what it runs on, and its one voice to the swarm.

:class:`AgentCore` holds the agent's name, domain and identity, its models, memory, settings and
counters, the tasks it owns, and the router and node it joined. Every packet the agent sends is signed
by :meth:`AgentCore.distill` and sent by :meth:`AgentCore.publish`, so what sending costs is counted in
one place. The specialist is a core; its jobs (the modules beside this one) see it only as one, and
read its settings when they act, so a setting changed on the agent holds for all of them at once.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from synthswarm.agents._specialist.settings import SpecialistSettings, SpecialistStats
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatModel
from synthswarm.agents.memory import AgentMemory, check_agent_name
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, PacketKind, make_packet
from synthswarm.swarm.tasks import TaskSet
from synthswarm.tools import Tool

if TYPE_CHECKING:
    from synthswarm.swarm.dht import DHTNode
    from synthswarm.swarm.routers import DeliveryReport, Router

__all__ = ["AgentCore"]


class AgentCore:
    """Who an agent is and what its jobs share (the base of
    :class:`~synthswarm.agents.specialist.Specialist`)."""

    def __init__(
        self,
        name: str,
        domain: str,
        identity: Identity,
        memory: AgentMemory,
        settings: SpecialistSettings,
        chat: ChatModel,
        embedder: Embedder,
        instructions: str,
    ) -> None:
        """The core of an agent named ``name`` (checked), given all it runs on: the public constructor
        (:class:`~synthswarm.agents.specialist.Specialist`) chooses the defaults."""
        self.name = check_agent_name(name)
        self.domain = domain
        self.identity = identity
        self.memory = memory
        self.settings = settings
        self.chat = chat
        self.embedder = embedder
        self.instructions = instructions
        self.tools: list[Tool] = []
        """What the model may call while it answers (the specialist binds its built-ins here)."""
        self.stats = SpecialistStats()
        self._router: Router | None = None
        """Where packets go out (set when the agent joins)."""
        self._node: DHTNode | None = None
        """Where replies to its queries come in (set when the agent joins)."""
        self._tasks = TaskSet(f"agent:{name}")

    @property
    def agent_id(self) -> bytes:
        return self.identity.id

    @property
    def router(self) -> Router | None:
        return self._router

    @property
    def node(self) -> DHTNode | None:
        """The DHT node the agent joined from (None before it joins)."""
        return self._node

    async def embed(self, text: str) -> npt.NDArray[np.float32]:
        vectors = await self.embedder.embed([text])
        vector: npt.NDArray[np.float32] = vectors[0]
        return vector

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
        vector = embedding if embedding is not None else await self.embed(text)
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

    async def publish(self, packet: OutcomePacket) -> DeliveryReport | None:
        """Send ``packet`` through the router (None when the agent has not joined one)."""
        if self._router is None:
            return None
        report = await self._router.publish(packet, publisher=self.agent_id)
        self.stats.published += 1
        return report

    def spawn(self, work: Coroutine[Any, Any, object], *, name: str) -> None:
        """Run a reaction to a delivered packet (a reply, a synthesis) as a task the agent owns."""
        self._tasks.spawn(work, name=name)

    @property
    def busy(self) -> bool:
        """Whether a reaction to a delivered packet (a reply, a synthesis) is still running."""
        return len(self._tasks) > 0

    async def drain(self) -> None:
        """Wait until every reaction to delivered packets has finished (replies sent, syntheses made)."""
        await self._tasks.join()

    async def aclose(self) -> None:
        await self._tasks.close()
