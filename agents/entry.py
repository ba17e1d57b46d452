"""Who answers a question: the entry step, with no central look-up.

A question enters the swarm at one node, the dispatcher's or any agent's (its *entry* agent). What
happens next is named by a rule:

``entry``
    The entry agent answers it itself. Its first asking round (a query packet through the router)
    is the routed step that finds who holds what; nothing else is sent.
``routed``
    The entry agent routes the question by meaning, as asking's round one does: a query packet through
    the router, and scored offers replied straight to it (:meth:`AgentSources.query
    <synthswarm.agents.sources.AgentSources.query>`). The best bidder answers: the replier with the
    highest offer score, or the entry agent itself when its own best passage scores at least as well.
    The question reaches that agent by a handoff, a request over the node host counted at the socket
    under ``handoff`` (:meth:`~synthswarm.swarm.host.NodeHost.hand_off`); the agent gathers its
    context (and, when asked, answers) and sends it back to the entry's node. So the agent that
    answers may live in another process, or on another host.
``scan``
    The old rule: every live agent object in the process scores the question, and the one holding
    the best passage answers. It reads every agent's state, so it cannot work across processes; it
    is kept only as a named oracle ablation, its cost counted as one look-up per agent
    (:attr:`Choice.lookups`), never as messages.
``profile``
    The ablation that picks the agent whose interest profile is closest: a scan too, counted the same.

:func:`route` is the entry step of ``routed``; :func:`hand_off` sends a question to the agent it
chose, and :func:`serve_handoffs` lets an agent take handed questions over. :func:`scan` is the old
scan (the ablation).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthswarm.agents.sources import AgentSources
from synthswarm.agents.specialist import Context, Evidence, Specialist
from synthswarm.swarm._host_messages import MAX_TEXT, Handed, HandedEvidence, HandoffRequest, fit_handed
from synthswarm.swarm.dht import Contact
from synthswarm.swarm.errors import SwarmError, SynthswarmError
from synthswarm.swarm.host import HandoffFn, NodeHost

__all__ = [
    "ANSWERERS",
    "DEFAULT_ANSWERER",
    "ENTRY",
    "PROFILE",
    "ROUTED",
    "SCAN",
    "Bid",
    "Choice",
    "Handed",
    "choose",
    "context_of",
    "hand_off",
    "route",
    "scan",
    "serve_handoffs",
]

_log = logging.getLogger(__name__)

ENTRY, ROUTED, SCAN, PROFILE = "entry", "routed", "scan", "profile"
ANSWERERS = (ENTRY, ROUTED, SCAN, PROFILE)
#: The rule the eval uses unless told otherwise, chosen on the sample's TUNE part (evals/README.md,
#: "Ask"): at N=8 and 16 on dht, ``entry`` reached more gold paragraphs than ``routed`` (0.935 against
#: 0.924) for fewer requests per question (22.1 against 23.4, 27.5 against 32.5). The dispatcher,
#: which must choose among specialists, routes (:func:`route`).
DEFAULT_ANSWERER = ENTRY


@dataclass(frozen=True)
class Bid:
    """An agent's claim to answer: the score of its best passage for the question, and where it
    lives (None for the entry agent itself)."""

    agent_id: bytes
    score: float
    holder: Contact | None = None


@dataclass(frozen=True)
class Choice:
    """Who answers, and what finding them cost."""

    agent_id: bytes
    holder: Contact | None
    """The node to hand the question to; None when the entry agent (or, for a scan, a local object)
    answers."""
    bids: tuple[Bid, ...] = ()
    """Every bid the entry step heard, best first (``routed`` only)."""
    messages: int = 0
    """Requests the entry's node sent for the step and replies it got (``routed``); the socket counts
    the same."""
    lookups: int = 0
    """Agents whose state a scan read for free (``scan``, ``profile``): one look-up each."""


async def route(entry: Specialist, question: str, vector: npt.NDArray[np.float32]) -> Choice:
    """The ``routed`` entry step: ``entry`` sends the question as a query packet and the best bidder
    (its own best passage among the bids) is chosen. An entry that has joined no router has only
    its own bid."""
    own = Bid(entry.agent_id, await entry.best_score(question, vector))
    bids, messages = [own], 0
    if entry.node is not None and entry.router is not None:
        sources = AgentSources(entry, await entry.passages(), swarm=True)
        replies = await sources.query(question, vector, float("-inf"))
        messages = sources.messages
        best: dict[bytes, Bid] = {}
        for reply in replies:
            if reply.holder is None or not reply.offers or reply.responder == entry.agent_id:
                continue
            score = max(o.score for o in reply.offers)
            if reply.responder not in best or best[reply.responder].score < score:
                best[reply.responder] = Bid(reply.responder, score, reply.holder)
        bids += best.values()
    # Best first; the entry wins ties (it needs no handoff), then the lowest id, so a seed repeats.
    ranked = sorted(bids, key=lambda b: (-b.score, b.holder is not None, b.agent_id))
    top = ranked[0]
    return Choice(top.agent_id, top.holder, tuple(ranked), messages)


async def scan(
    question: str, vector: npt.NDArray[np.float32], live: Sequence[Specialist], *, profile: bool = False
) -> tuple[Specialist, Choice]:
    """The oracle ablation: every agent in ``live`` scored (its best passage, or with ``profile`` its
    closest interest row), the best chosen; one look-up counted per agent read."""
    if not live:
        raise SwarmError("there is no live agent to answer")
    if profile:
        rows = [await a.interests() for a in live]
        scores = [float(np.max(r @ vector)) for r in rows]
    else:
        scores = [await a.best_score(question, vector) for a in live]
    best = min(range(len(live)), key=lambda i: (-scores[i], i))
    return live[best], Choice(live[best].agent_id, None, lookups=len(live))


async def choose(
    rule: str,
    entry: Specialist,
    question: str,
    vector: npt.NDArray[np.float32],
    live: Sequence[Specialist] = (),
) -> Choice:
    """Who answers ``question`` entering at ``entry`` under ``rule`` (``live``: the agents a scan
    reads; only ``scan`` and ``profile`` use it)."""
    if rule == ENTRY:
        return Choice(entry.agent_id, None)
    if rule == ROUTED:
        return await route(entry, question, vector)
    if rule in (SCAN, PROFILE):
        _, choice = await scan(question, vector, live, profile=rule == PROFILE)
        return choice
    raise SwarmError(f"unknown answerer rule {rule!r}: use {', '.join(ANSWERERS)}")


async def hand_off(
    entry: Specialist, to: Contact, agent_id: bytes, question: str, *, answer: bool, timeout_s: float
) -> Handed:
    """Hand ``question`` from ``entry``'s node to the agent ``agent_id`` at ``to``; what it found (its
    context and, with ``answer``, its answer) once that arrives. Raises :class:`SwarmError` when the
    agent did not take the question, or sent nothing back within ``timeout_s``."""
    if entry.node is None:
        raise SwarmError(f"agent {entry.name!r} has not joined a node, so it cannot hand a question over")
    host = NodeHost.on(entry.node)
    request = HandoffRequest(os.urandom(16), agent_id, question, answer)
    pending = await host.hand_off(to, request)
    if pending is None:
        raise SwarmError(f"agent {agent_id.hex()[:12]} did not take the question over")
    try:
        return await asyncio.wait_for(pending, timeout_s)
    except TimeoutError as exc:
        raise SwarmError(f"agent {agent_id.hex()[:12]} sent nothing back within {timeout_s} s") from exc
    finally:
        host.forget_handoff(request.handoff_id)


def serve_handoffs(agent: Specialist) -> None:
    """Let other nodes hand questions to ``agent`` (it must have joined a node). Each is taken over as
    a task the agent owns (:meth:`~synthswarm.agents.specialist.Specialist.drain` waits for it)."""
    if agent.node is None:
        raise SwarmError(f"agent {agent.name!r} has not joined a node, so it cannot take questions over")
    host = NodeHost.on(agent.node)
    host.take_over(agent.agent_id, _taker(agent, host))


def context_of(handed: Handed) -> Context:
    """The context a handed answer carries, as :meth:`Specialist.gather` returns it."""
    evidence = tuple(
        Evidence(e.text, e.source, e.score, e.packet_id, e.origin, e.refs, e.via) for e in handed.evidence
    )
    return Context(evidence, handed.messages, handed.hops, handed.rounds)


def _taker(agent: Specialist, host: NodeHost) -> HandoffFn:
    async def take(sender: Contact, request: HandoffRequest) -> bool:
        agent.spawn(_take(agent, host, sender, request), name="handoff")
        return True

    return take


async def _take(agent: Specialist, host: NodeHost, sender: Contact, request: HandoffRequest) -> None:
    """Gather (and answer) a handed question, and send the result back to the node that handed it."""
    text, context = "", Context((), 0, 0)
    try:
        if request.answer:
            made = await agent.answer(request.question)
            text, context = made.text, Context(made.evidence, made.messages, 0)
        else:
            context = await agent.gather(request.question)
    except SynthswarmError as exc:  # the asker learns it from an empty answer, not a timeout
        _log.warning("agent %s: a handed question failed: %s", agent.name, exc)
    handed = Handed(
        request.handoff_id,
        agent.agent_id,
        text[:MAX_TEXT],
        tuple(_wire(e) for e in context.evidence),
        context.messages,
        context.hops,
        context.rounds,
    )
    await host.send_handed(sender, fit_handed(handed))


def _wire(e: Evidence) -> HandedEvidence:
    """``e`` as it travels. A text too long for the wire goes cut, and then, as for any cut text,
    its sources are not claimed (:class:`~synthswarm.agents.asking.Candidate` ``whole``)."""
    whole = len(e.text) <= MAX_TEXT
    refs = tuple(r for r in e.refs if len(r) <= MAX_TEXT)[:64] if whole else ()
    return HandedEvidence(e.text[:MAX_TEXT], e.source[:MAX_TEXT], float(e.score), e.packet_id, e.origin,
                          refs, e.via)  # fmt: skip
