"""The ``consult`` node: one specialist asked (:meth:`~synthswarm.agents.specialist.Specialist.answer`,
which may ask the swarm), after a person approves where that is needed (:mod:`synthswarm.agents.approval`).
A specialist living elsewhere (a bidder of the route step that is not one of the team's) is asked by a
handoff from the entry's node (:func:`synthswarm.agents.entry.hand_off`): it answers there, with its
own settings and approvals, and sends its answer and context back. The thread's earlier turns stay here.

A failure is raised for LangGraph to retry while the branch's policy allows, and then reported as an
``EVENT_FAILED`` event and a record without text, so the turn goes on with the others."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from langgraph.errors import GraphBubbleUp
from langgraph.types import RetryPolicy

from synthswarm.agents._dispatcher.events import (
    EVENT_ANSWER,
    EVENT_DENIED,
    EVENT_FAILED,
    EVENT_RETRY,
    EVENT_TOKEN,
)
from synthswarm.agents._dispatcher.retry import retries
from synthswarm.agents._dispatcher.state import ConsultTask, answer_record, evidence_record, unanswered
from synthswarm.agents._dispatcher.step import Step
from synthswarm.agents._dispatcher.team import Team
from synthswarm.agents.approval import KIND_SPECIALIST, ApprovalRequest, Decision
from synthswarm.agents.entry import hand_off
from synthswarm.agents.specialist import Turn
from synthswarm.swarm.direct import parse_reply_ref
from synthswarm.swarm.errors import SwarmError

__all__ = ["Consult"]

_log = logging.getLogger("synthswarm.agents.dispatcher")  # the logger the dispatcher has always used


@dataclass(frozen=True)
class Consult:
    """The ``consult`` node over ``team``; ``ask_swarm`` overrides each specialist's own setting, and
    ``retry`` is the branch's policy (what it retries is raised, the rest reported)."""

    team: Team
    ask_swarm: bool | None
    retry: RetryPolicy | None
    handoff_timeout_s: float = 120.0
    """Longest wait for the answer of a specialist living elsewhere (it may run a model)."""

    async def __call__(self, task: ConsultTask, step: Step) -> dict[str, Any]:
        name = task["specialist"]
        denied: list[dict[str, Any]] = []

        def token(text: str) -> None:
            step.emit({"type": EVENT_TOKEN, "agent": name, "text": text})

        def decide(request: ApprovalRequest) -> Decision:
            decision = Decision.of(step.ask(request.as_data()))
            if not decision.approved:
                denial = {
                    "agent": name,
                    "kind": request.kind,
                    "tool": request.tool,
                    "reason": decision.reason,
                }
                denied.append(denial)
                step.emit({"type": EVENT_DENIED, **denial})
            return decision

        async def approve(request: ApprovalRequest) -> Decision:
            return decide(request)

        try:
            specialist = self.team.by_name.get(name)
            if specialist is None and "holder" in task:
                record = await self._elsewhere(task)
                step.emit({"type": EVENT_ANSWER, **record})
                return {"answers": [record]}
            if specialist is None:
                raise SwarmError(f"specialist {name!r} left the swarm before it was asked")
            request = ApprovalRequest(KIND_SPECIALIST, name, task["question"])
            if specialist.needs_approval and not decide(request).approved:
                return {"answers": [unanswered(name, denied=denied)]}
            answer = await specialist.answer(
                task["question"],
                ask_swarm=self.ask_swarm,
                on_token=token,
                history=[Turn(question, reply) for question, reply in task["history"]],
                approve=approve,
            )
        except GraphBubbleUp:
            raise  # an interrupt for approval: the thread waits for a decision
        except Exception as exc:  # one branch's failure, whatever it is, must not end the turn
            return self._failed(name, exc, step, denied)
        record = {**answer_record(answer, self.team.names), "denied": denied}
        step.emit({"type": EVENT_ANSWER, **record})
        return {"answers": [record]}

    async def _elsewhere(self, task: ConsultTask) -> dict[str, Any]:
        """The answer of a specialist in another process or host, handed the question from the entry."""
        holder = parse_reply_ref([task.get("holder", "")])
        if holder is None:
            raise SwarmError(f"specialist {task['specialist']!r}: its node is unreadable")
        handed = await hand_off(
            self.team.entry, holder, bytes.fromhex(task.get("agent_id", "")), task["question"],
            answer=True, timeout_s=self.handoff_timeout_s,
        )  # fmt: skip
        return {
            "agent": task["specialist"],
            "text": handed.text,
            **evidence_record(handed.evidence, self.team.names),
            "cited": [],
            "llm_calls": 0,  # made at the other host, and counted there
            "tokens": 0,
            "messages": handed.messages + 2,  # its own asking, and the handoff there and back
            "denied": [],
        }

    def _failed(self, name: str, exc: Exception, step: Step, denied: list[dict[str, Any]]) -> dict[str, Any]:
        """Raise ``exc`` again where the policy retries it; else report it, as this branch's answer."""
        error = f"{type(exc).__name__}: {exc}"
        if retries(self.retry, exc, step.attempt):
            step.emit({"type": EVENT_RETRY, "agent": name, "attempt": step.attempt, "error": error})
            raise exc
        _log.warning("specialist %s failed after %d attempt(s): %s", name, step.attempt, error)
        step.emit({"type": EVENT_FAILED, "agent": name, "attempts": step.attempt, "error": error})
        failure = {"error": error, "attempts": step.attempt}
        return {"answers": [unanswered(name, failed=failure, denied=denied)]}
