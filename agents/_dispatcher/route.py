"""The ``route`` node: the specialists best placed for the question, and the fan-out that asks each.

The question enters the swarm at the team's entry specialist (:attr:`Team.entry`), which routes it by
meaning through the router it joined, as the eval's ``routed`` rule does
(:func:`synthswarm.agents.entry.route`): a query packet, and scored offers replied to the entry's node.
The bidders (the entry's own best passage among them) are ranked by their best offer, optionally
re-ranked by a chat model, and the best ``fan_out`` kept. A bidder that is not one of the team's
specialists lives elsewhere (another process or host); it is consulted by a handoff to its node.

A team whose entry joined no router has no swarm to route through: its specialists are all here, and
each scores the question itself (no message is sent, so there is nothing to count)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from langgraph.types import Overwrite, Send

from synthswarm.agents._dispatcher.events import EVENT_ROUTE
from synthswarm.agents._dispatcher.state import NODE_CONSULT, TRACE_KEY, ConsultTask, DispatcherState
from synthswarm.agents._dispatcher.step import Step
from synthswarm.agents._dispatcher.team import Team
from synthswarm.agents._dispatcher.turns import turns_in
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.entry import route
from synthswarm.agents.llm import ChatMessage, ChatModel, GenerationOptions
from synthswarm.agents.specialist import follow_up_query
from synthswarm.swarm.direct import reply_ref
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
        scored, where, sent = await self._bids(search, vector)
        if self.rerank:
            scored = await self._rerank(question, scored)
        picked = [(sc, n) for sc, n in scored if sc >= self.min_score][: self.fan_out] or scored[:1]
        chosen = [{"name": n, "score": round(sc, 4), **where.get(n, {})} for sc, n in picked]
        step.emit({"type": EVENT_ROUTE, "question": question, "specialists": chosen})
        calls = 1 if self.rerank else 0
        return {
            "question": question,
            "history": [[t.question, t.answer] for t in history],
            "chosen": chosen,
            "answers": Overwrite([]),
            "dispatcher_llm_calls": calls,
            "route_messages": sent,
            TRACE_KEY: traceparent(),
        }

    async def _bids(
        self, search: str, vector: npt.NDArray[np.float32]
    ) -> tuple[list[tuple[float, str]], dict[str, dict[str, str]], int]:
        """``(score, name)`` of every bidder, best first; where each one that is not a specialist of
        the team lives (``agent_id`` and ``holder``, for a handoff); the entry step's requests."""
        here = self.team.by_name
        if not here:
            raise SwarmError("the swarm has no specialists left to ask")
        entry = self.team.entry
        if entry.node is None or entry.router is None:
            # No router, so no swarm: every specialist is here, and scores the question itself.
            scores = [(await s.best_score(search, vector), s.name) for s in here.values()]
            return sorted(scores, key=lambda item: (-item[0], item[1])), {}, 0
        choice = await route(entry, search, vector)
        local = {s.agent_id: s.name for s in here.values()}
        names = self.team.names
        scored, where = [], {}
        for bid in choice.bids:
            name = local.get(bid.agent_id)
            if name is None:
                if bid.holder is None:
                    continue
                name = names.get(bid.agent_id) or f"agent-{bid.agent_id.hex()[:12]}"
                where[name] = {"agent_id": bid.agent_id.hex(), "holder": reply_ref(bid.holder)}
            scored.append((bid.score, name))
        return scored, where, choice.messages

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
                **{k: c[k] for k in ("agent_id", "holder") if k in c},  # type: ignore[typeddict-item]
            ),
        )
        for c in state["chosen"]
    ]
