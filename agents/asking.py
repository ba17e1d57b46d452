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
   packet's finding shortened to fit) is used but its source is not counted as evidence. The best
   received syntheses (:mod:`synthswarm.agents.synthesis`) follow, ``syntheses`` of them, beside the passages.

Who answers a question is decided by the entry step, :mod:`synthswarm.agents.entry` (routed and
counted); the old free scan of every agent survives there only as the ``scan`` oracle ablation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from synthswarm.swarm.dht import Contact
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
    """Received synthesis packets added to the context beside its ``budget`` passages (the best
    matching ones). A synthesis restates what passages say, so it never takes a passage's place."""

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
    """A synthesis packet: it restates passages, so it rides beside the passages, not in their place."""
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
        self, text: str, vector: npt.NDArray[np.float32], known: Sequence[float]
    ) -> list[Candidate]:
        """Candidates for one round's query (its text and embedding). ``known`` are the scores of the
        best passages found so far (at most the budget's worth): a passage that cannot beat the
        budget-th of them cannot enter the context, so remote agents need not offer it."""
        ...

    async def fetch(self, candidates: Sequence[Candidate]) -> dict[str, str]:
        """Whole texts of remote candidates, by key; those that cannot be had are absent."""
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
    bridged: set[str] = set()
    previous: set[str] = set()
    text, query = question, vector
    rounds = 0
    while rounds < settings.rounds:
        rounds += 1
        # One span per round: the query packets, replies and fetches of the round are its children.
        with span(SPAN_ROUND, attributes={ATTR_ROUND: rounds}) as current:
            known = [c.score for c in _best(pool, settings.budget)]
            found = await sources.search(text, query, known)
            for candidate in found:
                _merge(pool, candidate)
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
    context = await _context(pool, settings.budget, sources)
    syntheses = sorted((c for c in pool.values() if c.synthesis), key=lambda c: (-c.score, c.key))
    return AskResult(tuple(context + syntheses[: settings.syntheses]), rounds)


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
    return sorted((c for c in pool.values() if not c.synthesis), key=lambda c: (-c.score, c.key))[:k]


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
