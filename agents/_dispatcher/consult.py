"""The ``consult`` node: one specialist asked (:meth:`~synthswarm.agents.specialist.Specialist.answer`,
which may ask the swarm), after a person approves where that is needed (:mod:`synthswarm.agents.approval`).

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
from synthswarm.agents._dispatcher.state import ConsultTask, answer_record, unanswered
from synthswarm.agents._dispatcher.step import Step
from synthswarm.agents._dispatcher.team import Team
from synthswarm.agents.approval import KIND_SPECIALIST, ApprovalRequest, Decision
from synthswarm.agents.specialist import Turn
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
