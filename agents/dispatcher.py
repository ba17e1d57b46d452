"""The dispatcher: a LangGraph ``StateGraph`` that takes a user's request to the right specialists.

::

    START -> route --Send--> consult (one per chosen specialist, in parallel) -> synthesize -> respond -> END

- ``route`` lets the question enter the swarm at the entry specialist (``entry``, else the first),
  which routes it by meaning through its router and ranks the bidders by their best offer
  (:func:`synthswarm.agents.entry.route`, the eval's ``routed`` rule too), optionally re-ranked by a
  chat model, and keeps the best ``fan_out``. A bidder living in another process or host is consulted
  by a handoff to its node. (Specialists that joined no router are scored where they are.)
- ``consult`` asks one specialist (:meth:`~synthswarm.agents.specialist.Specialist.answer`, which may
  ask the swarm). Each branch has its own :class:`~langgraph.types.RetryPolicy` (``retry``): a failure
  the policy retries runs the branch again; the last failure (or one it does not retry) is reported as
  a :data:`EVENT_FAILED` event and in the provenance's ``failed``, and the turn goes on with the others (when
  every one asked failed, ``synthesize`` raises :class:`~synthswarm.swarm.errors.SpecialistsFailedError`). A
  specialist or tool that needs approval interrupts the turn here (:mod:`synthswarm.agents.approval`); a
  denied step is reported as :data:`EVENT_DENIED`, in the provenance's ``denied`` and in the answer's text.
- ``synthesize`` composes one answer from the specialists' answers (a chat model when more than one
  answered, else the single answer as it is).
- ``respond`` appends the answer as an AI message whose ``response_metadata["provenance"]`` names the
  specialists asked, the packets used and the agents that sent them, and the routing cost.

Build it with :func:`build_dispatcher`, over a list of specialists or a function that gives the current
ones (a swarm whose specialists change while it runs: each turn routes among those there now, and a
chosen specialist gone by the time it is asked is reported as failed). It is compiled with a
checkpointer (an in-memory one unless given), so a conversation continues by
``config={"configurable": {"thread_id": ...}}``. ``ainvoke`` and ``astream`` work anywhere;
``invoke`` and ``stream`` work from synchronous code when the swarm runs on a background loop
(:meth:`synthswarm.swarm.app.runtime.Swarm.background`), or when nothing the agents hold is bound to
an event loop. With ``stream_mode="custom"`` the graph streams :data:`EVENT_ROUTE`, :data:`EVENT_TOKEN`,
:data:`EVENT_ANSWER`, :data:`EVENT_RETRY`, :data:`EVENT_FAILED`, :data:`EVENT_DENIED` and
:data:`EVENT_FINAL` events as dicts; :class:`AnswerStream` turns them into the answer's text as it is
written.

This module wires the graph; each node, the state and the events live in the private package
:mod:`synthswarm.agents._dispatcher` (its docstring maps it), and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import RetryPolicy

from synthswarm.agents._dispatcher.answer import Synthesize, respond
from synthswarm.agents._dispatcher.consult import Consult
from synthswarm.agents._dispatcher.events import (
    EVENT_ANSWER,
    EVENT_DENIED,
    EVENT_FAILED,
    EVENT_FINAL,
    EVENT_RETRY,
    EVENT_ROUTE,
    EVENT_TOKEN,
    AnswerStream,
)
from synthswarm.agents._dispatcher.retry import DEFAULT_RETRY
from synthswarm.agents._dispatcher.route import Route, branches
from synthswarm.agents._dispatcher.state import (
    NODE_CONSULT,
    NODE_RESPOND,
    NODE_ROUTE,
    NODE_SYNTHESIZE,
    TRACE_KEY,
    DispatcherState,
    answer_record,
)
from synthswarm.agents._dispatcher.step import Emit, Portal, node
from synthswarm.agents._dispatcher.team import Team
from synthswarm.agents._dispatcher.turns import conversation, turns_of
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatModel
from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.errors import ConfigError, SwarmError

__all__ = [
    "DEFAULT_RETRY",
    "EVENT_ANSWER",
    "EVENT_DENIED",
    "EVENT_FAILED",
    "EVENT_FINAL",
    "EVENT_RETRY",
    "EVENT_ROUTE",
    "EVENT_TOKEN",
    "NODE_CONSULT",
    "NODE_RESPOND",
    "NODE_ROUTE",
    "NODE_SYNTHESIZE",
    "TRACE_KEY",
    "AnswerStream",
    "DispatcherState",
    "Emit",
    "Portal",
    "answer_record",
    "build_dispatcher",
    "conversation",
    "turns_of",
]


def build_dispatcher(
    specialists: Sequence[Specialist] | Callable[[], Sequence[Specialist]],
    *,
    embedder: Embedder,
    chat: ChatModel | None = None,
    fan_out: int = 2,
    min_score: float = 0.0,
    rerank: bool = False,
    ask_swarm: bool | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    portal: Portal | None = None,
    names: dict[bytes, str] | None = None,
    retry: RetryPolicy | None = DEFAULT_RETRY,
    entry: str | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled dispatcher graph over ``specialists``.

    ``chat`` composes multi-specialist answers and, with ``rerank``, re-ranks the routing; without it
    the answers are joined. ``fan_out`` specialists are consulted per question (those scoring below
    ``min_score`` are skipped, but at least one is always asked). ``ask_swarm`` overrides each
    specialist's own setting. ``names`` maps agent ids of agents elsewhere to names for provenance.
    ``retry`` is each fan-out branch's retry policy (None: one try). ``entry`` names the specialist
    whose node questions enter the swarm at (None: the first there at each turn).
    """
    current = specialists if callable(specialists) else _fixed(specialists)
    if not current():
        raise SwarmError("a dispatcher needs at least one specialist")
    if fan_out < 1:
        raise ConfigError("dispatcher.fan_out", f"must be at least 1, got {fan_out}")
    if rerank and chat is None:
        raise ConfigError("dispatcher.rerank", "re-ranking needs a chat model")
    team = Team(current, {} if names is None else names, entry)  # names: the caller's own, which may grow
    graph = StateGraph(DispatcherState)
    graph.add_node(
        NODE_ROUTE, node(NODE_ROUTE, Route(team, embedder, chat, fan_out, min_score, rerank), portal)
    )
    graph.add_node(
        NODE_CONSULT, node(NODE_CONSULT, Consult(team, ask_swarm, retry), portal), retry_policy=retry
    )
    graph.add_node(NODE_SYNTHESIZE, node(NODE_SYNTHESIZE, Synthesize(chat), portal))
    graph.add_node(NODE_RESPOND, node(NODE_RESPOND, respond, portal))
    graph.add_edge(START, NODE_ROUTE)
    graph.add_conditional_edges(NODE_ROUTE, branches, [NODE_CONSULT])
    graph.add_edge(NODE_CONSULT, NODE_SYNTHESIZE)
    graph.add_edge(NODE_SYNTHESIZE, NODE_RESPOND)
    graph.add_edge(NODE_RESPOND, END)
    return graph.compile(checkpointer=checkpointer or InMemorySaver(), name="synthswarm-dispatcher")


def _fixed(specialists: Sequence[Specialist]) -> Callable[[], Sequence[Specialist]]:
    fixed = tuple(specialists)
    return lambda: fixed
