"""Relays: what an agent with nothing to offer does with a query, for the authors of what it received.

Every finding names where its author answers (a holder ref, :mod:`synthswarm.agents._specialist.sharing`).
An agent that holds no passage for a query, but has received findings that match it, relays the query
to their authors (best first, at most ``asking.relays`` tried, ttl 1) until one promises the asker a
reply. An author that cannot be reached (dead, say) is spoken for: the agent offers its own whole
copies of that author's matching findings, under copy ids it then serves the texts of.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from synthswarm.agents._specialist.core import AgentCore
from synthswarm.agents._specialist.knowledge import Knowledge
from synthswarm.agents.sources import passage_source, scored_inbox
from synthswarm.swarm.dht import Contact
from synthswarm.swarm.direct import Offer, parse_holder_ref
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.identity import ID_BYTES
from synthswarm.swarm.packet import OutcomePacket, PacketKind

__all__ = ["copy_id", "parse_copy_id", "relay"]

_COPY_PREFIX = "copy:"


async def relay(
    agent: AgentCore,
    knowledge: Knowledge,
    query: OutcomePacket,
    vector: npt.NDArray[np.float32],
    floor: float,
) -> tuple[bool, tuple[Offer, ...]]:
    """Relay ``query`` to the authors of the received findings that match it above ``floor``, until
    one promises the asker a reply: (whether one did, and the copies the agent may offer for the
    authors it could not reach, when none did)."""
    tries, node = agent.settings.asking.relays, agent.node
    if tries == 0 or node is None:
        return False, ()
    authors, copies = await _authors(agent, knowledge, query, vector, floor, node.contact)
    host = NodeHost.on(node)
    stranded: list[Offer] = []
    for author, where in list(authors.items())[:tries]:
        agent.stats.relays_sent += 1
        promised = await host.relay(where, author, query)
        if promised:
            return True, ()
        if promised is None:
            stranded += copies.get(author, [])
    return False, tuple(stranded)


async def _authors(
    agent: AgentCore,
    knowledge: Knowledge,
    query: OutcomePacket,
    vector: npt.NDArray[np.float32],
    floor: float,
    here: Contact,
) -> tuple[dict[bytes, Contact], dict[bytes, list[Offer]]]:
    """The authors of received findings that match ``query`` above ``floor``, best first, each with
    where it answers (not ``here``, the agent's own node) and the agent's whole copies of its findings."""
    index, budget = await knowledge.passages(), agent.settings.asking.budget
    scored = [
        (packet, score)
        for packet, score in await scored_inbox(agent.memory, index, query.finding, vector, budget)
        if packet.kind is PacketKind.FINDING and packet.origin not in (agent.agent_id, query.origin)
    ]
    authors: dict[bytes, Contact] = {}
    copies: dict[bytes, list[Offer]] = {}
    for packet, score in sorted(scored, key=lambda pair: -pair[1]):
        where = parse_holder_ref(packet.evidence)
        if where is None or where == here:
            continue
        if score < agent.settings.relevance or score <= floor:
            continue
        authors.setdefault(packet.origin, where)
        source = passage_source(packet)
        if source is not None and not packet.finding.endswith("…"):  # a whole copy of one passage
            copies.setdefault(packet.origin, []).append(Offer(copy_id(packet.id), source, "", score))
    return authors, copies


def copy_id(packet_id: bytes) -> str:
    """The passage id under which an agent offers its copy of a received finding."""
    return f"{_COPY_PREFIX}{packet_id.hex()}"


def parse_copy_id(passage_id: str) -> bytes | None:
    if not passage_id.startswith(_COPY_PREFIX):
        return None
    try:
        packet_id = bytes.fromhex(passage_id[len(_COPY_PREFIX) :])
    except ValueError:
        return None
    return packet_id if len(packet_id) == ID_BYTES else None
