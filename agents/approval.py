"""Human approval of risky steps: what the dispatcher asks, and the decision that resumes it.

A specialist (``Specialist.needs_approval``) or a tool (``@tool(needs_approval=True)``) can be marked as
needing approval. The dispatcher's ``consult`` step then asks before it acts, with LangGraph's
:func:`~langgraph.types.interrupt`: the turn stops, its state stays in the checkpointer, and the
thread waits for a :class:`Decision`, given back with ``Command(resume=...)``
(:func:`resume_command`). The payload of each interrupt is an :class:`ApprovalRequest` as plain data
(checkpointers store data), so any front end can show it.

- A specialist that needs approval is asked about before it answers; denied, it is not asked, and the
  answer says so.
- A tool that needs approval is asked about inside the specialist's tool loop, before the call runs.
  LangGraph resumes an interrupted step by running it again from its start, so the specialist's model
  calls before the tool call are made again (a deterministic model reaches the same call); the decision
  then answers the same interrupt. Denied, the model is told so in the tool's result, and the answer's
  provenance lists the denial.

Python callers get :class:`ApprovalRequired` from :meth:`synthswarm.swarm.app.runtime.Swarm.ask` and answer it
with :meth:`~synthswarm.swarm.app.runtime.Swarm.resume`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from langgraph.types import Command, Interrupt

from synthswarm.swarm.errors import SwarmError

__all__ = [
    "INTERRUPTS",
    "KIND_SPECIALIST",
    "KIND_TOOL",
    "ApprovalRequest",
    "ApprovalRequired",
    "Approver",
    "Decision",
    "PendingApproval",
    "pending_of",
    "resume_command",
]

KIND_SPECIALIST: Final = "specialist"
"""A specialist that needs approval before it is asked."""
KIND_TOOL: Final = "tool"
"""A tool call that needs approval before it runs."""
INTERRUPTS = "__interrupt__"
"""Where LangGraph puts a stopped run's pending interrupts in the output of ``invoke``/``ainvoke``."""
ApprovalKind = Literal["specialist", "tool"]


@dataclass(frozen=True)
class ApprovalRequest:
    """What a person is asked to approve."""

    kind: ApprovalKind
    agent: str
    """The specialist asked, or whose model called the tool."""
    question: str
    """The question of the turn."""
    tool: str = ""
    """The tool to run (``kind == "tool"``)."""
    arguments: str = ""
    """The tool call's arguments as the model wrote them (JSON text)."""

    def as_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ApprovalRequest:
        return cls(
            kind=KIND_TOOL if data.get("kind") == KIND_TOOL else KIND_SPECIALIST,
            agent=str(data.get("agent", "")),
            question=str(data.get("question", "")),
            tool=str(data.get("tool", "")),
            arguments=str(data.get("arguments", "")),
        )

    def describe(self) -> str:
        if self.kind == KIND_TOOL:
            return f"{self.agent} wants to run {self.tool}({self.arguments})"
        return f"ask {self.agent}"


@dataclass(frozen=True)
class Decision:
    """A person's answer to an :class:`ApprovalRequest`."""

    approved: bool
    reason: str = ""
    """Why, shown with a denial in the answer."""

    def as_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, value: object) -> Decision:
        """A decision from what a resume carried: a Decision, a bool, or ``{"approved", "reason"}``."""
        if isinstance(value, Decision):
            return value
        if isinstance(value, bool):
            return cls(value)
        if isinstance(value, Mapping):
            return cls(value.get("approved") is True, str(value.get("reason", "")))
        return cls(False, f"not a decision: {value!r}")


@dataclass(frozen=True)
class PendingApproval:
    """An interrupt a thread waits on: its id (to answer one of several) and what it asks."""

    id: str
    request: ApprovalRequest

    def as_data(self) -> dict[str, Any]:
        return {"id": self.id, **self.request.as_data()}


#: Asks a person about a request; the specialist awaits it before a tool that needs approval runs.
Approver = Callable[[ApprovalRequest], Awaitable[Decision]]


class ApprovalRequired(SwarmError):
    """A turn stopped for approval: answer it with ``Swarm.resume(thread_id, decision)``."""

    def __init__(self, thread_id: str, pending: Sequence[PendingApproval]) -> None:
        asks = "; ".join(p.request.describe() for p in pending)
        super().__init__(f"thread {thread_id!r} waits for approval: {asks}")
        self.thread_id = thread_id
        self.pending = tuple(pending)


def pending_of(interrupts: Sequence[Interrupt]) -> list[PendingApproval]:
    """The approvals among a graph's pending interrupts."""
    return [
        PendingApproval(i.id, ApprovalRequest.of(i.value))
        for i in interrupts
        if isinstance(i.value, Mapping) and i.value.get("kind") in (KIND_SPECIALIST, KIND_TOOL)
    ]


def resume_command(
    pending: Sequence[PendingApproval], decision: Decision | bool | Mapping[str, Decision | bool]
) -> Command[Any]:
    """The command that answers ``pending``: one decision for all, or decisions by interrupt id (an
    approval left out stays pending: LangGraph stops the turn on it again)."""
    if isinstance(decision, Mapping):
        unknown = set(decision) - {p.id for p in pending}
        if unknown:
            raise SwarmError(f"no pending approval has id {sorted(unknown)[0]!r}")
        chosen = {i: Decision.of(d) for i, d in decision.items()}
    else:
        chosen = {p.id: Decision.of(decision) for p in pending}
    if not chosen:
        raise SwarmError("nothing waits for approval on this thread")
    return Command(resume={i: d.as_data() for i, d in chosen.items()})
