"""Linking: received findings combined with an agent's own where they name the same entity.

A finding or synthesis that arrives and names what one of the agent's own findings names is combined
with it into a synthesis packet that states the link and cites both
(:mod:`synthswarm.agents.synthesis`), and published. Entities come from the synthesizer's entity cache
(:mod:`synthswarm.agents.entities`: spaCy's NER, or capitalised runs where it is absent), extracted
once per packet. Entities too common to link by are left out: the agent counts, over every finding it
has seen, how many name each (a document frequency).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence

from synthswarm.agents._specialist.core import AgentCore
from synthswarm.agents._specialist.sharing import Sharing
from synthswarm.agents.sources import is_claim
from synthswarm.agents.synthesis import Link, Synthesizer, links_of
from synthswarm.swarm.packet import OutcomePacket, PacketKind

__all__ = ["COMMON_SHARE", "SYNTHESIZABLE", "Linking"]

#: Packets an agent combines with what it knows.
SYNTHESIZABLE = (PacketKind.FINDING, PacketKind.SYNTHESIS)
#: An entity named by more than one in this many of the findings an agent has seen is too common to link by.
COMMON_SHARE = 50


class Linking:
    """The syntheses ``agent`` makes of what it receives and what it shared, with ``synthesizer``."""

    def __init__(self, agent: AgentCore, synthesizer: Synthesizer, sharing: Sharing) -> None:
        self._agent, self._synthesizer, self._sharing = agent, synthesizer, sharing
        self._name_counts: Counter[str] = Counter()
        """In how many of the findings this agent has seen (its own and received) each name occurs."""
        self._subjects: Counter[str] = Counter()
        """Of how many of those findings each name is the subject (the first name the finding names)."""
        self._counted: set[bytes] = set()

    def received(self, packet: OutcomePacket) -> None:
        """A packet other than a query arrived: note it, and link it (as an owned task) if it may be."""
        self._synthesizer.seen(packet)
        if self._agent.settings.synthesize and packet.kind in SYNTHESIZABLE:
            self._agent.spawn(self.synthesize([packet]), name="synthesize")

    async def synthesize_received(self) -> int:
        """Link every finding and synthesis received so far; the syntheses made."""
        memory = self._agent.memory
        received = [p for kind in SYNTHESIZABLE for p in await memory.received(str(kind))]
        return await self.synthesize(received)

    async def synthesize(self, packets: Sequence[OutcomePacket]) -> int:
        """Link syntheses of ``packets`` with own findings, strongest links first, published; the
        number made."""
        made = 0
        own = list(self._sharing.findings.values())
        # One batch (a model runs batches faster), on a worker thread (off the event loop).
        await self._synthesizer.entities.aprime([*own, *packets])
        for (mine, link), packet in self._links(own, packets):
            made += await self._publish(mine, packet, link)
        return made

    def _links(
        self, own: Sequence[OutcomePacket], packets: Sequence[OutcomePacket]
    ) -> list[tuple[tuple[OutcomePacket, Link], OutcomePacket]]:
        """Every pair of one of ``packets`` and an own finding that connect, with the link: received
        findings' links before received syntheses', each the most specific first (:func:`_specificity`:
        through what some finding is about, then the rarest name, then the longest), so that a budget
        spent on the first goes to the links that mean the most. A received packet may link to several
        own findings. A finding that is a claim (an answer shared, or a finding with parents) is not
        linked: it restates its sources. ``own``: the agent's findings, their entities and those of
        ``packets`` already extracted."""
        names_of = self._synthesizer.entities.of
        for packet in [*own, *packets]:
            self._count_names(packet, names_of)
        if not own:
            return []
        common = self._common_names()
        counts, subjects = self._name_counts, self._subjects

        def specificity(entity: str) -> tuple[int, ...]:
            return _specificity(entity, counts, subjects)

        links = [
            ((found, link), packet)
            for packet in packets
            if packet.origin != self._agent.agent_id
            and not (packet.kind is PacketKind.FINDING and is_claim(packet))
            for found, link in links_of(
                packet, own, common=common, names_of=names_of, specificity=specificity
            )
        ]
        # Findings' links before syntheses', then the most specific; stable: ties keep arrival order.
        links.sort(key=lambda pair: (pair[1].kind is PacketKind.SYNTHESIS, specificity(pair[0][1].entity)))
        return links

    async def _publish(self, mine: OutcomePacket, theirs: OutcomePacket, link: Link) -> int:
        """Make and publish the synthesis of ``mine`` and ``theirs``; 1 if made, 0 if refused."""
        agent, synthesizer = self._agent, self._synthesizer
        refused = synthesizer.refused
        synthesis = await synthesizer.link(mine, theirs, link)
        agent.stats.syntheses_refused += synthesizer.refused - refused
        if synthesis is None:
            return 0
        agent.stats.syntheses += 1
        await agent.memory.store_packet(synthesis)
        report = await agent.publish(synthesis)
        agent.stats.synthesis_messages += report.messages if report else 0
        return 1

    def _count_names(
        self, packet: OutcomePacket, names_of: Callable[[OutcomePacket], frozenset[str]]
    ) -> None:
        if packet.kind is PacketKind.FINDING and not packet.parents and packet.id not in self._counted:
            self._counted.add(packet.id)
            named = names_of(packet)
            self._name_counts.update(named)
            subject = _subject(packet.finding, named)
            if subject is not None:
                self._subjects[subject] += 1

    def _common_names(self) -> frozenset[str]:
        """Entities in more than a fiftieth (and at least 3) of the findings this agent has seen: too
        common to link by ("England", a city every other finding mentions). The fiftieth was chosen on
        the sample's TUNE half (evals/README.md): over the corpus, it kept 34 of 46 gold pairs linked
        (a twentieth: 35) with a third fewer links between paragraphs in all."""
        floor = max(3, len(self._counted) // COMMON_SHARE)
        return frozenset(n for n, c in self._name_counts.items() if c > floor)


def _specificity(entity: str, counts: Counter[str], subjects: Counter[str]) -> tuple[int, int, int, int]:
    """How specific a link through ``entity`` is, as a sort key (smallest first): first a name that is
    the subject of some finding the agent has seen (one finding mentions what another is about: "the
    song was written by Mark Lindsay" and "Mark Lindsay is an American musician"), then in how few of
    those findings it occurs, then how many words and characters it has. Chosen on TUNE
    (evals/README.md): at N=64, of the 13 gold pairs among the agents' candidate links, the first 32 of
    each agent held 12 in this order, 8 by length alone and 9 by rarity alone."""
    return (0 if subjects[entity] else 1), counts[entity], -len(entity.split()), -len(entity)


def _subject(text: str, named: Collection[str]) -> str | None:
    """The first of ``named`` to occur in ``text`` (the longest where two start together): what the
    text is about, as a finding that opens with its topic names it first."""
    found = [(i, -len(n), n) for n in named if (i := text.find(n)) >= 0]
    return min(found)[2] if found else None
