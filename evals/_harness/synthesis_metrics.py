"""Synthesis figures that mean what they say (issue 26): what the syntheses made in a run were made of,
and which of them changed what a question's context held.

- ``synthesis_useful``: distinct pairs of gold paragraphs (the two supporting paragraphs of one
  question) that some synthesis made in the run has as its two DIRECT parents, the two paragraphs held
  by different agents. Reported beside its ceiling, ``synthesis_ceiling`` (how many such cross-agent
  gold pairs the split holds at all), and N(N-1)/2. A synthesis of a synthesis has a synthesis as a
  parent, not a paragraph, so it is never useful in this sense.
- ``synthesis_used``: the share of questions where a synthesis another agent made brought a gold
  paragraph into the final context (the passage's ``via`` names it: the asker fetched it by following
  the synthesis, and the passage was not in the pool before), or where the answer the reader chose is
  found in a passage a synthesis brought. ``synthesis_used_own`` counts the same for the answering
  agent's own syntheses, apart.
- ``synthesis_pairs``: distinct agent pairs joined by the two direct parents of a synthesis that
  brought a passage into a final context (the agents that published each parent).

The figures are pure functions of plain records (:class:`Made`, :class:`Brought`), so a test can give
them a small world whose right values are known; :func:`ledger` reads the records off a run's agents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from synthswarm.agents.answers import contains_answer
from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.direct import source_refs
from synthswarm.swarm.packet import OutcomePacket, PacketKind

__all__ = [
    "Brought",
    "Made",
    "Parent",
    "SynthesisFigures",
    "cross_agent_gold_pairs",
    "figures",
    "ledger",
    "useful_pairs",
]


@dataclass(frozen=True)
class Parent:
    """A direct parent of a synthesis: the agent that published it, and the paragraph it stands for
    when it is a plain finding (None for a synthesis or any other packet)."""

    holder: int
    source: str | None


@dataclass(frozen=True)
class Made:
    """A synthesis made during the run: the agent that made it, and its direct parents (those known)."""

    maker: int
    parents: tuple[Parent, ...]


@dataclass(frozen=True)
class Brought:
    """One passage of a question's final context that a claim led the asker to: the claim's packet id,
    the passage's source refs, and its text (to check whether the answer came from it)."""

    via: bytes
    refs: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class SynthesisFigures:
    useful: int
    ceiling: int
    used: float
    used_own: float
    pairs: int


def figures(
    made: Mapping[bytes, Made],
    gold: Sequence[tuple[str, ...]],
    brought: Sequence[Sequence[Brought]],
    answerers: Sequence[int],
    holders: Mapping[str, int],
    answers: Sequence[str] | None = None,
) -> SynthesisFigures:
    """The run's synthesis figures. ``made``: every synthesis made in the run, by packet id; ``gold``,
    ``brought``, ``answerers`` (and ``answers``, when a model answered): per question, its supporting
    paragraphs, what claims brought into its context, and the agent that answered; ``holders``: the
    agent holding each paragraph."""
    used = own = 0
    for k, question in enumerate(gold):
        answer = answers[k] if answers else None
        kinds = {_use(b, made, set(question), answerers[k], answer) for b in brought[k]}
        used += "other" in kinds
        own += "own" in kinds
    joined = {
        pair
        for passages in brought
        for b in passages
        if (m := made.get(b.via)) is not None
        for pair in combinations(sorted({p.holder for p in m.parents}), 2)
    }
    count = max(1, len(gold))
    return SynthesisFigures(
        useful=len(useful_pairs(made.values(), gold)),
        ceiling=len(cross_agent_gold_pairs(gold, holders)),
        used=round(used / count, 4),
        used_own=round(own / count, 4),
        pairs=len(joined),
    )


def _use(b: Brought, made: Mapping[bytes, Made], gold: set[str], answerer: int, answer: str | None) -> str:
    """How ``b`` counts: ``own`` or ``other`` (whose synthesis) when it brought a gold paragraph or
    the chosen answer; ``""`` when it changed neither, or the claim was no synthesis of the run."""
    m = made.get(b.via)
    if m is None:
        return ""
    changed = bool(gold.intersection(b.refs)) or bool(answer and contains_answer(b.text, answer))
    if not changed:
        return ""
    return "own" if m.maker == answerer else "other"


def useful_pairs(made: Iterable[Made], gold: Sequence[tuple[str, ...]]) -> set[frozenset[str]]:
    """The distinct gold pairs some synthesis has as its two direct parents, held by different agents."""
    wanted = {frozenset(q) for q in gold if len(set(q)) == 2}
    found: set[frozenset[str]] = set()
    for m in made:
        sources = [p.source for p in m.parents]
        if len(m.parents) != 2 or None in sources or m.parents[0].holder == m.parents[1].holder:
            continue
        pair = frozenset(s for s in sources if s is not None)
        if pair in wanted:
            found.add(pair)
    return found


def cross_agent_gold_pairs(
    gold: Sequence[tuple[str, ...]], holders: Mapping[str, int]
) -> set[frozenset[str]]:
    """The distinct gold pairs whose two paragraphs different agents hold: the ceiling of useful."""
    return {
        frozenset(q)
        for q in gold
        if len(set(q)) == 2 and all(p in holders for p in q) and holders[q[0]] != holders[q[1]]
    }


async def ledger(agents: Sequence[Specialist]) -> dict[bytes, Made]:
    """Every synthesis the ``agents`` made (each keeps its own in its inbox), with its direct parents:
    the maker's own finding, and the packet it received (a finding or a synthesis), each by the agent
    that published it."""
    index = {a.agent_id: i for i, a in enumerate(agents)}
    made: dict[bytes, Made] = {}
    for i, agent in enumerate(agents):
        syntheses = await agent.memory.received(str(PacketKind.SYNTHESIS))
        for synthesis in (p for p in syntheses if p.origin == agent.agent_id):
            received = {p.id: p for p in await agent.memory.packets(list(synthesis.parents))}
            parents = []
            for parent_id in synthesis.parents:
                parent = agent.own_packet(parent_id) or received.get(parent_id)
                if parent is not None and parent.origin in index:
                    parents.append(Parent(index[parent.origin], _paragraph(parent)))
            made[synthesis.id] = Made(i, tuple(parents))
    return made


def _paragraph(packet: OutcomePacket) -> str | None:
    """The paragraph a plain finding stands for; None for anything else."""
    sources = source_refs(packet.evidence)
    plain = packet.kind is PacketKind.FINDING and not packet.parents and len(sources) == 1
    return sources[0] if plain else None
