"""Evidence: what an answer was built on, and the trace that collects it while the answer is made.

One answer's trace is open for the whole of it (:func:`tracing`), so what the asking rounds find and
what the model's search tools return, however deep the call, lands in the same place
(:func:`current_trace`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field

from synthswarm.agents.asking import Candidate, Holder
from synthswarm.agents.memory import MemoryHit
from synthswarm.swarm.direct import PassagePath, source_refs
from synthswarm.swarm.packet import OutcomePacket

__all__ = ["Evidence", "Trace", "current_trace", "evidence_of", "own_evidence", "packet_evidence", "tracing"]


@dataclass(frozen=True)
class Evidence:
    """One thing an answer was built on: a passage of the agent's own, or a packet it received."""

    text: str
    source: str
    """The document's source ref, or ``packet:<id hex>``."""
    score: float
    packet_id: bytes | None = None
    origin: bytes | None = None
    """For packets: the agent that signed it."""
    refs: tuple[str, ...] = ()
    """The source refs it stands on: the document's own, or the packet's evidence refs."""
    via: bytes | None = None
    """The synthesis packet whose parents led to this passage
    (:attr:`~synthswarm.agents.asking.Candidate.via`)."""
    path: PassagePath | None = None
    """Where this passage can be fetched (its holder, node and id there): what a shared answer cites,
    so others can check it against the passage rather than take it on trust."""


@dataclass
class Trace:
    """What one answer drew on, collected across retrieval and tool calls."""

    evidence: dict[str, Evidence] = field(default_factory=dict)
    messages: int = 0
    hops: int = 0
    rounds: int = 0

    def add(self, item: Evidence) -> None:
        key = item.packet_id.hex() if item.packet_id else f"{item.source}\x00{item.text}"
        if key not in self.evidence or self.evidence[key].score < item.score:
            self.evidence[key] = item


_trace: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("synthswarm_trace", default=None)


@contextlib.contextmanager
def tracing() -> Iterator[Trace]:
    """Collect what retrieval and tool calls inside the block draw on (one answer's trace)."""
    trace = Trace()
    token = _trace.set(trace)
    try:
        yield trace
    finally:
        _trace.reset(token)


def current_trace() -> Trace | None:
    """The trace of the answer being made, if any (a tool called outside an answer has none)."""
    return _trace.get()


def evidence_of(c: Candidate, here: Holder | None = None) -> Evidence:
    """A context passage as answers cite it; only a whole text counts its source. ``here``: the asker
    itself, where its own passages can be fetched."""
    source = c.key if c.packet_id is None else f"packet:{c.packet_id.hex()}"
    refs = (c.key,) if c.whole else ()
    return Evidence(c.text or "", source, c.score, c.packet_id, c.origin, refs, c.via, _path(c, here))


def _path(c: Candidate, here: Holder | None) -> PassagePath | None:
    """Where the whole passage of ``c`` is held: the agent that offered it, the asker's own store, or
    the path a received finding names; None for a cut text or a packet that names none."""
    if not c.whole:
        return None
    holder = c.holder or (here if c.packet_id is None and c.origin is None else None)
    if holder is not None and c.passage_id:
        return PassagePath(c.key, holder.agent_id, holder.contact, c.passage_id)
    return c.paths[0] if c.paths and c.paths[0].source == c.key else None


def packet_evidence(packet: OutcomePacket, score: float) -> Evidence:
    return Evidence(
        packet.finding,
        f"packet:{packet.id.hex()}",
        score,
        packet.id,
        packet.origin,
        tuple(source_refs(packet.evidence)),
    )


def own_evidence(hit: MemoryHit) -> Evidence:
    source = str(hit.metadata.get("source", ""))
    return Evidence(hit.text, source, hit.score, refs=(source,))
