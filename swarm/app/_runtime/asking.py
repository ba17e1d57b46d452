"""Asking through the dispatcher: the dispatcher graph built over a swarm's specialists, one turn at a
time on each conversation thread, answers (or approvals to wait for) read from a turn's state."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import RetryPolicy

from synthswarm.agents.approval import (
    INTERRUPTS,
    ApprovalRequired,
    Decision,
    PendingApproval,
    pending_of,
    resume_command,
)
from synthswarm.agents.dispatcher import Portal, build_dispatcher, conversation
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatModel
from synthswarm.agents.specialist import Turn
from synthswarm.swarm.app._runtime.parts import SwarmParts
from synthswarm.swarm.config import SwarmConfig

__all__ = ["Dispatching", "SwarmAnswer", "Turns", "ask", "build", "forget", "pending", "resume"]


@dataclass(frozen=True)
class SwarmAnswer:
    """The dispatcher's answer to one question, and how it was reached."""

    question: str
    text: str
    provenance: dict[str, Any]
    """``specialists`` asked, ``packets`` used (id, from, finding), ``agents_used``, ``sources``,
    ``messages`` (routing requests) and ``llm_calls``."""


class Dispatching(Protocol):
    """What asking needs of a swarm: its running dispatcher (an error when it is not running)."""

    @property
    def dispatcher(self) -> Any: ...


class Turns:
    """One lock per conversation thread in use; a lock is dropped once nobody waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(thread_id, asyncio.Lock())
        async with lock:
            yield


def build(
    parts: SwarmParts,
    *,
    config: SwarmConfig,
    embedder: Embedder,
    chat: ChatModel | None,
    checkpointer: BaseCheckpointSaver[Any] | None,
    retry: RetryPolicy | None,
    portal: Portal,
) -> Any:
    """The dispatcher graph over the specialists it may route to (those joined), naming departed ones."""
    return build_dispatcher(
        parts.routable,
        embedder=embedder,
        chat=chat,
        fan_out=config.fan_out,
        checkpointer=checkpointer,
        portal=portal,
        names=parts.departed,
        retry=retry,
    )


async def ask(
    swarm: Dispatching, turns: Turns, question: str, *, thread_id: str, earlier: Sequence[Turn]
) -> SwarmAnswer:
    """One turn: ``earlier`` turns and the question, on ``thread_id``."""
    async with turns.hold(thread_id):
        state = await swarm.dispatcher.ainvoke(
            {"messages": [*conversation(earlier), ("user", question)]}, config=_thread(thread_id)
        )
    return _answer_of(state, thread_id)


async def pending(swarm: Dispatching, thread_id: str) -> list[PendingApproval]:
    """The approvals ``thread_id`` waits for (none when it is not stopped)."""
    snapshot = await swarm.dispatcher.aget_state(_thread(thread_id))
    return pending_of(snapshot.interrupts)


async def resume(
    swarm: Dispatching, turns: Turns, thread_id: str, decision: Decision | bool | dict[str, Decision | bool]
) -> SwarmAnswer:
    """Go on with a turn stopped for approval, with these decisions."""
    async with turns.hold(thread_id):
        command = resume_command(await pending(swarm, thread_id), decision)
        state = await swarm.dispatcher.ainvoke(command, config=_thread(thread_id))
    return _answer_of(state, thread_id)


async def forget(swarm: Dispatching, thread_id: str) -> None:
    """Drop a conversation thread (its checkpoints) from the dispatcher's memory."""
    checkpointer = swarm.dispatcher.checkpointer
    if isinstance(checkpointer, BaseCheckpointSaver):
        await checkpointer.adelete_thread(thread_id)


def _thread(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def _answer_of(state: dict[str, Any], thread_id: str) -> SwarmAnswer:
    """The answer in a finished turn's state; ApprovalRequired for one stopped for approval."""
    if state.get(INTERRUPTS):
        raise ApprovalRequired(thread_id, pending_of(state[INTERRUPTS]))
    return SwarmAnswer(state["question"], state["answer"], state["provenance"])
