"""What flows through the dispatcher graph: its state, the task each fan-out branch gets, the node
names, and each specialist's answer as plain data (checkpointers store state as data)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, NotRequired, Protocol, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from synthswarm.agents.specialist import Answer

__all__ = [
    "NODE_CONSULT",
    "NODE_RESPOND",
    "NODE_ROUTE",
    "NODE_SYNTHESIZE",
    "TRACE_KEY",
    "ConsultTask",
    "DispatcherState",
    "answer_record",
    "evidence_record",
    "unanswered",
]

NODE_ROUTE, NODE_CONSULT, NODE_SYNTHESIZE, NODE_RESPOND = "route", "consult", "synthesize", "respond"
TRACE_KEY = "trace"


class DispatcherState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    history: list[list[str]]
    """The thread's earlier turns as ``[question, answer]``, for a follow-up question (see
    :func:`~synthswarm.agents.specialist.follow_up_query`); plain data, as checkpointers store state."""
    chosen: list[dict[str, Any]]
    """The specialists asked this turn: ``{"name", "score"}``, and for one living elsewhere (not a
    specialist of the team) ``agent_id`` (hex) and ``holder`` (its node, as a reply ref)."""
    answers: Annotated[list[dict[str, Any]], lambda a, b: a + b]
    """Each consulted specialist's answer this turn (see :func:`answer_record`); one that failed or
    was denied has no text and says why (``failed``, ``denied``)."""
    answer: str
    provenance: dict[str, Any]
    dispatcher_llm_calls: int
    """Model calls the dispatcher itself made this turn (re-rank, composition)."""
    route_messages: int
    """Requests the entry step sent this turn and replies it got (routing the question)."""
    trace: str
    """The W3C ``traceparent`` of this turn's route step ("" untraced): the parent of its other steps."""


class ConsultTask(TypedDict):
    """What one fan-out branch is sent: the question, whom to ask, the thread so far, the trace."""

    question: str
    specialist: str
    history: list[list[str]]
    trace: str
    agent_id: NotRequired[str]
    """For a specialist living elsewhere: its agent id (hex), to hand the question to."""
    holder: NotRequired[str]
    """For a specialist living elsewhere: its node, as a reply ref."""


class EvidenceLike(Protocol):
    """What a record reads of an answer's evidence: an :class:`~synthswarm.agents.specialist.Evidence`
    here, or a handed one from another host."""

    @property
    def text(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def packet_id(self) -> bytes | None: ...
    @property
    def origin(self) -> bytes | None: ...


def evidence_record(evidence: Iterable[EvidenceLike], names: dict[bytes, str]) -> dict[str, list[Any]]:
    """An answer's evidence as plain data: what came from other agents (packets it received, passages
    they offered and it fetched), and its own sources."""
    items = list(evidence)
    return {
        "packets": [
            {
                "id": e.packet_id.hex() if e.packet_id is not None else f"passage:{e.source}",
                "from": names.get(e.origin, e.origin.hex()[:12]),
                "finding": e.text,
            }
            for e in items
            if e.origin is not None
        ],
        "sources": [e.source for e in items if e.origin is None],
    }


def answer_record(answer: Answer, names: dict[bytes, str]) -> dict[str, Any]:
    """An :class:`~synthswarm.agents.specialist.Answer` as plain data."""
    return {
        "agent": answer.agent,
        "text": answer.text,
        **evidence_record(answer.evidence, names),
        "cited": list(answer.cited),
        "llm_calls": answer.llm_calls,
        "tokens": answer.tokens,
        "messages": answer.messages,
    }


def unanswered(name: str, **why: Any) -> dict[str, Any]:
    """The record of a specialist that gave no answer (it failed, or a person denied it)."""
    record = {"agent": name, "text": "", "packets": [], "sources": [], "cited": [], "llm_calls": 0}
    return {**record, "tokens": 0, "messages": 0, **why}
