"""Synthesis: combine findings into a new packet that cites them as parents.

:meth:`Synthesizer.link` is how agents combine what they receive with what they know: two findings
*connect* when they name the same entity (:func:`find_link`: "Tomas Heller designed the Orrin Bridge"
and "Tomas Heller's Harbour Symphony premiered in Caldmoor"), and the synthesis states the connection
as one claim that neither parent states alone, names the link (its topic is ``link: <entity>``) and
cites both. With a chat model that supports structured output, the model writes the claim as JSON
(:data:`CLAIM_SCHEMA`: claim, link, parents, confidence, contradiction); otherwise, or when its reply
does not parse, the claim is the two linking sentences joined, deterministically. Findings that share
no name are never combined, so unrelated sentences are never concatenated and called a synthesis.

Loops are bounded four ways: an expired parent is never used (``ttl``), a synthesis deeper than
``max_depth`` generations is never made, the same pair of parents is never synthesized twice by one
:class:`Synthesizer`, nor after another agent's synthesis of it arrived (de-duplication by packet ids,
remembered for the last ``remember`` pairs), and one agent makes at most ``budget`` syntheses per
window (refusals are counted). The window is measured on one of two clocks: ``budget_window_s`` seconds
(the default, for live swarms), or, when ``budget_window_packets`` is set, that many packets received
(an event clock: the eval uses it, so that a slower machine makes the same syntheses for the same seed).

Entities come from :mod:`synthswarm.agents.entities` (spaCy's NER, or capitalised runs where it is
absent: ``entities``), through a cache by packet id that the agents sharing a settings object share.

Findings that contradict each other are flagged, not merged: the new finding names each conflict and
its confidence is halved. The check is a heuristic: two findings about the same thing (embeddings at
cosine >= ``conflict_similarity``) that state different numbers, or where one negates what the other
asserts; a model writing the claim can flag one too.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from synthswarm.agents.entities import ENTITY_SOURCES, PacketEntities
from synthswarm.agents.llm._types import ChatMessage, ChatModel, GenerationOptions
from synthswarm.agents.text import names, sentences
from synthswarm.swarm.direct import path_evidence, source_refs
from synthswarm.swarm.errors import ConfigError, ModelError, ModelResponseError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import (
    MAX_DEPTH,
    MAX_EVIDENCE,
    MAX_TOPIC_BYTES,
    OutcomePacket,
    PacketKind,
    make_packet,
)

__all__ = [
    "CLAIM_SCHEMA",
    "LINK_TOPIC",
    "Claim",
    "Conflict",
    "Link",
    "Specificity",
    "SynthesisSettings",
    "Synthesizer",
    "by_length",
    "find_conflicts",
    "find_link",
    "link_of",
    "links_of",
]

#: Topic prefix of a link synthesis: ``link: <entity>``.
LINK_TOPIC = "link: "

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_NEGATIONS = frozenset(
    {"not", "never", "no", "none", "neither", "nor", "isn't", "wasn't", "didn't", "doesn't"}
)
_MIN_TTL_S = 60


@dataclass(frozen=True)
class SynthesisSettings:
    max_depth: int = 3
    """Deepest generation a synthesis packet may have (a finding is 0, its synthesis 1...)."""
    conflict_similarity: float = 0.8
    """Cosine above which two findings are taken to be about the same thing."""
    remember: int = 4096
    """How many synthesized parent sets are remembered for de-duplication."""
    max_tokens: int = 96
    """Budget for a model-written synthesis."""
    budget: int = 32
    """Most syntheses one agent makes per window (more are refused and counted)."""
    budget_window_s: float = 60.0
    """The window in seconds of wall-clock time, unless ``budget_window_packets`` is set."""
    budget_window_packets: int | None = None
    """The window in packets this agent received (findings, syntheses, answers: every packet but a
    query), instead of seconds: an event clock, the same on a fast or a slow machine (the eval's)."""
    entities: str = "capitalised"
    """Where linking's entities come from: ``spacy`` (its small English pipeline's NER; capitalised runs,
    with a warning in the log, where spaCy or the model is absent) or ``capitalised``
    (:mod:`synthswarm.agents.entities`). The eval chooses ``spacy``; the default stays the rule that
    needs no model, so that an agent built without settings (a unit test, a script) loads none."""
    packet_entities: PacketEntities | None = field(default=None, compare=False, repr=False)
    """The entity cache (by packet id) of the agents given this settings object: made from ``entities``
    when not given (or made from another source), so agents built with one settings object load the
    model once and extract each packet's entities once."""

    def __post_init__(self) -> None:
        if self.budget < 0 or self.budget_window_s <= 0:
            raise ConfigError(
                "synthesis.budget",
                f"needs budget >= 0 and window > 0, got {self.budget}/{self.budget_window_s}s",
            )
        if self.budget_window_packets is not None and self.budget_window_packets < 1:
            raise ConfigError(
                "synthesis.budget_window_packets", f"must be at least 1, got {self.budget_window_packets}"
            )
        if self.entities not in ENTITY_SOURCES:
            raise ConfigError(
                "synthesis.entities", f"unknown {self.entities!r}: use {', '.join(ENTITY_SOURCES)}"
            )
        cache = self.packet_entities
        if cache is None or cache.source not in (None, self.entities):  # replace(entities=...) too
            object.__setattr__(self, "packet_entities", PacketEntities.of_source(self.entities))
        if not 0 < self.max_depth <= MAX_DEPTH:
            raise ConfigError("synthesis.max_depth", f"must be 1..{MAX_DEPTH}, got {self.max_depth}")

    @property
    def entity_cache(self) -> PacketEntities:
        """:attr:`packet_entities`, made in ``__post_init__`` when not given."""
        assert self.packet_entities is not None
        return self.packet_entities


@dataclass(frozen=True)
class Link:
    """Why two findings connect: the entity both name, and the sentence of each that names it."""

    entity: str
    first: str
    second: str

    @property
    def claim(self) -> str:
        """The deterministic claim: the two linking sentences as one statement about the entity."""
        return f"{self.first.rstrip(' .;')}; {self.second}"


@dataclass(frozen=True)
class Claim:
    """A model-written synthesis, as :data:`CLAIM_SCHEMA` asks for it."""

    claim: str
    link: str
    parents: tuple[int, ...]
    """Which of the numbered facts the claim combines (1-based)."""
    confidence: float
    contradiction: bool

    @classmethod
    def parse(cls, text: str) -> Claim:
        """The claim in a model's JSON reply; :class:`~synthswarm.swarm.errors.ModelResponseError` if it is
        not one."""
        try:
            data = json.loads(text)
            claim = cls(
                str(data["claim"]),
                str(data["link"]),
                tuple(int(i) for i in data["parents"]),
                float(data["confidence"]),
                bool(data["contradiction"]),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelResponseError(f"not a synthesis claim ({exc!r}): {text[:200]!r}") from exc
        if not isinstance(data["contradiction"], bool) or not isinstance(data["claim"], str):
            raise ModelResponseError(f"not a synthesis claim (wrong types): {text[:200]!r}")
        return claim


CLAIM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "claim": {"type": "string", "description": "One sentence that states what the facts say together."},
        "link": {"type": "string", "description": "The entity or fact that connects them."},
        "parents": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "Numbers of the facts used.",
        },
        "confidence": {"type": "number", "description": "0 to 1."},
        "contradiction": {"type": "boolean", "description": "True when the facts disagree."},
    },
    "required": ["claim", "link", "parents", "confidence", "contradiction"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Conflict:
    """Two findings that disagree, and how."""

    first: bytes
    second: bytes
    reason: str


class Synthesizer:
    """Makes synthesis packets signed by ``identity``; ``chat`` (optional) writes the combined text."""

    def __init__(
        self,
        identity: Identity,
        *,
        chat: ChatModel | None = None,
        settings: SynthesisSettings | None = None,
        embed: Callable[[str], Awaitable[npt.NDArray[np.float32]]] | None = None,
    ) -> None:
        """``embed``: how a link synthesis's claim is embedded (without it, the parents' mean)."""
        self.identity = identity
        self.chat = chat
        self.settings = settings or SynthesisSettings()
        self.embed = embed
        self._done: OrderedDict[frozenset[bytes], None] = OrderedDict()
        self._made: deque[float] = deque()
        """When each synthesis still in the budget's window was made, on the budget's clock."""
        self.llm_calls = 0
        self.refused = 0
        """Syntheses refused because the budget was spent."""
        self.packets_seen = 0
        """Packets this agent received (every one passed to :meth:`seen`): the event clock."""

    @property
    def entities(self) -> PacketEntities:
        """The entity cache linking reads packets' entities from (shared through the settings)."""
        return self.settings.entity_cache

    def seen(self, packet: OutcomePacket) -> None:
        """Note a packet that arrived: the event clock ticks, and a synthesis another agent made is
        remembered, so its parents are not combined again here."""
        self.packets_seen += 1
        if packet.kind is PacketKind.SYNTHESIS and len(packet.parents) >= 2:
            self._remember(frozenset(packet.parents))

    def _clock(self) -> tuple[float, float]:
        """The budget's clock now, and its window."""
        if self.settings.budget_window_packets is not None:
            return float(self.packets_seen), float(self.settings.budget_window_packets)
        return time.monotonic(), self.settings.budget_window_s

    def has_budget(self, now: float | None = None) -> bool:
        """Whether one more synthesis fits the budget now (``now``: on the budget's clock, seconds or
        packets seen)."""
        clock, window = self._clock()
        now = clock if now is None else now
        while self._made and self._made[0] <= now - window:
            self._made.popleft()
        return len(self._made) < self.settings.budget

    async def link(
        self, mine: OutcomePacket, theirs: OutcomePacket, link: Link, *, now_ms: int | None = None
    ) -> OutcomePacket | None:
        """A synthesis of two findings that connect through ``link`` (see :func:`link_of`), or None
        when a bound says no: a parent expired, too deep, these parents already combined, or the budget
        spent (counted in :attr:`refused`)."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        parents = [mine, theirs]
        if mine.id == theirs.id or any(p.is_expired(now) for p in parents):
            return None
        depth = max(p.depth for p in parents) + 1
        key = frozenset(p.id for p in parents)
        if depth > self.settings.max_depth or key in self._done:
            return None
        if not self.has_budget():
            self.refused += 1
            return None
        self._remember(key)
        self._made.append(self._clock()[0])
        conflicts = find_conflicts(parents, self.settings.conflict_similarity)
        confidence = min(p.confidence for p in parents)
        text, entity = link.claim, link.entity
        written = await self._write_claim(parents) if self.chat is not None else None
        if written is not None:
            text, entity = written.claim, written.link or entity
            confidence = min(confidence, max(0.0, min(1.0, written.confidence)))
            if written.contradiction and not conflicts:
                conflicts = [Conflict(mine.id, theirs.id, "the model found the facts disagree")]
        if conflicts:
            text = " ".join(f"CONFLICT: {c.reason}." for c in conflicts) + " " + text
            confidence *= 0.5
        if self.embed is not None:
            vector = await self.embed(text)
        else:
            vector = np.mean([p.embedding.to_array() for p in parents], axis=0)
        # The parents' passages and where each is held (path refs), so an asker can follow it to them.
        evidence = path_evidence([p.evidence for p in parents], MAX_EVIDENCE)
        remaining_s = min((p.expires_at_ms() - now) // 1000 for p in parents)
        return make_packet(
            self.identity,
            kind=PacketKind.SYNTHESIS,
            topic=_topic(entity),
            finding=text,
            embedding=vector / (np.linalg.norm(vector) or 1.0),
            confidence=confidence,
            parents=[p.id for p in parents],
            evidence=evidence,
            ttl_s=max(_MIN_TTL_S, int(remaining_s)),
            depth=depth,
            created_at_ms=now,
            shrink_to_fit=True,
        )

    async def _write_claim(self, parents: Sequence[OutcomePacket]) -> Claim | None:
        """The model's claim as structured output, or None (no structured output, an error, a reply
        that does not parse or cites no two of the facts): the deterministic claim is used instead."""
        assert self.chat is not None
        if not self.chat.supports_structured:
            return None
        facts = "\n".join(f"{i}. {p.finding}" for i, p in enumerate(parents, 1))
        messages = [
            ChatMessage.system(
                "State in one sentence what these facts say together that neither says alone. Keep every "
                "name, number and date. Name the entity that links them. If they disagree, say so."
            ),
            ChatMessage.user(f"Facts:\n{facts}"),
        ]
        options = GenerationOptions(
            max_tokens=self.settings.max_tokens, temperature=0.0, json_schema=CLAIM_SCHEMA
        )
        self.llm_calls += 1
        try:
            result = await self.chat.complete(messages, options=options)
            claim = Claim.parse(result.text)
        except ModelError:  # ModelResponseError included
            return None
        if not claim.claim.strip() or len({i for i in claim.parents if 1 <= i <= len(parents)}) < 2:
            return None
        return claim

    def _remember(self, key: frozenset[bytes]) -> None:
        self._done[key] = None
        while len(self._done) > self.settings.remember:
            self._done.popitem(last=False)


Specificity = Callable[[str], tuple[int, ...]]
"""A sort key for entities, most specific first."""


def by_length(entity: str) -> tuple[int, ...]:
    """The default :data:`Specificity`: most words, then most characters."""
    return -len(entity.split()), -len(entity)


def find_link(
    first: str,
    second: str,
    *,
    common: Collection[str] = (),
    names_in: tuple[Collection[str], Collection[str]] | None = None,
    specificity: Specificity = by_length,
) -> Link | None:
    """How two texts connect: the most specific entity both mention (``specificity``: by default most
    words, then longest), not one of ``common`` (entities too frequent to mean anything, a corpus's
    "England"), with the first sentence of each that names it; None when they share none, or the two
    sentences are the same. ``names_in``: the entities of each text, when already known (default: their
    capitalised runs, no lone sentence-opening word among them)."""
    if names_in is None:
        names_in = (names(first, lone_openers=False), names(second, lone_openers=False))
    mine, theirs = names_in
    shared = [n for n in set(mine) & set(theirs) if n not in common]
    for entity in sorted(shared, key=lambda n: (specificity(n), n)):
        a, b = _naming(first, entity), _naming(second, entity)
        if a and b and " ".join(a.lower().split()) != " ".join(b.lower().split()):
            return Link(entity, a, b)
    return None


def link_of(
    packet: OutcomePacket,
    own: Sequence[OutcomePacket],
    *,
    common: Collection[str] = (),
    names_of: Callable[[OutcomePacket], Collection[str]] | None = None,
    specificity: Specificity = by_length,
) -> tuple[OutcomePacket, Link] | None:
    """The own finding ``packet`` connects to best, and how: the one sharing the most specific name
    (see :func:`links_of`)."""
    found = links_of(packet, own, common=common, names_of=names_of, specificity=specificity)
    return found[0] if found else None


def links_of(
    packet: OutcomePacket,
    own: Sequence[OutcomePacket],
    *,
    common: Collection[str] = (),
    names_of: Callable[[OutcomePacket], Collection[str]] | None = None,
    specificity: Specificity = by_length,
) -> list[tuple[OutcomePacket, Link]]:
    """Every own finding ``packet`` connects to, and how (:func:`find_link`), the most specific link
    first (``specificity`` of its entity, then the own finding's order); an own finding about the same
    passage, or already a parent of ``packet``, is skipped. ``names_of`` gives a packet's entities (a
    cache, :class:`~synthswarm.agents.entities.PacketEntities`; default its finding's capitalised runs,
    no lone sentence-opening word among them)."""

    def default(p: OutcomePacket) -> Collection[str]:
        return names(p.finding, lone_openers=False)

    name = names_of or default
    sources = set(source_refs(packet.evidence))
    theirs = set(name(packet))
    found: list[tuple[tuple[int, ...], int, OutcomePacket, Link]] = []
    for i, mine in enumerate(own):
        if mine.id == packet.id or mine.id in packet.parents:
            continue  # a synthesis already holds its parents
        if sources and sources & set(source_refs(mine.evidence)):
            continue
        names_mine = name(mine)
        if not theirs.intersection(names_mine):
            continue
        link = find_link(
            mine.finding,
            packet.finding,
            common=common,
            names_in=(names_mine, theirs),
            specificity=specificity,
        )
        if link is not None:
            found.append((specificity(link.entity), i, mine, link))
    found.sort(key=lambda f: (f[0], f[1]))
    return [(mine, link) for _, _, mine, link in found]


def _naming(text: str, entity: str) -> str:
    pattern = re.compile(rf"(?<!\w){re.escape(entity)}(?!\w)")
    return next((s for s in sentences(text) if pattern.search(s)), "")


def _topic(entity: str) -> str:
    topic = LINK_TOPIC + entity
    while len(topic.encode()) > MAX_TOPIC_BYTES:
        topic = topic[:-1]
    return topic


def find_conflicts(packets: Sequence[OutcomePacket], similarity: float = 0.8) -> list[Conflict]:
    """Pairs of findings about the same thing that disagree on a number or on a negation."""
    conflicts = []
    vectors = [p.embedding.to_array() for p in packets]
    for i, a in enumerate(packets):
        for j in range(i + 1, len(packets)):
            b = packets[j]
            cosine = float(
                np.dot(vectors[i], vectors[j])
                / ((np.linalg.norm(vectors[i]) * np.linalg.norm(vectors[j])) or 1.0)
            )
            if cosine < similarity:
                continue
            reason = _disagreement(a.finding, b.finding)
            if reason:
                conflicts.append(Conflict(a.id, b.id, reason))
    return conflicts


def _disagreement(a: str, b: str) -> str:
    numbers_a, numbers_b = set(_NUMBER.findall(a)), set(_NUMBER.findall(b))
    if numbers_a and numbers_b and not (numbers_a & numbers_b):
        return f"{_clip(a)!r} vs {_clip(b)!r} (different numbers)"
    negated_a, negated_b = _negated(a), _negated(b)
    if negated_a != negated_b and _overlap(a, b) >= 0.6:
        return f"{_clip(a)!r} vs {_clip(b)!r} (one negates the other)"
    return ""


def _words(text: str) -> set[str]:
    return {w.strip(".,;:!?\"'()").lower() for w in text.split()} - {""}


def _negated(text: str) -> bool:
    return bool(_words(text) & _NEGATIONS)


def _overlap(a: str, b: str) -> float:
    wa, wb = _words(a) - _NEGATIONS, _words(b) - _NEGATIONS
    return len(wa & wb) / max(1, min(len(wa), len(wb)))


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
