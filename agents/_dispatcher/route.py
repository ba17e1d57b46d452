"""The ``route`` node: the specialists best placed for the question, and the fan-out that asks each.

Specialists are ranked by their best passage for the question (:func:`synthswarm.agents.asking.best_holders`,
the eval's rule too), optionally re-ranked by a chat model, and the best ``fan_out`` kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.types import Overwrite, Send

from synthswarm.agents._dispatcher.events import EVENT_ROUTE
from synthswarm.agents._dispatcher.state import NODE_CONSULT, TRACE_KEY, ConsultTask, DispatcherState
from synthswarm.agents._dispatcher.step import Step
from synthswarm.agents._dispatcher.team import Team
from synthswarm.agents._dispatcher.turns import turns_in
from synthswarm.agents.asking import best_holders
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatMessage, ChatModel, GenerationOptions
from synthswarm.agents.specialist import follow_up_query
from synthswarm.swarm.errors import ModelError, SwarmError
from synthswarm.swarm.telemetry import traceparent

__all__ = ["Route", "branches"]


@dataclass(frozen=True)
class Route:
    """The ``route`` node: ``fan_out`` specialists of ``team`` for the question (those scoring below
    ``min_score`` are skipped, but at least one is always chosen); ``rerank`` asks ``chat`` too."""

    team: Team
    embedder: Embedder
    chat: ChatModel | None
    fan_out: int
    min_score: float
    rerank: bool

    async def __call__(self, state: DispatcherState, step: Step) -> dict[str, Any]:
        messages = state.get("messages") or []
        question = next((str(m.content) for m in reversed(messages) if m.type == "human"), "").strip()
        if not question:
            raise SwarmError('the dispatcher needs a user message: {"messages": [("user", "...")]}')
        history = turns_in(messages)
        search = follow_up_query(question, history)
        vector = (await self.embedder.embed([search]))[0]
        specialists = list(self.team.by_name.values())
        if not specialists:
            raise SwarmError("the swarm has no specialists left to ask")
        scored = [
            (score, specialists[i].name) for i, score in await best_holders(search, vector, specialists)
        ]
        if self.rerank:
            scored = await self._rerank(question, scored)
        chosen = [{"name": n, "score": round(sc, 4)} for sc, n in scored if sc >= self.min_score][
            : self.fan_out
        ]
        chosen = chosen or [{"name": scored[0][1], "score": round(scored[0][0], 4)}]
        step.emit({"type": EVENT_ROUTE, "question": question, "specialists": chosen})
        calls = 1 if self.rerank else 0
        return {
            "question": question,
            "history": [[t.question, t.answer] for t in history],
            "chosen": chosen,
            "answers": Overwrite([]),
            "dispatcher_llm_calls": calls,
            TRACE_KEY: traceparent(),
        }

    async def _rerank(self, question: str, scored: list[tuple[float, str]]) -> list[tuple[float, str]]:
        assert self.chat is not None
        listing = "\n".join(f"- {n}: {self.team.by_name[n].domain}" for _, n in scored)
        messages = [
            ChatMessage.system(
                "Pick the specialists best placed to answer. Reply with their names, best first."
            ),
            ChatMessage.user(f"Question: {question}\nSpecialists:\n{listing}"),
        ]
        try:
            reply = (
                await self.chat.complete(messages, options=GenerationOptions(max_tokens=32))
            ).text.lower()
        except ModelError:
            return scored
        mentioned = sorted((reply.find(n.lower()), sc, n) for sc, n in scored if n.lower() in reply)
        picked = [(sc, n) for _, sc, n in mentioned]
        return picked + [item for item in scored if item not in picked]


def branches(state: DispatcherState) -> list[Send]:
    """One ``consult`` branch for each chosen specialist, run in parallel."""
    return [
        Send(
            NODE_CONSULT,
            ConsultTask(
                question=state["question"],
                specialist=c["name"],
                history=state.get("history", []),
                trace=state.get("trace", ""),
            ),
        )
        for c in state["chosen"]
    ]
