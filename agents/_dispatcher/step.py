"""Running one node of the dispatcher graph: what it takes of LangGraph's context, the span it runs in,
and how it runs under ``ainvoke``/``astream`` (natively) and ``invoke``/``stream`` (through a portal)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.runnables import RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.runtime import get_runtime
from langgraph.types import interrupt

from synthswarm.agents._dispatcher.state import NODE_ROUTE, TRACE_KEY
from synthswarm.swarm.errors import SwarmError
from synthswarm.swarm.telemetry import remote_parent, span, traceparent

__all__ = ["Emit", "NodeFn", "Portal", "Step", "node"]

_T = TypeVar("_T")
#: Runs a coroutine to completion from synchronous code (on the loop the swarm lives on).
Portal = Callable[[Coroutine[Any, Any, Any]], Any]
Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Step:
    """What a node needs of LangGraph's context, taken where that context lives (see :func:`node`)."""

    emit: Emit
    attempt: int
    """1 on the first run of this step, 2 on its first retry..."""
    ask: Callable[[dict[str, Any]], Any]
    """LangGraph's ``interrupt``: raises until the thread is resumed, then returns the decision."""


#: A node's work: its input (the state, or a fan-out branch's task) and its step, to a state update.
NodeFn = Callable[[Any, Step], Coroutine[Any, Any, dict[str, Any]]]


def _step() -> Step:
    info = get_runtime().execution_info
    # Under ``invoke`` the node's coroutine runs on the swarm's loop, outside LangGraph's context, so
    # ``interrupt`` (which reads the run's config from a context variable) runs in a copy of it.
    context = contextvars.copy_context()
    return Step(
        get_stream_writer(),
        info.node_attempt if info is not None else 1,
        lambda value: context.run(interrupt, value),
    )


def node(name: str, fn: NodeFn, portal: Portal | None) -> RunnableLambda[Any, Any]:
    """The graph node ``name`` that runs ``fn`` natively under ``ainvoke``/``astream`` and through the
    portal under ``invoke``/``stream``."""

    async def afunc(state: Any) -> dict[str, Any]:
        result: dict[str, Any] = await _traced(name, fn, state, _step())
        return result

    def func(state: Any) -> dict[str, Any]:
        result: dict[str, Any] = _run_sync(_traced(name, fn, state, _step()), portal)
        return result

    return RunnableLambda(func, afunc=afunc, name=name)


async def _traced(name: str, fn: NodeFn, state: Any, step: Step) -> dict[str, Any]:
    """``fn`` in a ``dispatcher.<name>`` span. A caller's current span is its parent; without one
    (and under ``invoke``, whose portal runs steps on another thread), the turn's route step is: its
    ``traceparent`` rides in the state, so every step of a turn is one trace. Route itself starts the
    turn: the state it gets still holds the previous turn's, which is not its parent."""
    starts = name == NODE_ROUTE
    parent = "" if starts or traceparent() else state.get(TRACE_KEY, "")
    with remote_parent(parent), span(f"dispatcher.{name}"):
        return await fn(state, step)


def _run_sync(coro: Coroutine[Any, Any, _T], portal: Portal | None) -> _T:
    if portal is not None:
        result: _T = portal(coro)
        return result
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise SwarmError(
        "invoke/stream were called from inside an event loop: use ainvoke/astream, or run the swarm "
        f"with Swarm.background() (thread {threading.current_thread().name})"
    )
