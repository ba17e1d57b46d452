"""Queries: how an agent answers another agent's query packet, and serves the texts it offered.

A query names the asker's node (a reply ref) and, when the asker's context is full already, the
score an offer must beat (a floor ref). The agent offers the passages that match above both that floor
and its ``relevance``, straight to the asker's node (:mod:`synthswarm.swarm.direct`), and beside them
the synthesis it holds that leads on from them, as a path the asker may follow (never as evidence);
with none, it relays the query to the author of a matching finding, or offers its copies of that
author's findings (:mod:`synthswarm.agents._specialist.relays`). The asker then fetches the texts it
wants by passage id.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from synthswarm.agents._specialist.core import AgentCore
from synthswarm.agents._specialist.knowledge import Knowledge
from synthswarm.agents._specialist.relays import parse_copy_id, relay
from synthswarm.agents.retrieval import PassageIndex
from synthswarm.agents.sources import CLAIM_KEY, scored_inbox
from synthswarm.swarm.direct import Offer, Reply, parse_floor_ref, parse_reply_ref, passage_paths, source_refs
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.packet import OutcomePacket, PacketKind

__all__ = ["CLAIM_POOL", "Queries"]

CLAIM_POOL = 8
"""How many of the syntheses it holds nearest a query an agent considers offering."""


class Queries:
    """How ``agent``, holding ``knowledge``, answers the queries that reach it."""

    def __init__(self, agent: AgentCore, knowledge: Knowledge) -> None:
        self._agent, self._knowledge = agent, knowledge

    async def on_query(self, query: OutcomePacket, *, may_relay: bool) -> bool:
        """Reply to ``query`` with what the agent can offer; True if it will (the asker then waits for
        this reply). With nothing of its own to offer it relays the query, unless ``may_relay`` is
        False (a query relayed to it is not relayed on: ttl 1)."""
        agent = self._agent
        to = parse_reply_ref(query.evidence)
        if to is None or agent.node is None:
            return False
        vector = query.embedding.to_array()
        floor = parse_floor_ref(query.evidence)
        offers = await self._offers(query, vector, floor)
        if not offers and may_relay:
            promised, offers = await relay(agent, self._knowledge, query, vector, floor)
            if promised:
                return True  # an author will reply to the asker itself
            agent.stats.copies_offered += len(offers)
        if not offers:
            return False
        reply = NodeHost.on(agent.node).send_reply(to, Reply(query.id, agent.agent_id, offers))
        agent.spawn(reply, name="reply")
        agent.stats.replies_sent += 1
        return True

    async def _offers(
        self, query: OutcomePacket, vector: npt.NDArray[np.float32], floor: float
    ) -> tuple[Offer, ...]:
        """The agent's passages that match ``query`` above its ``relevance`` and the asker's ``floor``,
        and, when it offers any, the claims it holds that lead on from them (see :meth:`_claims`)."""
        settings = self._agent.settings
        index = await self._knowledge.passages()
        found = index.search(query.finding, vector, settings.asking.budget)
        offers = tuple(
            Offer(f.passage.id, f.passage.source, f.passage.title, f.score)
            for f in found
            if f.score >= settings.relevance and f.score > floor
        )
        return offers + await self._claims(query, vector, index, offers) if offers else offers

    async def _claims(
        self,
        query: OutcomePacket,
        vector: npt.NDArray[np.float32],
        index: PassageIndex,
        offers: Sequence[Offer],
    ) -> tuple[Offer, ...]:
        """The ``asking.syntheses`` syntheses this agent holds (made or received) that best lead on from
        the passages it ``offers``, offered as paths: their evidence refs, so the asker can fetch the
        passages they cite from their holders. Among the :data:`CLAIM_POOL` nearest the query, those
        citing an offered passage come first (the way on from what the query found is where its second
        hop hides), then the best matching; none below the agent's ``relevance``."""
        settings = self._agent.settings
        if not settings.asking.syntheses:
            return ()
        held = await scored_inbox(
            self._agent.memory, index, query.finding, vector, CLAIM_POOL, PacketKind.SYNTHESIS
        )
        offered = {o.source for o in offers}
        ranked = sorted(
            ((packet, score) for packet, score in held if score >= settings.relevance),
            key=lambda held: (not offered.intersection(source_refs(held[0].evidence)), -held[1]),
        )
        return tuple(
            Offer("", f"{CLAIM_KEY}{packet.id.hex()}", "", score, tuple(packet.evidence))
            for packet, score in ranked
            if passage_paths(packet.evidence)
        )[: settings.asking.syntheses]

    async def texts(self, passage_ids: Sequence[str]) -> dict[str, str]:
        """Texts of the passages asked for by id (what a fetch from another agent is served with): the
        agent's own passages, and the findings it offered copies of."""
        index = await self._knowledge.passages()
        out = {i: p.text for i in passage_ids if (p := index.get(i)) is not None}
        wanted = {packet_id: i for i in passage_ids if i not in out and (packet_id := parse_copy_id(i))}
        for packet in await self._agent.memory.packets(list(wanted)) if wanted else []:
            out[wanted[packet.id]] = packet.finding
        return out
