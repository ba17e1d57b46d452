"""Synthesis: combine findings into a new packet that cites them as parents.

Loops are bounded three ways: an expired parent is never used (``ttl``), a synthesis deeper than
``max_depth`` generations is never made, and the same set of parents is never synthesized twice by
one :class:`Synthesizer` (de-duplication by packet ids, remembered for the last ``remember`` sets).

Findings that contradict each other are flagged, not merged: the new finding names each conflict and
its confidence is halved. The check is a heuristic: two findings about the same thing (embeddings at
cosine >= ``conflict_similarity``) that state different numbers, or where one negates what the other
asserts.

The combined text is written by a chat model when one is given, else built extractively: each
parent's sentences in order, sentences already said dropped, cut to the packet's finding cap.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agents.llm._types import ChatMessage, ChatModel, GenerationOptions
from swarm.direct import source_refs
from swarm.errors import ConfigError, ModelError
from swarm.identity import Identity
from swarm.packet import MAX_DEPTH, MAX_EVIDENCE, OutcomePacket, PacketKind, make_packet

__all__ = ["Conflict", "SynthesisSettings", "Synthesizer", "find_conflicts", "merge_sentences"]

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
    max_parents: int = 4
    """Most packets one synthesis combines."""
    conflict_similarity: float = 0.8
    """Cosine above which two findings are taken to be about the same thing."""
    remember: int = 4096
    """How many synthesized parent sets are remembered for de-duplication."""
    max_tokens: int = 96
    """Budget for a model-written synthesis."""

    def __post_init__(self) -> None:
        if not 0 < self.max_depth <= MAX_DEPTH:
            raise ConfigError("synthesis.max_depth", f"must be 1..{MAX_DEPTH}, got {self.max_depth}")
        if self.max_parents < 2:
            raise ConfigError("synthesis.max_parents", f"must be at least 2, got {self.max_parents}")


@dataclass(frozen=True)
class Conflict:
    """Two findings that disagree, and how."""

    first: bytes
    second: bytes
    reason: str


class Synthesizer:
    """Makes synthesis packets signed by ``identity``; ``chat`` (optional) writes the combined text."""

    def __init__(
        self, identity: Identity, *, chat: ChatModel | None = None, settings: SynthesisSettings | None = None
    ) -> None:
        self.identity = identity
        self.chat = chat
        self.settings = settings or SynthesisSettings()
        self._done: OrderedDict[frozenset[bytes], None] = OrderedDict()
        self.llm_calls = 0

    async def synthesize(
        self, topic: str, parents: Sequence[OutcomePacket], *, now_ms: int | None = None
    ) -> OutcomePacket | None:
        """A packet combining ``parents``, or None when the bounds say no (fewer than two usable
        parents, too deep, or this set of parents was already synthesized)."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        usable = list({p.id: p for p in parents if not p.is_expired(now)}.values())[
            : self.settings.max_parents
        ]
        if len(usable) < 2:
            return None
        depth = max(p.depth for p in usable) + 1
        key = frozenset(p.id for p in usable)
        if depth > self.settings.max_depth or key in self._done:
            return None
        self._remember(key)
        conflicts = find_conflicts(usable, self.settings.conflict_similarity)
        text = await self._combine(topic, usable, conflicts)
        mean = np.mean([p.embedding.to_array() for p in usable], axis=0)
        confidence = float(np.mean([p.confidence for p in usable])) * (0.5 if conflicts else 1.0)
        evidence = list(dict.fromkeys(e for p in usable for e in source_refs(p.evidence)))[:MAX_EVIDENCE]
        remaining_s = min((p.expires_at_ms() - now) // 1000 for p in usable)
        return make_packet(
            self.identity,
            kind=PacketKind.SYNTHESIS,
            topic=topic,
            finding=text,
            embedding=mean / (np.linalg.norm(mean) or 1.0),
            confidence=confidence,
            parents=[p.id for p in usable],
            evidence=evidence,
            ttl_s=max(_MIN_TTL_S, int(remaining_s)),
            depth=depth,
            created_at_ms=now,
            shrink_to_fit=True,
        )

    def _remember(self, key: frozenset[bytes]) -> None:
        self._done[key] = None
        while len(self._done) > self.settings.remember:
            self._done.popitem(last=False)

    async def _combine(self, topic: str, parents: Sequence[OutcomePacket], conflicts: list[Conflict]) -> str:
        flags = " ".join(f"CONFLICT: {c.reason}." for c in conflicts)
        text = ""
        if self.chat is not None:
            text = await self._write(topic, parents)
        if not text:
            text = merge_sentences([p.finding for p in parents])
        return f"{flags} {text}".strip()

    async def _write(self, topic: str, parents: Sequence[OutcomePacket]) -> str:
        assert self.chat is not None
        facts = "\n".join(f"- {p.finding}" for p in parents)
        messages = [
            ChatMessage.system(
                "Combine the facts into one short statement. Keep every name, number and date."
            ),
            ChatMessage.user(f"Topic: {topic}\nFacts:\n{facts}"),
        ]
        self.llm_calls += 1
        try:
            result = await self.chat.complete(
                messages, options=GenerationOptions(max_tokens=self.settings.max_tokens, temperature=0.0)
            )
        except ModelError:
            return ""  # the extractive merge still gives a faithful synthesis
        return result.text.strip()


def merge_sentences(findings: Sequence[str]) -> str:
    """Every sentence of ``findings`` in order, each said once (compared case- and space-insensitively)."""
    seen: set[str] = set()
    out: list[str] = []
    for finding in findings:
        for sentence in _SENTENCE.split(finding.strip()):
            norm = " ".join(sentence.lower().split())
            if norm and norm not in seen:
                seen.add(norm)
                out.append(sentence.strip())
    return " ".join(out)


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
