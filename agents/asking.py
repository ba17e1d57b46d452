"""Asking as distributed multi-hop retrieval: one procedure for every agent that answers.

:func:`ask` runs rounds over a :class:`Sources` (an agent's own passages, its inbox and, when it asks
the swarm, the offers other agents reply with):

1. Round one searches with the question alone.
   Remote agents are told the score a passage must beat to enter the context (the budget-th best
   known so far), so they offer only what can matter.
2. Every later round searches with the question bridged by the best passages not yet bridged with
   (their text names the entity the question leaves out: "the director of X" -> her name), fetching
   those texts first when they are remote.
3. Everything found, in every round, goes into one pool keyed by source ref and ranked by score
   (each passage keeps its best score over the rounds' queries). Scores come from one formula at every
   agent (:mod:`synthswarm.agents.retrieval`), so they merge.
4. It stops when a round leaves the top ``budget`` of the pool unchanged, or after ``rounds``.
5. The context is the top ``budget``; texts are fetched for the remote ones among them. A passage
   whose text cannot be had is dropped and the next one takes its place; a text that arrived cut (a
   packet's finding shortened to fit) is used but its source is not counted as evidence.

A received claim (a synthesis, :mod:`synthswarm.agents.synthesis`, or another agent's shared answer)
is never a passage and never enters the context: it is a path. In every round the best matching
``syntheses`` claims not yet followed are followed to the passages they cite (their path refs,
:func:`synthswarm.swarm.direct.passage_paths`): the texts are fetched straight from their holders
(:meth:`Sources.fetch`, counted like every fetch), scored against the round's query by the formula
every passage gets (:meth:`Sources.score`), and enter the pool with ``via`` set to the claim's packet
id. A passage already in the pool is not fetched again and keeps how it was found. So a two-hop
question can be answered in one round when a synthesis links its two passages.

Who answers a question is decided by the entry step, :mod:`synthswarm.agents.entry` (routed and
counted); the old free scan of every agent survives there only as the ``scan`` oracle ablation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from synthswarm.swarm.dht import Contact
from synthswarm.swarm.direct import PassagePath
from synthswarm.swarm.errors import ConfigError
from synthswarm.swarm.telemetry import span

__all__ = ["AskResult", "AskSettings", "Candidate", "Holder", "Sources", "ask"]


@dataclass(frozen=True)
class AskSettings:
    rounds: int = 3
    """Most search rounds for one question (1: the question alone, no bridging)."""
    budget: int = 7
    """Passages in the final context (the oracle gets the same)."""
    bridges: int = 1
    """Best new passages a later round's query is bridged with."""
    relays: int = 1
    """Authors an agent with nothing to offer may relay a query to (tried in turn until one can help;
    ttl 1). 0 turns relaying off."""
    syntheses: int = 1
    """Received or offered claims (syntheses, shared answers) followed to their cited passages each
    round: those not followed yet that cite a passage in the context's top first, then the best
    matching. A claim itself never enters the context (0: none followed, and none offered)."""

    def __post_init__(self) -> None:
        for name in ("rounds", "budget", "bridges"):
            if getattr(self, name) < 1:
                raise ConfigError(f"agent.asking.{name}", f"must be at least 1, got {getattr(self, name)}")
        for name in ("relays", "syntheses"):
            if getattr(self, name) < 0:
                raise ConfigError(f"agent.asking.{name}", f"must not be negative, got {getattr(self, name)}")


@dataclass(frozen=True)
class Holder:
    """Where a remote passage can be fetched: the agent that offered it and its node."""

    agent_id: bytes
    contact: Contact


@dataclass(frozen=True)
class Candidate:
    """A passage found for a question, from any source."""

    key: str
    """Its identity across agents: the source ref of the passage (``packet:<id>`` when it has none)."""
    score: float
    title: str = ""
    text: str | None = None
    """None until fetched, for passages other agents offered."""
    whole: bool = True
    """False for a text that arrived cut; its source is then not counted as evidence."""
    passage_id: str = ""
    """The passage's id at its holder (what a fetch asks for)."""
    holder: Holder | None = None
    """Where to fetch the text; None for the asker's own passages and inbox packets."""
    packet_id: bytes | None = None
    origin: bytes | None = None
    """The agent whose passage or packet it is, when not the asker's own."""
    synthesis: bool = False
    """A claim another agent made, not a passage: a synthesis packet, or a shared answer. It never
    enters a context; :func:`ask` follows its :attr:`paths` to the passages it cites."""
    paths: tuple[PassagePath, ...] = ()
    """For a received packet: where the passages it stands on can be fetched (its path refs): for a
    claim, the passages it cites; for a finding, its own passage."""
    via: bytes | None = None
    """The id of the synthesis packet whose parents led the asker to this passage (it was fetched from
    the parent's holder because that synthesis matched); None when found any other way."""

    @property
    def ready(self) -> bool:
        """Whether its whole text is here."""
        return self.text is not None and self.whole


class Sources(Protocol):
    """What :func:`ask` searches. An agent implements it over its passages, inbox and the swarm."""

    async def search(
        self, text: str, vector: npt.NDArray[np.float32], known: Mapping[str, float]
    ) -> list[Candidate]:
        """Candidates for one round's query (its text and embedding). ``known`` are the best passages
        found so far (at most the budget's worth), their scores by key: a passage that cannot beat
        the budget-th of the distinct passages held cannot enter the context, so remote agents need
        not offer it."""
        ...

    async def fetch(self, candidates: Sequence[Candidate]) -> dict[str, str]:
        """Whole texts of remote candidates, by key; those that cannot be had are absent."""
        ...

    async def score(self, text: str, vector: npt.NDArray[np.float32], texts: Sequence[str]) -> list[float]:
        """The scores ``texts`` (passages fetched by following a claim) get for the query, by the formula
        every passage gets, so they rank with the rest."""
        ...


@dataclass(frozen=True)
class AskResult:
    context: tuple[Candidate, ...]
    """The final context, best first, every text present."""
    rounds: int


Embed = Callable[[str], Awaitable[npt.NDArray[np.float32]]]
SPAN_ROUND = "ask.round"
ATTR_ROUND, ATTR_FOUND = "synthswarm.ask.round", "synthswarm.ask.found"
ATTR_NEW = "synthswarm.ask.new_in_context"
"""Passages in the round's top ``budget`` that the previous round's top did not hold."""


async def ask(
    question: str,
    vector: npt.NDArray[np.float32],
    sources: Sources,
    embed: Embed,
    settings: AskSettings,
) -> AskResult:
    """The context for ``question`` (embedded as ``vector``): see the module docstring."""
    pool: dict[str, Candidate] = {}
    followed: set[str] = set()
    bridged: set[str] = set()
    previous: set[str] = set()
    text, query = question, vector
    rounds = 0
    while rounds < settings.rounds:
        rounds += 1
        # One span per round: the query packets, replies and fetches of the round are its children.
        with span(SPAN_ROUND, attributes={ATTR_ROUND: rounds}) as current:
            known = {c.key: c.score for c in _best(pool, settings.budget)}
            found = await sources.search(text, query, known)
            for candidate in found:
                _merge(pool, candidate)
            await _follow(pool, followed, settings, sources, (question, text, query), embed)
            top = _best(pool, settings.budget)
            keys = {c.key for c in top}
            current.set_attributes({ATTR_FOUND: len(found), ATTR_NEW: len(keys - previous)})
            if rounds > 1 and keys == previous:
                break  # this round added nothing to what a context would hold
            previous = keys
            if rounds == settings.rounds:
                break
            new = [c for c in top if c.key not in bridged][: settings.bridges]
            await _fill(pool, new, sources)
            new = [pool[c.key] for c in new if c.key in pool and pool[c.key].text]
            if not new:
                break
            bridged.update(c.key for c in new)
            text = " ".join([question, *(c.text or "" for c in new)])
            query = await embed(text)
    return AskResult(tuple(await _context(pool, settings.budget, sources)), rounds)


def _merge(pool: dict[str, Candidate], new: Candidate) -> None:
    """Keep each passage once: its best score, and whichever copy brings the most (a whole text, or a
    holder to fetch one from)."""
    old = pool.get(new.key)
    if old is None:
        pool[new.key] = new
        return
    keep = new if _worth(new) > _worth(old) else old
    pool[new.key] = replace(keep, score=max(old.score, new.score))


def _worth(c: Candidate) -> int:
    """What a copy of a passage brings: its whole text, a text, or a holder to fetch one from."""
    return 3 if c.ready else 2 if c.holder is not None else 1 if c.text is not None else 0


def _best(pool: dict[str, Candidate], k: int) -> list[Candidate]:
    """The best ``k`` passages (syntheses are not passages: see :attr:`AskSettings.syntheses`)."""
    return sorted((c for c in pool.values() if not c.synthesis), key=_rank)[:k]


async def _follow(
    pool: dict[str, Candidate],
    followed: set[str],
    settings: AskSettings,
    sources: Sources,
    round_query: tuple[str, str, npt.NDArray[np.float32]],
    embed: Embed,
) -> None:
    """Follow the best ``settings.syntheses`` claims in the pool not ``followed`` yet to the passages
    they cite that the pool lacks: fetched from their holders, scored, pooled with ``via`` set. A claim
    that cites a passage in the top ``budget`` comes before one that does not (it leads on from what
    the question found), then the best matching.

    ``round_query`` is the question, the round's query text and its vector. A fetched passage gets the
    better of two scores: for the round's query, and for the question bridged with a sibling it is
    cited beside (a passage the same claim cites) that already stands in the top ``budget``, exactly
    the query a later round would bridge with that sibling. So when a claim links a passage the
    question found to one it names only through the first ("the director of X" -> her page), the
    second scores as round two would score it, one round early."""
    question, text, vector = round_query
    top = {c.key for c in _best(pool, settings.budget)}
    claims = sorted(
        (c for c in pool.values() if c.synthesis and c.key not in followed),
        key=lambda c: (not top.intersection(p.source for p in c.paths), _rank(c)),
    )[: settings.syntheses]
    followed.update(c.key for c in claims)
    wanted: dict[str, Candidate] = {}
    siblings: dict[str, list[str]] = {}
    for claim in claims:
        cited = [path.source for path in claim.paths]
        for path in claim.paths:
            if path.source not in pool and path.source not in wanted:
                holder = Holder(path.agent_id, path.contact)
                wanted[path.source] = Candidate(
                    path.source, float("-inf"), passage_id=path.passage_id, holder=holder,
                    origin=path.agent_id, via=claim.packet_id,
                )  # fmt: skip
                siblings[path.source] = [s for s in cited if s in top and pool[s].text]
    if not wanted:
        return
    texts = await sources.fetch(list(wanted.values()))
    got = [c for c in wanted.values() if c.key in texts]
    scores = await sources.score(text, vector, [texts[c.key] for c in got]) if got else []
    best = {c.key: plain for c, plain in zip(got, scores, strict=True)}
    for sibling in dict.fromkeys(s for c in got for s in siblings[c.key]):  # each bridge embedded once
        bridged = " ".join([question, pool[sibling].text or ""])
        beside = [c for c in got if sibling in siblings[c.key]]
        again = await sources.score(bridged, await embed(bridged), [texts[c.key] for c in beside])
        for c, score in zip(beside, again, strict=True):
            best[c.key] = max(best[c.key], score)
    for c in got:
        _merge(pool, replace(c, score=best[c.key], text=texts[c.key], whole=True))


def _rank(c: Candidate) -> tuple[float, str]:
    return -c.score, c.key


async def _fill(pool: dict[str, Candidate], wanted: Sequence[Candidate], sources: Sources) -> None:
    """Fetch the whole texts of the ``wanted`` candidates that have a holder and lack one."""
    remote = [c for c in wanted if not c.ready and c.holder is not None]
    if not remote:
        return
    texts = await sources.fetch(remote)
    for c in remote:
        if c.key in texts:
            pool[c.key] = replace(c, text=texts[c.key], whole=True)
        elif c.text is None:
            del pool[c.key]  # offered, but its text cannot be had
        else:
            pool[c.key] = replace(c, holder=None)  # keep the cut text; do not ask again


async def _context(pool: dict[str, Candidate], budget: int, sources: Sources) -> list[Candidate]:
    """The best ``budget`` passages whose texts are here, fetching as needed."""
    while True:
        top = _best(pool, budget)
        missing = [c for c in top if not c.ready and c.holder is not None]
        if not missing:
            return [c for c in top if c.text]
        await _fill(pool, missing, sources)
