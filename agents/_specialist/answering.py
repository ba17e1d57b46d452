"""Answering: an agent's answer to a task, and the context it is built on.

:func:`gather` finds the context with :func:`synthswarm.agents.asking.ask` over the agent's
:class:`~synthswarm.agents.sources.AgentSources` (its passages, its inbox and, when it asks the swarm,
other agents' offers); :func:`answer` then has the model write the answer from it
(:mod:`synthswarm.agents._specialist.generation`) and publishes it as a finding that cites the
passages it stands on and where each is held (source and path refs), never other packets: whoever
receives it follows it to those passages (:func:`synthswarm.agents.asking.ask`) and never uses the
answer itself as evidence. Everything the answer
drew on, tool calls included, is collected in one trace
(:mod:`synthswarm.agents._specialist.evidence`) and carried by the :class:`Answer`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthswarm.agents._specialist.core import AgentCore
from synthswarm.agents._specialist.evidence import Evidence, Trace, current_trace, evidence_of, tracing
from synthswarm.agents._specialist.follow_ups import HISTORY_TURNS, Turn, follow_up_query
from synthswarm.agents._specialist.generation import generate
from synthswarm.agents._specialist.knowledge import Knowledge
from synthswarm.agents.answers import contains_answer
from synthswarm.agents.approval import Approver
from synthswarm.agents.asking import Holder, ask
from synthswarm.agents.sources import AgentSources
from synthswarm.swarm.direct import CLAIM_REF, path_evidence, path_ref
from synthswarm.swarm.errors import SwarmError
from synthswarm.swarm.packet import MAX_EVIDENCE
from synthswarm.swarm.telemetry import GEN_AI_OPERATION_NAME, span

__all__ = ["Answer", "Context", "answer", "answer_refs", "ask_swarm", "gather"]


@dataclass(frozen=True)
class Answer:
    agent: str
    task: str
    text: str
    evidence: tuple[Evidence, ...]
    packets: tuple[bytes, ...]
    """Ids of the received packets the answer used."""
    origins: tuple[bytes, ...]
    """Agents whose packets the answer used (not this agent)."""
    llm_calls: int = 0
    tokens: int = 0
    messages: int = 0
    """Routing requests this answer cost (its query and its shared finding)."""
    shared: bytes | None = None
    """Id of the finding packet the answer was published as."""
    cited: tuple[str, ...] = ()
    """Sources (``packet:<id>`` for packets) of the evidence the answer is found in, best first:
    where a short answer was copied from."""


@dataclass(frozen=True)
class Context:
    """What :func:`gather` found, and what finding it cost."""

    evidence: tuple[Evidence, ...]
    messages: int
    """Requests the asker's node sent for it (routing its queries, fetching texts) and replies it got."""
    hops: int
    """Longest rendezvous path of its queries."""
    rounds: int = 0
    """Search rounds it took (:func:`synthswarm.agents.asking.ask`)."""


async def answer(
    agent: AgentCore,
    knowledge: Knowledge,
    task: str,
    *,
    ask_swarm: bool | None,
    on_token: Callable[[str], None] | None,
    history: Sequence[Turn],
    approve: Approver | None,
) -> Answer:
    """``agent``'s answer to ``task`` (see :meth:`synthswarm.agents.specialist.Specialist.answer`)."""
    # The agent span of the GenAI conventions: the asking rounds, the swarm's replies and the
    # model calls of this answer are its children, in this process and in the ones it asks.
    attributes = {
        GEN_AI_OPERATION_NAME: "invoke_agent",
        "gen_ai.agent.name": agent.name,
        "gen_ai.agent.id": agent.agent_id.hex(),
    }
    with span(f"invoke_agent {agent.name}", attributes=attributes) as current:
        search = follow_up_query(task, history)
        with tracing() as trace:
            vector = await agent.embed(search)
            context = await _gather(agent, knowledge, search, vector, _asks(agent, ask_swarm))
            earlier = history[-HISTORY_TURNS:] if search != task else ()
            written = await generate(agent, task, context, on_token, earlier, search, approve)
        made = await _finish(agent, task, written, trace, vector)
        current.set_attributes({"synthswarm.llm_calls": made.llm_calls, "synthswarm.tokens": made.tokens})
        return made


async def _finish(
    agent: AgentCore,
    task: str,
    written: tuple[str, int, int],
    trace: Trace,
    vector: npt.NDArray[np.float32],
) -> Answer:
    """The answer the model ``written`` (text, calls, tokens) with what it drew on, shared as a finding
    when the settings say so, its model calls counted."""
    text, calls, tokens = written
    evidence = tuple(sorted(trace.evidence.values(), key=lambda e: -e.score))
    packets = tuple(dict.fromkeys(e.packet_id for e in evidence if e.packet_id))
    origins = tuple(dict.fromkeys(e.origin for e in evidence if e.origin and e.origin != agent.agent_id))
    shared, cost = await _share(agent, task, text, evidence, packets, vector)
    agent.stats.llm_calls += calls
    agent.stats.tokens += tokens
    cited = tuple(dict.fromkeys(e.source for e in evidence if text and contains_answer(e.text, text)))
    messages = trace.messages + cost
    return Answer(agent.name, task, text, evidence, packets, origins, calls, tokens, messages, shared, cited)


async def _share(
    agent: AgentCore,
    task: str,
    text: str,
    evidence: Sequence[Evidence],
    parents: Sequence[bytes],
    vector: npt.NDArray[np.float32],
) -> tuple[bytes | None, int]:
    """Publish the answer ``text`` to ``task`` as a finding (not an empty answer, nor when the
    settings say not to): the finding's id, and the routing requests it cost. It cites the whole
    passages it drew on, best first, each with where it is held (:func:`answer_refs`)."""
    if not (agent.settings.share_answers and text and agent.router is not None):
        return None, 0
    refs = answer_refs(evidence)
    packet = await agent.distill(f"{task} {text}", parents=parents[:8], evidence=refs, embedding=vector)
    report = await agent.publish(packet)
    return packet.id, report.messages if report else 0


def answer_refs(evidence: Sequence[Evidence]) -> list[str]:
    """The evidence refs of a shared answer: marked a claim (:data:`~synthswarm.swarm.direct.CLAIM_REF`),
    then each whole passage's source ref followed by its path ref, best first, as many pairs as a packet
    holds. Packets it drew on are named as parents, not refs."""
    located = [
        [e.source] + ([ref] if (ref := path_ref(e.path.agent_id, e.path.contact, e.path.passage_id)) else [])
        for e in evidence
        if e.refs and e.path is not None
    ]
    return [CLAIM_REF, *path_evidence(located, MAX_EVIDENCE - 1)]


async def gather(agent: AgentCore, knowledge: Knowledge, task: str, *, ask_swarm: bool | None) -> Context:
    """What an answer to ``task`` would be built on, without calling the model."""
    with tracing() as trace:
        context = await _gather(agent, knowledge, task, await agent.embed(task), _asks(agent, ask_swarm))
    return Context(tuple(context), trace.messages, trace.hops, trace.rounds)


async def ask_swarm(agent: AgentCore, knowledge: Knowledge, question: str) -> list[str]:
    """The ``ask_swarm`` tool: the texts of the best passages the swarm and the agent hold."""
    if agent.router is None:
        raise SwarmError(f"agent {agent.name!r} has not joined a router, so it cannot ask the swarm")
    vector = await agent.embed(question)
    return [e.text for e in await _gather(agent, knowledge, question, vector, ask_swarm=True)]


def _asks(agent: AgentCore, ask_swarm: bool | None) -> bool:
    return agent.settings.ask_swarm if ask_swarm is None else ask_swarm


async def _gather(
    agent: AgentCore, knowledge: Knowledge, task: str, vector: npt.NDArray[np.float32], ask_swarm: bool
) -> list[Evidence]:
    """The context of ``task``, added to the open trace with what finding it cost."""
    trace = current_trace()
    assert trace is not None
    sources = AgentSources(agent, await knowledge.passages(), swarm=ask_swarm and agent.router is not None)
    try:
        result = await ask(task, vector, sources, agent.embed, agent.settings.asking)
    finally:
        agent.stats.failed_queries += sources.failed
    trace.messages += sources.messages
    trace.hops = max(trace.hops, sources.hops)
    trace.rounds = max(trace.rounds, result.rounds)
    here = Holder(agent.agent_id, agent.node.contact) if agent.node is not None else None
    context = [evidence_of(c, here) for c in result.context]
    for item in context:
        trace.add(item)
    return context
