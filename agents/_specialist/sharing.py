"""Sharing: an agent's documents as the finding packets it publishes, each once.

Each finding names the document's source ref and, once the agent has joined, where its author answers
(a holder ref): whoever receives it can relay a query there (:mod:`synthswarm.agents._specialist.relays`).
It then also names where the passage itself can be fetched (a path ref, last, so a packet too full for
it drops it before anything else): a synthesis of the finding carries that path on, and an asker
that finds the synthesis relevant fetches the passage from here (:func:`synthswarm.agents.asking.ask`).
The agent keeps its own findings; linking combines received packets with them
(:mod:`synthswarm.agents._specialist.linking`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synthswarm.agents._specialist.core import AgentCore
from synthswarm.swarm.dht import Contact
from synthswarm.swarm.direct import holder_ref, path_ref
from synthswarm.swarm.errors import SwarmError
from synthswarm.swarm.packet import OutcomePacket

if TYPE_CHECKING:
    from synthswarm.swarm.routers import DeliveryReport

__all__ = ["Sharing"]


class Sharing:
    """The findings ``agent`` distilled from its own knowledge."""

    def __init__(self, agent: AgentCore) -> None:
        self._agent = agent
        self.findings: dict[str, OutcomePacket] = {}
        """This agent's published findings, by the source of the passage each stands for."""

    async def share(self) -> list[DeliveryReport]:
        """Distill each document not shared before into a finding packet and publish it."""
        agent = self._agent
        if agent.router is None:
            raise SwarmError(f"agent {agent.name!r} has not joined a router, so it cannot share")
        reports = []
        hits = await agent.memory.unshared_knowledge()
        node = agent.node
        for hit in hits:
            source = str(hit.metadata.get("source", ""))
            where = [] if node is None else _where(agent.agent_id, node.contact, hit.id)
            evidence = [source, *(ref for ref in where if ref is not None)]
            packet = await agent.distill(hit.text, topic=agent.domain, evidence=evidence)
            report = await agent.publish(packet)
            if report is not None:
                reports.append(report)
            self.findings[source or packet.id.hex()] = packet
        await agent.memory.mark_shared(hits)
        return reports

    def own(self, packet_id: bytes) -> OutcomePacket | None:
        """The finding ``packet_id`` if this agent distilled it from its own knowledge."""
        return next((p for p in self.findings.values() if p.id == packet_id), None)


def _where(agent_id: bytes, contact: Contact, passage_id: str) -> list[str | None]:
    """The refs naming where a finding's author answers, and where its passage is fetched."""
    return [holder_ref(contact), path_ref(agent_id, contact, passage_id)]
